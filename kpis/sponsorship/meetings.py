"""Meetings of the monthly S&OP cycle: log or update one (invited and attended people, notes,
decisions), list them, and cycle adherence (which steps were held each month).

Writes run through kpis.store.retry; a correction that names `expected_version` (the version its form was
opened at) is refused with kpis.store.versions.EditConflict when someone else changed the meeting since."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Engine, Integer, cast, delete, func, insert, select
from sqlalchemy.orm import Session

from kpis import safety
from kpis.access import rules
from kpis.access.users import User, require
from kpis.config import AppConfig
from kpis.sponsorship import cycle
from kpis.sponsorship import decisions as dec
from kpis.store import audit, versions
from kpis.store.engine import session_factory
from kpis.store.models import Decision, Meeting, MeetingAttendee, utcnow
from kpis.store.retry import retrying

STEPS: tuple[str, ...] = cycle.STEPS  # the cycle's steps, in order
MAX_NOTES = 10_000


class MeetingError(ValueError):
    """A meeting that cannot be stored as given; `problems` names each field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class MeetingInput:
    """A meeting as typed or imported. People in `attended` but not `invited` are guests or delegates."""

    type: str
    date: dt.date
    chair: str
    invited: tuple[str, ...] = ()
    attended: tuple[str, ...] = ()
    notes: str | None = None
    ref: str | None = None
    decisions: tuple[dec.DecisionInput, ...] = field(default=())


def check(m: MeetingInput, config: AppConfig) -> list[str]:
    """Problems of a meeting and its decisions, each naming its field."""
    out = [
        f"{n}: {safety.NUL_MESSAGE}"
        for n in safety.nul_fields(
            {"type": m.type, "chair": m.chair, "people": [*m.invited, *m.attended], "notes": m.notes, "ref": m.ref}
        )
    ]
    if m.type not in STEPS:
        out.append(f"type: '{m.type}' is not a step of the cycle ({', '.join(STEPS)})")
    if not m.chair.strip():
        out.append("chair: is empty")
    elif len(m.chair) > 120:
        out.append("chair: longer than 120 characters")
    people = [*m.invited, *m.attended]
    if any(not p.strip() or len(p) > 120 for p in people):
        out.append("people: a name is empty or longer than 120 characters")
    if m.notes and len(m.notes) > MAX_NOTES:
        out.append(f"notes: longer than {MAX_NOTES} characters")
    if m.ref is not None and len(m.ref) > 64:
        out.append("ref: longer than 64 characters")
    for i, d in enumerate(m.decisions, 1):
        out += [f"decision {i} {p}" for p in dec.check(d, config)]
    return out


def attendee_rows(m: MeetingInput) -> list[dict]:
    """(person, invited, attended) rows of a meeting, one per person."""
    people = list(dict.fromkeys([p.strip() for p in [*m.invited, *m.attended]]))
    invited = {p.strip() for p in m.invited}
    attended = {p.strip() for p in m.attended}
    return [{"person": p, "invited": p in invited, "attended": p in attended} for p in people]


def _write(s: Session, row: Meeting, m: MeetingInput) -> None:
    s.execute(delete(MeetingAttendee).where(MeetingAttendee.meeting_id == row.id))
    rows = attendee_rows(m)
    if rows:
        s.execute(insert(MeetingAttendee), [{"meeting_id": row.id, **r} for r in rows])


def log_meeting(engine: Engine, *, meeting: MeetingInput, config: AppConfig, user: User) -> int:
    """Store a meeting with its people and decisions in one transaction; returns its id."""
    require(user, "submit", engine=engine, what="log meeting")
    problems = check(meeting, config)
    if problems:
        raise MeetingError(problems)

    def write() -> int:
        with session_factory(engine).begin() as s:
            row = Meeting(
                type=meeting.type,
                date=meeting.date,
                chair=meeting.chair.strip(),
                notes=meeting.notes or None,
                ref=meeting.ref or None,
                created_at=utcnow(),
                created_by=user.name,
            )
            s.add(row)
            s.flush()
            _write(s, row, meeting)
            for d in meeting.decisions:
                dec.add(s, decision=dec.DecisionInput(**{**d.__dict__, "meeting_id": row.id}), user=user)
            audit.record(
                s,
                user=user,
                action="create",
                entity="meeting",
                entity_id=row.id,
                details={
                    "type": row.type,
                    "date": str(row.date),
                    "people": len(attendee_rows(meeting)),
                    "decisions": len(meeting.decisions),
                },
            )
            return row.id

    return retrying(write)


