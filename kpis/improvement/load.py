"""Importing an action log (CSV/Excel): one row per action, keyed on the organisation's own number `ref`.

Every problem is reported with file, row and column; a file with any problem writes nothing;
re-importing the same content changes nothing. An import may set any status (it migrates an existing
log), but never changes the status, completion date, KPI, segment or direction of an action whose
verdict a manager froze in the app.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from kpis import limits
from kpis.access.users import User, require
from kpis.catalog.sync import sync_catalog
from kpis.config import PRACTICES, AppConfig
from kpis.imports.cells import text
from kpis.imports.problems import Collector, ImportFailed, Problem, missing_columns, too_long
from kpis.imports.read import read_table
from kpis.imports.result import ImportResult
from kpis.imports.runner import Context, Kind, Writing, run_import
from kpis.imports.source import Source
from kpis.improvement.actions import (
    COMPLETED_STATES,
    DIRECTIONS,
    LIMITS,
    PRIORITIES,
    STATUSES,
    TYPES,
)
from kpis.store import audit
from kpis.store.models import Action
from kpis.store.retry import retrying

REQUIRED = ("ref", "title", "owner", "practice", "due_date")
OPTIONAL = (
    "kpi",
    "segment",
    "expected_direction",
    "sponsor",
    "type",
    "priority",
    "status",
    "completed_on",
    "description",
)
# File column -> action field.
FIELD = {
    "ref": "ref",
    "title": "title",
    "kpi": "kpi_id",
    "segment": "segment",
    "expected_direction": "expected_direction",
    "owner": "owner",
    "sponsor": "sponsor",
    "practice": "practice",
    "type": "type",
    "priority": "priority",
    "due_date": "due_date",
    "status": "status",
    "completed_on": "completed_on",
    "description": "description",
}
FROZEN_FIELDS = ("status", "completed_on", "kpi_id", "segment", "expected_direction")


def _date(v: Any) -> tuple[dt.date | None, bool]:
    """(date, ok) from a cell: a date/datetime, or text YYYY-MM-DD; an empty cell is (None, True)."""
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NaT:
        return None, True
    if isinstance(v, dt.datetime):
        return v.date(), True
    if isinstance(v, dt.date):
        return v, True
    text = str(v).strip()
    if not text:
        return None, True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}( 00:00:00)?", text):
        return None, False
    try:
        return dt.date.fromisoformat(text[:10]), True
    except ValueError:
        return None, False


def check_rows(df: pd.DataFrame, filename: str, config: AppConfig) -> list[dict[str, Any]]:
    """Checked rows as action fields (plus `_row`); raise ImportFailed listing every problem."""
    name = Path(filename).name
    bag = Collector(name, config.app.max_import_errors)
    cols = {str(c).strip().lower(): c for c in df.columns if c != "_row"}
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise ImportFailed([missing_columns(name, missing, COLUMNS)])
    unknown = [c for c in cols if c not in FIELD]
    if unknown:
        raise ImportFailed(
            [Problem(name, 1, cols[c], "unknown column; expected one of " + ", ".join(FIELD)) for c in unknown]
        )
    raw = {c: (text(df[cols[c]]) if c in cols else pd.Series("", index=df.index)) for c in FIELD}
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for i in df.index:
        r = int(df.at[i, "_row"])
        cell = {c: raw[c][i] for c in FIELD}
        out: dict[str, Any] = {"_row": r}
        for c in ("ref", "title", "owner", "practice"):
            if not cell[c]:
                bag.add(r, cols[c], f"{c} is empty")
        if cell["ref"]:
            if cell["ref"] in seen:
                bag.add(r, cols["ref"], f"duplicate: row {seen[cell['ref']]} already has ref '{cell['ref']}'")
            seen.setdefault(cell["ref"], r)
        for c, limit in LIMITS.items():
            col = next((k for k, v in FIELD.items() if v == c), c)
            if len(cell.get(col, "")) > limit:
                bag.add(r, cols.get(col, col), too_long(col, len(cell.get(col, "")), limit))
        kpi = cell["kpi"]
        if kpi and kpi not in config.kpi_by_id:
            hint = difflib.get_close_matches(kpi, list(config.kpi_by_id), n=1)
            bag.add(
                r,
                cols["kpi"],
                f"unknown KPI '{kpi}'"
                + (f" (did you mean '{hint[0]}'?)" if hint else "; see the KPI catalog for valid ids"),
            )
        direction = cell["expected_direction"].lower()
        if kpi and not direction:
            bag.add(
                r,
                cols.get("expected_direction", "expected_direction"),
                "expected_direction is needed with a KPI: 'higher' or 'lower' (the way the action should move it)",
            )
        elif direction and direction not in DIRECTIONS:
            bag.add(
                r,
                cols["expected_direction"],
                f"expected_direction '{cell['expected_direction']}' is not 'higher' or 'lower'",
            )
        if cell["segment"] and not kpi:
            bag.add(r, cols["segment"], "a segment needs a KPI")
        checks = (
            ("practice", cell["practice"], tuple(PRACTICES), None),
            ("type", cell["type"].lower(), TYPES, "improvement"),
            ("priority", cell["priority"].lower(), PRIORITIES, "medium"),
            ("status", cell["status"].lower(), STATUSES, "open"),
        )
        for c, v, allowed, default in checks:
            if not v and default is not None:
                out[FIELD[c]] = default
            elif v and v not in allowed:
                bag.add(r, cols[c], f"unknown {c} '{v}'; expected one of {', '.join(allowed)}")
            else:
                out[FIELD[c]] = v
        bad_date = False
        for c in ("due_date", "completed_on"):
            d, ok = _date(df.at[i, cols[c]] if c in cols else None)
            if not ok:
                bad_date = True
                bag.add(r, cols[c], f"{c} '{cell[c]}' is not a date; expected YYYY-MM-DD")
            elif d is not None and (far := limits.date_problem(d, config.limits, c.replace("_", " "))):
                bad_date = True
                bag.add(r, cols[c], far)
                d = None
            out[c] = d
        if cell["due_date"] == "":
            bag.add(r, cols["due_date"], "due_date is empty")
        status = out.get("status")
        if status in COMPLETED_STATES and out["completed_on"] is None and not bad_date:
            bag.add(r, cols.get("completed_on", "completed_on"), f"status '{status}' needs completed_on (YYYY-MM-DD)")
        if status in ("open", "in progress", "cancelled") and out["completed_on"] is not None:
            bag.add(
                r,
                cols["completed_on"],
                f"completed_on is set but the status is '{status}'; leave it empty or "
                "use done, verified or not effective",
            )
        if out["completed_on"] is not None and out["completed_on"] > dt.date.today():
            bag.add(r, cols["completed_on"], f"completed_on {out['completed_on']} is in the future")
        out.update(
            {
                "ref": cell["ref"],
                "title": cell["title"],
                "owner": cell["owner"],
                "kpi_id": kpi or None,
                "segment": cell["segment"],
                "expected_direction": direction or None,
                "sponsor": cell["sponsor"] or None,
                "description": cell["description"],
            }
        )
        rows.append(out)
    bag.raise_if_any()
    return rows


def check_actions(table: pd.DataFrame, ctx: Context) -> list[dict[str, Any]]:
    return check_rows(table, ctx.file, ctx.config)


def _sync(engine: Engine, config: AppConfig, user: User, rows) -> None:
    retrying(lambda: sync_catalog(engine, config, user))


def import_actions(engine: Engine, data: bytes, filename: str, *, config: AppConfig, user: User) -> ImportResult:
    """Validate and store an action log in one transaction: new refs are added, changed ones updated, audited."""
    require(user, "import", engine=engine, what="import actions")
    require(user, "manage_actions", engine=engine, what="import actions")
    df = read_table(
        data, filename, max_mb=config.app.max_upload_mb, cap=config.app.max_import_errors, limits=config.limits
    )
    return run_import(engine, ACTIONS, df, Source.of_bytes(data, filename), config=config, user=user)


def store_actions(rows: list[dict[str, Any]], w: Writing) -> None:
    """Add new refs and update changed ones in the import's transaction; an action whose verdict a manager froze
    keeps its frozen fields (any attempt to change them is a problem and nothing is written)."""
    s, result, user, now, name = w.handle, w.result, w.user, w.now, w.source.name
    bag = Collector(name, w.cap)
    refs = [r["ref"] for r in rows]
    existing = {a.ref: a for a in s.execute(select(Action).where(Action.ref.in_(refs))).scalars()}
    plan: list[tuple[dict[str, Any], Action | None, dict[str, tuple[Any, Any]]]] = []
    for r in rows:
        fields = {k: v for k, v in r.items() if k != "_row"}
        a = existing.get(r["ref"])
        if a is None:
            plan.append((fields, None, {}))
            continue
        changed = {k: (getattr(a, k), v) for k, v in fields.items() if (getattr(a, k) or None) != (v or None)}
        if a.verified_by and a.status in ("verified", "not effective") and set(changed) & set(FROZEN_FIELDS):
            cols = sorted(set(changed) & set(FROZEN_FIELDS))
            bag.add(
                r["_row"],
                cols[0].replace("kpi_id", "kpi"),
                f"action '{a.ref}' (#{a.id}) has a verdict frozen by {a.verified_by} on "
                f"{a.verified_at:%Y-%m-%d}; an import cannot change its {', '.join(cols)}",
            )
        plan.append((fields, a, changed))
    bag.raise_if_any()
    result.inserted = sum(1 for _, a, _ in plan if a is None)
    result.updated = sum(1 for _, a, ch in plan if a is not None and ch)
    result.unchanged = len(plan) - result.inserted - result.updated
    if not result.changed:
        return
    batch_id = w.batch_id
    for fields, a, changed in plan:
        if a is None:
            a = Action(
                **fields,
                source="other",
                source_note=f"imported from {name}"[:255],
                created_at=now,
                created_by=user.name,
            )
            if fields["status"] == "cancelled":
                a.cancelled_on = now.date()
            s.add(a)
            s.flush()
            audit.record(
                s,
                user=user,
                action="import",
                entity="action",
                entity_id=a.id,
                details={"import": batch_id, "ref": a.ref, "status": a.status},
            )
        elif changed:
            for k, (_, v) in changed.items():
                setattr(a, k, v)
            if "status" in changed and fields["status"] == "cancelled" and a.cancelled_on is None:
                a.cancelled_on = now.date()
            a.updated_at, a.updated_by = now, user.name  # version: the checked UPDATE
            audit.record(
                s,
                user=user,
                action="import",
                entity="action",
                entity_id=a.id,
                details={
                    "import": batch_id,
                    "ref": a.ref,
                    **{k: {"old": _iso(o), "new": _iso(n)} for k, (o, n) in changed.items()},
                },
            )


COLUMNS = f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}"
ACTIONS = Kind(
    name="actions",
    columns=COLUMNS,
    parse=check_actions,
    write=store_actions,
    rights=("import", "manage_actions"),
    what="import actions",
    unit="actions",
    noun="actions",
    added="added",
    prepare=_sync,
)


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v


def import_actions_file(engine: Engine, path: Path, *, config: AppConfig, user: User) -> ImportResult:
    """import_actions on a file named on the command line."""
    return import_actions(engine, Path(path).read_bytes(), Path(path).name, config=config, user=user)
