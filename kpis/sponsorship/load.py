"""Importing meetings (one row per meeting and person) and decisions from CSV/Excel.

Every problem names file, row and column; a file with any problem writes nothing; a meeting id
or decision ref already stored is updated, and re-importing the same file changes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from kpis import limits as file_limits
from kpis.access.users import User, require
from kpis.catalog.sync import sync_catalog
from kpis.config import AppConfig, LimitsSection
from kpis.imports.cells import text as cell_text
from kpis.imports.problems import Collector, ImportFailed, missing_columns, too_long
from kpis.imports.read import read_table
from kpis.imports.result import ImportResult
from kpis.imports.runner import Context, Kind, Writing, run_import
from kpis.imports.source import Source
from kpis.store.models import MEETING_TYPES, Decision, Meeting, MeetingAttendee

MEETING_COLUMNS = ("meeting", "type", "date", "chair", "person", "invited", "attended")
DECISION_COLUMNS = ("ref", "text", "raised_on", "decided_on", "owner", "meeting", "kpi")
TRUE = {"yes", "y", "true", "1", "1.0"}
FALSE = {"no", "n", "false", "0", "0.0"}


def _columns(df: pd.DataFrame, name: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, str]:
    """Map lower-case column names to the file's; missing required ones fail the import."""
    cols = {str(c).strip().lower(): c for c in df.columns if c != "_row"}
    missing = [c for c in required if c not in cols]
    if missing:
        raise ImportFailed([missing_columns(name, missing, ",".join((*required, *optional)))])
    return cols


def _dates(raw: pd.Series) -> pd.Series:
    """ISO dates (or Excel dates) as datetime.date; None where empty or not a date."""

    def one(v):
        if isinstance(v, (dt.datetime, pd.Timestamp)):
            return pd.Timestamp(v).date()
        if isinstance(v, dt.date):
            return v
        text = "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).strip()
        if text.endswith(" 00:00:00"):
            text = text[:10]
        try:
            return dt.date.fromisoformat(text) if len(text) == 10 else None
        except ValueError:
            return None

    return raw.map(one)


def _date_problems(
    bag: Collector, df: pd.DataFrame, col: str, label: str, required: bool, limits: LimitsSection | None = None
) -> pd.Series:
    """Dates of a column, each problem (empty when required, not a date, outside config [limits] min_date ..
    max_date) added to `bag` with its row."""
    raw = cell_text(df[col])
    out = _dates(df[col])
    limits = limits or LimitsSection()
    for i in df.index[out.notna()]:
        if far := file_limits.date_problem(out[i], limits, label.replace("_", " ")):
            bag.add(int(df.at[i, "_row"]), label, far)
    for i in df.index[out.isna()]:
        if raw[i] == "":
            if required:
                bag.add(int(df.at[i, "_row"]), label, "is empty; expected a date (YYYY-MM-DD)")
        else:
            bag.add(int(df.at[i, "_row"]), label, f"'{raw[i]}' is not a date; expected YYYY-MM-DD, e.g. 2026-03-20")
    return out


def _flags(bag: Collector, df: pd.DataFrame, col: str, label: str) -> pd.Series:
    raw = cell_text(df[col]).str.lower()
    out = pd.Series([True if v in TRUE else False if v in FALSE else None for v in raw], index=df.index, dtype=object)
    for i in df.index[out.isna()]:
        shown = cell_text(df[col])[i]
        bag.add(
            int(df.at[i, "_row"]),
            label,
            f"'{shown}' is not yes/no; expected yes/no, true/false or 1/0"
            if shown
            else "is empty; expected yes/no, true/false or 1/0",
        )
    return out


def _required_text(bag: Collector, df: pd.DataFrame, col: str, label: str, limit: int, what: str) -> pd.Series:
    txt = cell_text(df[col])
    for i in df.index[txt == ""]:
        bag.add(int(df.at[i, "_row"]), label, f"is empty; {what}")
    for i in df.index[txt.str.len() > limit]:
        bag.add(int(df.at[i, "_row"]), label, too_long("the text", len(txt[i]), limit))
    return txt


