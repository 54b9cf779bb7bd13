"""Decisions of the S&OP cycle: raise (pending), decide later, and the decision register."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from kpis import safety
from kpis.access import rules
from kpis.access.users import User, require
from kpis.config import AppConfig
from kpis.store import audit, versions
from kpis.store.engine import session_factory
from kpis.store.models import Decision, Meeting, utcnow
from kpis.store.retry import retrying

MAX_TEXT = 2000


class DecisionError(ValueError):
    """A decision that cannot be stored as given; `problems` names each field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class DecisionInput:
    """A decision as typed or imported (decided_on None = pending)."""

    text: str
    raised_on: dt.date
    owner: str
    decided_on: dt.date | None = None
    kpi_id: str | None = None
    meeting_id: int | None = None
    ref: str | None = None


def check(d: DecisionInput, config: AppConfig) -> list[str]:
    """Problems of a decision, each naming its field ('' list = fine)."""
    out = [
        f"{n}: {safety.NUL_MESSAGE}"
        for n in safety.nul_fields({"text": d.text, "owner": d.owner, "kpi": d.kpi_id, "ref": d.ref})
    ]
    if not d.text.strip():
        out.append("text: is empty; say what was (or is to be) decided")
    elif len(d.text) > MAX_TEXT:
        out.append(f"text: longer than {MAX_TEXT} characters")
    if not d.owner.strip():
        out.append("owner: is empty; every decision needs an owner")
    elif len(d.owner) > 120:
        out.append("owner: longer than 120 characters")
    if d.decided_on is not None and d.decided_on < d.raised_on:
        out.append(f"decided_on: {d.decided_on} is before raised_on {d.raised_on}")
    if d.kpi_id and d.kpi_id not in config.kpi_by_id:
        out.append(f"kpi: unknown KPI '{d.kpi_id}'")
    if d.ref is not None and len(d.ref) > 64:
        out.append("ref: longer than 64 characters")
    return out


def add(session: Session, *, decision: DecisionInput, user: User) -> Decision:
    """Add one checked decision in the caller's transaction, audited."""
    row = Decision(
        text=decision.text.strip(),
        raised_on=decision.raised_on,
        decided_on=decision.decided_on,
        owner=decision.owner.strip(),
        meeting_id=decision.meeting_id,
        kpi_id=decision.kpi_id or None,
        ref=decision.ref or None,
        created_at=utcnow(),
        created_by=user.name,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        user=user,
        action="create",
        entity="decision",
        entity_id=row.id,
        details={"owner": row.owner, "raised_on": str(row.raised_on), "pending": row.decided_on is None},
    )
    return row


def raise_decision(engine: Engine, *, decision: DecisionInput, config: AppConfig, user: User) -> int:
    """Store a decision (pending when decided_on is empty); returns its id."""
    require(user, "submit", engine=engine, what="raise decision")
    problems = check(decision, config)
    if problems:
        raise DecisionError(problems)

    def write() -> int:
        with session_factory(engine).begin() as s:
            return add(s, decision=decision, user=user).id

    return retrying(write)


def decide(engine: Engine, *, decision_id: int, decided_on: dt.date, user: User, only_if_pending: bool = False) -> None:
    """Mark a pending decision as decided on a date (not before it was raised).

    `only_if_pending` (the page's "Act on a pending decision"): when someone marked it decided since the list was
    shown, EditConflict names who and when instead of overwriting their date (checked in the UPDATE itself)."""
    require(user, "submit", engine=engine, what="decide")
    with session_factory(engine)() as s:
        owner = s.scalar(select(Decision.owner).where(Decision.id == decision_id))
    rules.require(user, "decide", own=user.is_self(owner), engine=engine, what=f"decide decision #{decision_id}")

    def write() -> None:
        with session_factory(engine).begin() as s:
            row = s.get(Decision, decision_id)
            if row is None:
                raise DecisionError([f"decision #{decision_id}: not found"])
            if decided_on < row.raised_on:
                raise DecisionError([f"decided_on: {decided_on} is before raised_on {row.raised_on}"])
            old, now = row.decided_on, utcnow()
            stmt = update(Decision).where(Decision.id == decision_id)
            if only_if_pending:
                stmt = stmt.where(Decision.decided_on.is_(None))
            done = s.execute(
                stmt.values(decided_on=decided_on, updated_at=now, updated_by=user.name),
                execution_options={"synchronize_session": False},
            )
            if done.rowcount == 0:
                s.expire(row)
                raise versions.EditConflict(
                    entity="decision",
                    entity_id=decision_id,
                    by=row.updated_by or row.created_by,
                    at=row.updated_at or row.created_at,
                )
            audit.record(
                s,
                user=user,
                action="update",
                entity="decision",
                entity_id=decision_id,
                details={"decided_on": {"old": str(old) if old else None, "new": str(decided_on)}},
            )

    retrying(write)


REGISTER_COLUMNS = [
    "id",
    "ref",
    "status",
    "age_days",
    "text",
    "owner",
    "raised_on",
    "decided_on",
    "meeting",
    "kpi_id",
    "action_id",
]


def register(engine: Engine, *, today: dt.date, owner: str | None = None, kpi_id: str | None = None) -> pd.DataFrame:
    """Every decision, pending first (oldest first) then decided (newest first); age_days = days pending, or
    days it took to decide."""
    q = select(
        Decision.id,
        Decision.ref,
        Decision.text,
        Decision.owner,
        Decision.raised_on,
        Decision.decided_on,
        Meeting.type,
        Meeting.date,
        Decision.kpi_id,
        Decision.action_id,
    ).join(Meeting, Meeting.id == Decision.meeting_id, isouter=True)
    if owner:
        q = q.where(Decision.owner == owner)
    if kpi_id:
        q = q.where(Decision.kpi_id == kpi_id)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    df = pd.DataFrame(
        rows,
        columns=["id", "ref", "text", "owner", "raised_on", "decided_on", "m_type", "m_date", "kpi_id", "action_id"],
    )
    if df.empty:
        return pd.DataFrame(columns=REGISTER_COLUMNS)
    pending = df["decided_on"].isna()
    df["status"] = pending.map({True: "pending", False: "decided"})
    end = df["decided_on"].where(~pending, today)
    df["age_days"] = [(e - r).days for e, r in zip(end, df["raised_on"])]
    df["meeting"] = [f"{t} {d}" if t else "" for t, d in zip(df["m_type"], df["m_date"])]
    df = pd.concat(
        [df[pending].sort_values(["raised_on", "id"]), df[~pending].sort_values(["decided_on", "id"], ascending=False)]
    )
    return df[REGISTER_COLUMNS].reset_index(drop=True)


def meeting_decisions(engine: Engine, meeting_id: int) -> pd.DataFrame:
    """The decisions raised in one meeting (id, text, owner, raised_on, decided_on)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Decision.id, Decision.text, Decision.owner, Decision.raised_on, Decision.decided_on)
            .where(Decision.meeting_id == meeting_id)
            .order_by(Decision.id)
        ).all()
    return pd.DataFrame(rows, columns=["id", "text", "owner", "raised_on", "decided_on"])