def update_meeting(
    engine: Engine,
    *,
    meeting_id: int,
    meeting: MeetingInput,
    config: AppConfig,
    user: User,
    expected_version: int | None = None,
) -> None:
    """Replace a meeting's type, date, chair, notes and people; new decisions in `meeting.decisions` are added.

    `expected_version` is the version the form was opened at: when the meeting changed since, EditConflict."""
    require(user, "submit", engine=engine, what="update meeting")
    with session_factory(engine)() as s:
        chair = s.scalar(select(Meeting.chair).where(Meeting.id == meeting_id))
    rules.require(user, "edit meeting", own=user.is_self(chair), engine=engine, what=f"update meeting #{meeting_id}")
    problems = check(meeting, config)
    if problems:
        raise MeetingError(problems)

    def write() -> None:
        with session_factory(engine).begin() as s:
            row = s.get(Meeting, meeting_id)
            if row is None:
                raise MeetingError([f"meeting #{meeting_id}: not found"])
            versions.check(row, expected_version, entity="meeting")
            before = {"type": row.type, "date": str(row.date), "chair": row.chair}
            row.type, row.date, row.chair = meeting.type, meeting.date, meeting.chair.strip()
            row.notes = meeting.notes or None
            row.updated_at, row.updated_by = utcnow(), user.name  # the version goes up in the checked UPDATE
            s.flush()
            _write(s, row, meeting)
            for d in meeting.decisions:
                dec.add(s, decision=dec.DecisionInput(**{**d.__dict__, "meeting_id": row.id}), user=user)
            audit.record(
                s,
                user=user,
                action="update",
                entity="meeting",
                entity_id=meeting_id,
                details={"before": before, "after": {"type": row.type, "date": str(row.date), "chair": row.chair}},
            )

    retrying(write)


def list_meetings(engine: Engine) -> pd.DataFrame:
    """Every meeting, newest first: id, ref, type, date, chair, invited, attended, decisions, notes, version."""
    inv = (
        select(
            MeetingAttendee.meeting_id,
            func.sum(cast(MeetingAttendee.invited, Integer)).label("invited"),
            func.sum(cast(MeetingAttendee.attended, Integer)).label("attended"),
        )
        .group_by(MeetingAttendee.meeting_id)
        .subquery()
    )
    nd = select(Decision.meeting_id, func.count().label("n")).group_by(Decision.meeting_id).subquery()
    q = (
        select(
            Meeting.id,
            Meeting.ref,
            Meeting.type,
            Meeting.date,
            Meeting.chair,
            inv.c.invited,
            inv.c.attended,
            nd.c.n,
            Meeting.notes,
            Meeting.version,
        )
        .join(inv, inv.c.meeting_id == Meeting.id, isouter=True)
        .join(nd, nd.c.meeting_id == Meeting.id, isouter=True)
        .order_by(Meeting.date.desc(), Meeting.id.desc())
    )
    with engine.connect() as conn:
        df = pd.DataFrame(
            conn.execute(q).all(),
            columns=["id", "ref", "type", "date", "chair", "invited", "attended", "decisions", "notes", "version"],
        )
    for c in ("invited", "attended", "decisions"):
        df[c] = df[c].fillna(0).astype(int)
    return df


def notes_text(notes: object) -> str:
    """A meeting's notes as text to edit: "" when it has none. A row of list_meetings holds missing notes as
    None or, once pandas has made the column's missing values NaN, as NaN (and `NaN or ""` is NaN)."""
    if notes is None or (isinstance(notes, float) and pd.isna(notes)):
        return ""
    return str(notes)


def people(engine: Engine, meeting_id: int) -> pd.DataFrame:
    """Who was invited to a meeting and who attended (person, invited, attended)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(MeetingAttendee.person, MeetingAttendee.invited, MeetingAttendee.attended)
            .where(MeetingAttendee.meeting_id == meeting_id)
            .order_by(MeetingAttendee.person)
        ).all()
    return pd.DataFrame(rows, columns=["person", "invited", "attended"])


def known_people(engine: Engine, config: AppConfig) -> list[str]:
    """Names to offer in forms: executives, KPI owners and everyone seen in meetings, sorted."""
    with engine.connect() as conn:
        seen = conn.execute(select(MeetingAttendee.person).distinct()).scalars().all()
    return sorted({*(e.name for e in config.executives), *(k.owner for k in config.kpis), *seen})


# ---------------------------------------------------------------- cycle adherence


def cycle_grid(meetings: pd.DataFrame) -> pd.DataFrame:
    """Month × step grid from meetings (type, date): how many meetings of each step were held in each month,
    every month from the first to the last with a meeting (months without any meeting show zeros)."""
    if meetings.empty:
        return pd.DataFrame(columns=list(STEPS), dtype=int)
    month = pd.to_datetime(meetings["date"]).dt.to_period("M")
    counts = pd.crosstab(month, meetings["type"]).reindex(columns=list(STEPS), fill_value=0)
    full = pd.period_range(month.min(), month.max(), freq="M")
    counts = counts.reindex(full, fill_value=0)
    counts.index = counts.index.strftime("%Y-%m")
    counts.index.name = "month"
    counts.columns.name = None
    return counts.astype(int)


def cycle_share(grid: pd.DataFrame) -> pd.DataFrame:
    """Per quarter: months, complete cycles (kpis.sponsorship.cycle.complete) and their share."""
    if grid.empty:
        return pd.DataFrame(columns=["quarter", "months", "complete", "share"])
    complete = cycle.complete(grid)
    quarter = pd.PeriodIndex(grid.index, freq="M").asfreq("Q").strftime("%Y-Q%q")
    g = pd.DataFrame({"quarter": quarter, "complete": complete.to_numpy()}).groupby("quarter", sort=True)["complete"]
    out = pd.DataFrame({"months": g.size(), "complete": g.sum().astype(int)}).reset_index()
    out["share"] = out["complete"] / out["months"]
    return out


def meeting_dates(engine: Engine) -> pd.DataFrame:
    """Type and date of every meeting (for the cycle grid)."""
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(select(Meeting.type, Meeting.date)).all(), columns=["type", "date"])