# ---------------------------------------------------------------- meetings


def parse_meetings(data: bytes, filename: str, config: AppConfig) -> dict[str, dict]:
    """Checked meetings of a file by their id (check_meetings)."""
    df = read_table(
        data, filename, max_mb=config.app.max_upload_mb, cap=config.app.max_import_errors, limits=config.limits
    )
    return check_meetings(df, Context(Path(filename).name, config, None, None, None))


def check_meetings(df: pd.DataFrame, ctx: Context) -> dict[str, dict]:
    """Checked meetings by their id: type, date, chair, notes and people [(person, invited, attended)]."""
    name, config = ctx.file, ctx.config
    cols = _columns(df, name, MEETING_COLUMNS, ("notes",))
    bag = Collector(name, config.app.max_import_errors)
    ref = _required_text(bag, df, cols["meeting"], "meeting", 64, "expected the meeting's own id")
    chair = _required_text(bag, df, cols["chair"], "chair", 120, "expected who chaired the meeting")
    person = _required_text(bag, df, cols["person"], "person", 120, "expected a person's name")
    types = {t.lower(): t for t in MEETING_TYPES}
    raw_type = cell_text(df[cols["type"]])
    mtype = raw_type.str.lower().map(types)
    for i in df.index[mtype.isna()]:
        bag.add(
            int(df.at[i, "_row"]),
            "type",
            f"unknown meeting type '{raw_type[i]}'; expected one of {', '.join(MEETING_TYPES)}"
            if raw_type[i]
            else "is empty",
        )
    date = _date_problems(bag, df, cols["date"], "date", required=True, limits=config.limits)
    invited = _flags(bag, df, cols["invited"], "invited")
    attended = _flags(bag, df, cols["attended"], "attended")
    notes = cell_text(df[cols["notes"]]) if "notes" in cols else pd.Series("", index=df.index)
    meetings: dict[str, dict] = {}
    first_row: dict[tuple[str, str], int] = {}
    for i in df.index:
        r, key = int(df.at[i, "_row"]), ref[i]
        if not key:
            continue
        m = meetings.setdefault(
            key,
            {"type": mtype[i], "date": date[i], "chair": chair[i], "notes": notes[i] or None, "people": [], "row": r},
        )
        for field, val in (("type", mtype[i]), ("date", date[i]), ("chair", chair[i])):
            if m[field] is not None and val is not None and val != m[field]:
                bag.add(
                    r,
                    field,
                    f"meeting '{key}' has {field} '{m[field]}' on row {m['row']}; every row of a meeting must agree",
                )
        if notes[i] and not m["notes"]:
            m["notes"] = notes[i]
        if person[i]:
            if (key, person[i]) in first_row:
                bag.add(
                    r,
                    "person",
                    f"'{person[i]}' is listed twice for meeting '{key}' (also row {first_row[(key, person[i])]})",
                )
                continue
            first_row[(key, person[i])] = r
            m["people"].append((person[i], invited[i], attended[i]))
    bag.raise_if_any()
    return meetings


def import_meetings(engine: Engine, data: bytes, filename: str, *, config: AppConfig, user: User) -> ImportResult:
    """Validate and store meetings and their attendance in one transaction; a stored meeting id is updated."""
    require(user, "import", engine=engine, what="import meetings")
    df = read_table(
        data, filename, max_mb=config.app.max_upload_mb, cap=config.app.max_import_errors, limits=config.limits
    )
    return run_import(engine, MEETINGS, df, Source.of_bytes(data, filename), config=config, user=user)


def store_meetings(meetings: dict[str, dict], w: Writing) -> None:
    """Add new meetings, update changed ones (their attendance replaced) in the import's transaction."""
    s, result, now, user = w.handle, w.result, w.now, w.user
    existing = {m.ref: m for m in s.execute(select(Meeting).where(Meeting.ref.in_(list(meetings)))).scalars()}
    stored_people: dict[int, set] = {}
    if existing:
        ids = [m.id for m in existing.values()]
        for mid, p, inv, att in s.execute(
            select(
                MeetingAttendee.meeting_id,
                MeetingAttendee.person,
                MeetingAttendee.invited,
                MeetingAttendee.attended,
            ).where(MeetingAttendee.meeting_id.in_(ids))
        ):
            stored_people.setdefault(mid, set()).add((p, bool(inv), bool(att)))
    todo: list[tuple[str, dict, Meeting | None]] = []
    for ref, m in meetings.items():
        row = existing.get(ref)
        if row is None:
            result.inserted += 1
        elif (row.type, row.date, row.chair, row.notes) != (
            m["type"],
            m["date"],
            m["chair"],
            m["notes"],
        ) or stored_people.get(row.id, set()) != set(m["people"]):
            result.updated += 1
        else:
            result.unchanged += 1
            continue
        todo.append((ref, m, row))
    if not result.changed:
        return
    w.batch_id  # noqa: B018 -- the import batch comes first, as in every kind
    for ref, m, row in todo:
        if row is None:
            row = Meeting(
                ref=ref,
                type=m["type"],
                date=m["date"],
                chair=m["chair"],
                notes=m["notes"],
                created_at=now,
                created_by=user.name,
            )
            s.add(row)
            s.flush()
        else:
            row.type, row.date, row.chair, row.notes = m["type"], m["date"], m["chair"], m["notes"]
            row.updated_at, row.updated_by = now, user.name
            s.execute(delete(MeetingAttendee).where(MeetingAttendee.meeting_id == row.id))
        if m["people"]:
            s.execute(
                insert(MeetingAttendee),
                [{"meeting_id": row.id, "person": p, "invited": inv, "attended": att} for p, inv, att in m["people"]],
            )


MEETINGS = Kind(
    name="meetings",
    columns=",".join((*MEETING_COLUMNS, "notes")),
    parse=check_meetings,
    write=store_meetings,
    what="import meetings",
    unit="meetings",
    noun="meetings",
)


# ---------------------------------------------------------------- decisions


def parse_decisions(engine: Engine, data: bytes, filename: str, config: AppConfig) -> dict[str, dict]:
    """Checked decisions of a file by ref (check_decisions)."""
    df = read_table(
        data, filename, max_mb=config.app.max_upload_mb, cap=config.app.max_import_errors, limits=config.limits
    )
    return check_decisions(df, Context(Path(filename).name, config, engine, None, None))


def check_decisions(df: pd.DataFrame, ctx: Context) -> dict[str, dict]:
    """Checked decisions by ref: text, raised_on, decided_on, owner, meeting_id, kpi_id."""
    name, config, engine = ctx.file, ctx.config, ctx.engine
    cols = _columns(df, name, ("ref", "text", "raised_on", "owner"), ("decided_on", "meeting", "kpi"))
    bag = Collector(name, config.app.max_import_errors)
    ref = _required_text(bag, df, cols["ref"], "ref", 64, "expected the decision's own id")
    text = _required_text(bag, df, cols["text"], "text", 2000, "say what was (or is to be) decided")
    owner = _required_text(bag, df, cols["owner"], "owner", 120, "every decision needs an owner")
    raised = _date_problems(bag, df, cols["raised_on"], "raised_on", required=True, limits=config.limits)
    decided = (
        _date_problems(bag, df, cols["decided_on"], "decided_on", required=False, limits=config.limits)
        if "decided_on" in cols
        else pd.Series([None] * len(df), index=df.index, dtype=object)
    )  # no column: all pending
    meeting = cell_text(df[cols["meeting"]]) if "meeting" in cols else pd.Series("", index=df.index)
    kpi = cell_text(df[cols["kpi"]]) if "kpi" in cols else pd.Series("", index=df.index)
    wanted = sorted(set(meeting) - {""})
    with engine.connect() as conn:
        meeting_ids = (
            dict(conn.execute(select(Meeting.ref, Meeting.id).where(Meeting.ref.in_(wanted))).all()) if wanted else {}
        )
    out: dict[str, dict] = {}
    for i in df.index:
        r = int(df.at[i, "_row"])
        if raised[i] is not None and decided[i] is not None and decided[i] < raised[i]:
            bag.add(
                r,
                "decided_on",
                f"{decided[i]} is before raised_on {raised[i]}; a decision cannot be decided before it was raised",
            )
        if meeting[i] and meeting[i] not in meeting_ids:
            bag.add(r, "meeting", f"unknown meeting '{meeting[i]}'; import the meetings file first (its 'meeting' ids)")
        if kpi[i] and kpi[i] not in config.kpi_by_id:
            bag.add(r, "kpi", f"unknown KPI '{kpi[i]}'; see the KPI catalog for valid ids")
        if not ref[i]:
            continue
        if ref[i] in out:
            bag.add(r, "ref", f"decision '{ref[i]}' is listed twice (also row {out[ref[i]]['row']})")
            continue
        out[ref[i]] = {
            "text": text[i],
            "raised_on": raised[i],
            "decided_on": decided[i],
            "owner": owner[i],
            "meeting_id": meeting_ids.get(meeting[i]),
            "kpi_id": kpi[i] or None,
            "row": r,
        }
    bag.raise_if_any()
    return out


FIELDS = ("text", "raised_on", "decided_on", "owner", "meeting_id", "kpi_id")


def import_decisions(engine: Engine, data: bytes, filename: str, *, config: AppConfig, user: User) -> ImportResult:
    """Validate and store decisions in one transaction; a stored ref is updated."""
    require(user, "import", engine=engine, what="import decisions")
    df = read_table(
        data, filename, max_mb=config.app.max_upload_mb, cap=config.app.max_import_errors, limits=config.limits
    )
    return run_import(engine, DECISIONS, df, Source.of_bytes(data, filename), config=config, user=user)


def _sync_if_kpis(engine: Engine, config: AppConfig, user: User, decisions: dict[str, dict]) -> None:
    if any(d["kpi_id"] for d in decisions.values()):
        sync_catalog(engine, config, user)  # the KPI rows the decisions point to


def store_decisions(decisions: dict[str, dict], w: Writing) -> None:
    """Add new decisions and update changed ones in the import's transaction."""
    s, result, now, user = w.handle, w.result, w.now, w.user
    existing = {d.ref: d for d in s.execute(select(Decision).where(Decision.ref.in_(list(decisions)))).scalars()}
    todo = []
    for ref, d in decisions.items():
        row = existing.get(ref)
        if row is None:
            result.inserted += 1
        elif tuple(getattr(row, f) for f in FIELDS) != tuple(d[f] for f in FIELDS):
            result.updated += 1
        else:
            result.unchanged += 1
            continue
        todo.append((ref, d, row))
    if not result.changed:
        return
    w.batch_id  # noqa: B018 -- the import batch comes first, as in every kind
    for ref, d, row in todo:
        values = {f: d[f] for f in FIELDS}
        if row is None:
            s.add(Decision(ref=ref, **values, created_at=now, created_by=user.name))
        else:
            for f, v in values.items():
                setattr(row, f, v)
            row.updated_at, row.updated_by = now, user.name


DECISIONS = Kind(
    name="decisions",
    columns="ref,text,raised_on,owner,decided_on,meeting,kpi",
    parse=check_decisions,
    write=store_decisions,
    what="import decisions",
    unit="decisions",
    noun="decisions",
    prepare=_sync_if_kpis,
)


def import_meetings_file(engine: Engine, path: Path, *, config: AppConfig, user: User) -> ImportResult:
    """import_meetings on a file named on the command line."""
    return import_meetings(engine, Path(path).read_bytes(), Path(path).name, config=config, user=user)


def import_decisions_file(engine: Engine, path: Path, *, config: AppConfig, user: User) -> ImportResult:
    """import_decisions on a file named on the command line."""
    return import_decisions(engine, Path(path).read_bytes(), Path(path).name, config=config, user=user)
