"""The audit log as people read it (the write side is kpis.store.audit): every stored event as a sentence a
person can read (no hashes, no raw dictionaries), the value changes of an import as a table for download, and
the administrators' audit log page: who changed what and when, filtered in SQL, one page at a time.

Only admins read the whole log: every function of the admin part checks the acting user's role first (a refusal
is itself audited)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from kpis.access import people
from kpis.access.users import User, require
from kpis.config import AppConfig
from kpis.store import repo

_HIDDEN = {"sha256", "changed_values", "changed_item_attributes", "definition"}
_KINDS = {"actuals": "KPI actuals", "demand": "demand actuals", "forecasts": "forecast snapshots"}


def _num(v: Any) -> str:
    """A raw number without float noise: 0.951, 1,200, 12.5."""
    if v is None:
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if f == int(f) and abs(f) < 1e15:
        return f"{int(f):,}"
    return f"{f:,.6g}"


def _value(config: AppConfig | None, kpi_id: str, v: Any) -> str:
    """A KPI value in the KPI's own format (95.1 %), or plainly when the KPI is unknown."""
    from kpis.catalog import units

    kpi = config.kpi_by_id.get(kpi_id) if config is not None else None
    if kpi is None or v is None:
        return _num(v)
    return units.format_value(kpi, float(v), config.app.currency)


def _period(config: AppConfig | None, kpi_id: str, p: Any) -> str:
    from kpis import periods

    kpi = config.kpi_by_id.get(kpi_id) if config is not None else None
    try:
        return periods.label(dt.date.fromisoformat(str(p)[:10]), kpi.cadence) if kpi else str(p)
    except ValueError:
        return str(p)


def _kpi_name(config: AppConfig | None, kpi_id: str) -> str:
    kpi = config.kpi_by_id.get(kpi_id) if config is not None else None
    return kpi.name if kpi else str(kpi_id)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def describe(action: str, entity: str, entity_id: Any, details: dict | None, config: AppConfig | None = None) -> str:
    """One audit event in words, e.g. 'OTIF, EMEA, 2026-09: 94.3 % → 95.1 %; note added'."""
    d = details or {}
    if entity == "kpi_value" and action == "update":
        kid = d.get("kpi", "")
        where = ", ".join(
            x for x in (_kpi_name(config, kid), d.get("segment") or "", _period(config, kid, d.get("period"))) if x
        )
        text = f"{where}: {_value(config, kid, d.get('old'))} → {_value(config, kid, d.get('new'))}"
        if "new_note" in d:
            text += "; note added" if not d.get("old_note") else "; note changed"
        if d.get("import"):
            text += f" (import #{d['import']})"
        return text
    if entity == "import_batch" and action == "import":
        kind = _KINDS.get(d.get("kind"), d.get("kind") or "data")
        parts = [
            f"{_num(d.get('inserted', 0))} inserted",
            f"{_num(d.get('updated', 0))} updated",
            f"{_num(d.get('unchanged', 0))} unchanged",
        ]
        if d.get("items_added") or d.get("items_changed"):
            parts.append(
                f"items: {_num(d.get('items_added', 0))} added, {_num(d.get('items_changed', 0))} with "
                "changed attributes"
            )
        return f"Imported {kind} from {d.get('file', 'a file')} (import #{entity_id}): " + ", ".join(parts)
    if entity == "kpi":
        name = _kpi_name(config, str(entity_id))
        if action == "create":
            return f"KPI {name} added to the catalog"
        if action == "deactivate":
            return f"KPI {name} deactivated (no longer in config.toml)"
        if action == "update":
            changes = d.get("changed") or {}
            said = [
                f"{field} {_short(c.get('old'))} → {_short(c.get('new'))}"
                for field, c in changes.items()
                if isinstance(c, dict)
            ]
            return f"KPI {name} changed: " + ("; ".join(said) if said else "reactivated")
    if entity == "person":  # the people directory (kpis.access.people): written at sign-in
        if action == "create":
            return f"First sign-in of {d.get('name') or entity_id}"
        if action == "update":
            return "Sign-in name or e-mail changed: " + "; ".join(
                f"{k} {_short(c.get('old'))} → {_short(c.get('new'))}" for k, c in _changes(d).items()
            )
    if entity == "database" and action == "demo":
        counts = [f"{_num(v)} {k.replace('_', ' ')}" for k, v in d.items() if k not in ("seed", "end")]
        return "Demo data loaded" + (f" ({', '.join(counts)})" if counts else "")
    # any other event (other domains): action, record, and the details as 'key: value' pairs
    shown = [f"{k.replace('_', ' ')}: {_short(v)}" for k, v in d.items() if k not in _HIDDEN]
    head = f"{action.capitalize()} {entity.replace('_', ' ')}" + (
        f" {entity_id}" if entity_id not in (None, "") else ""
    )
    return head + (f" — {'; '.join(shown)}" if shown else "")


def _short(v: Any) -> str:
    """A detail value in words: lists and mappings summarised, not dumped."""
    if isinstance(v, dict):
        if not v:
            return "none"
        return ", ".join(f"{k} {_short(x)}" for k, x in list(v.items())[:4]) + (" …" if len(v) > 4 else "")
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, dict) and "from" in x and "value" in x for x in v):  # stepping targets
            return ", ".join(f"{_num(x['value'])} from {x['from']}" for x in v)
        return _plural(len(v), "entry") if v else "none"
    if isinstance(v, (int, float)):
        return _num(v)
    return "–" if v is None else str(v)


def _changes(d: dict) -> dict[str, dict]:
    """Field -> {'old', 'new'} from the shapes the domains record: {'changed': {...}} or {field: {'old', 'new'}}."""
    if isinstance(d.get("changed"), dict):
        return {k: c for k, c in d["changed"].items() if isinstance(c, dict)}
    return {k: c for k, c in d.items() if isinstance(c, dict) and ("old" in c or "new" in c)}


def _fields(d: Any) -> str:
    """A record's fields as 'field: value; …' (lists and mappings summarised)."""
    if not isinstance(d, dict):
        return _short(d)
    kept = {
        k: ({x: y for x, y in v.items() if y not in (None, "")} if isinstance(v, dict) else v)
        for k, v in d.items()
        if k not in _HIDDEN
    }
    return "; ".join(f"{k.replace('_', ' ')}: {_short(v)}" for k, v in kept.items() if v not in (None, "", [], {}))


def before_after(action: str, entity: str, details: dict | None, config: AppConfig | None = None) -> tuple[str, str]:
    """What a record held before an event and after it, in words ('' where the event does not say)."""
    d = details if isinstance(details, dict) else {}
    if entity == "kpi_value" and ("old" in d or "new" in d):
        kid = d.get("kpi", "")
        return _value(config, kid, d.get("old")), _value(config, kid, d.get("new"))
    if "old" in d or "new" in d:  # a whole record replaced (an assessment)
        return _fields(d.get("old")) if "old" in d else "", _fields(d.get("new")) if "new" in d else ""
    if "before" in d or "after" in d:  # a record's fields before and after (meetings, status moves, reviews)
        after = d.get("after")
        if after is None and "to" in d:
            after = {"status": d["to"], **{k: d[k] for k in ("completed_on", "cancelled_on", "verdict") if k in d}}
        return _fields(d["before"]) if "before" in d else "", _fields(after) if after is not None else ""
    changes = _changes(d)
    if changes:
        return (
            "; ".join(f"{k.replace('_', ' ')}: {_short(c.get('old'))}" for k, c in changes.items()),
            "; ".join(f"{k.replace('_', ' ')}: {_short(c.get('new'))}" for k, c in changes.items()),
        )
    if action == "create" and entity not in ("kpi",):
        return "", _fields(d)
    return "", ""


def log_table(
    log: pd.DataFrame,
    config: AppConfig | None = None,
    *,
    before_after_columns: bool = False,
    names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The audit log (from repo.audit_log) as When (UTC), Who, What: one readable sentence per event; with
    before_after_columns also the record type, its id and what it held Before and After the event. `names`:
    stored actor -> the name shown (kpis.access.people.names); without it the stored actor is shown."""
    ids = [None if i is None or pd.isna(i) else i for i in log["entity_id"]]
    what = [
        describe(a, e, i, d if isinstance(d, dict) else None, config)
        for a, e, i, d in zip(log["action"], log["entity"], ids, log["details"])
    ]
    when = pd.to_datetime(log["at"], utc=True).dt.strftime("%Y-%m-%d %H:%M") if len(log) else pd.Series([], dtype=str)
    out = pd.DataFrame(
        {"When (UTC)": when.to_numpy(), "Who": [(names or {}).get(a, a) for a in log["actor"]], "What": what}
    )
    if before_after_columns:
        pairs = [
            before_after(a, e, d if isinstance(d, dict) else None, config)
            for a, e, d in zip(log["action"], log["entity"], log["details"])
        ]
        out.insert(2, "Action", log["action"].to_numpy())
        out.insert(
            3,
            "Record",
            [
                e.replace("_", " ")
                + ("" if i in (None, "") else f" {(names or {}).get(i, i) if e == 'person' else i}")  # a key: its name
                for e, i in zip(log["entity"], ids)
            ],
        )
        out["Before"] = [b for b, _ in pairs]
        out["After"] = [a for _, a in pairs]
    return out


def import_changes(log: pd.DataFrame, batch_id: int, config: AppConfig | None = None) -> pd.DataFrame:
    """The values one import changed, with old and new value: KPI actuals from their update events, demand and
    forecasts from the import's own record (the first 500 rows; the import's 'updated' count says how many)."""
    kv = log[(log["entity"] == "kpi_value") & (log["action"] == "update")]
    rows = []
    for d in kv["details"]:
        if isinstance(d, dict) and d.get("import") == batch_id:
            kid = d.get("kpi", "")
            rows.append(
                {
                    "what": _kpi_name(config, kid),
                    "segment": d.get("segment") or "",
                    "period": _period(config, kid, d.get("period")),
                    "old": d.get("old"),
                    "new": d.get("new"),
                    "note": d.get("new_note") or "",
                }
            )
    batch = log[(log["entity"] == "import_batch") & (log["entity_id"].astype(str) == str(batch_id))]
    for d in batch["details"]:
        for r in (d or {}).get("changed_values", []) if isinstance(d, dict) else []:
            rows.append(
                {
                    "what": r.get("item"),
                    "segment": r.get("stage", ""),
                    "period": r.get("period"),
                    "lag": r.get("lag"),
                    "old": r.get("old"),
                    "new": r.get("new"),
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the administrators' audit log

WHAT = "audit log"
PAGE_SIZE = 200  # rows a page shows at a time
MAX_EXPORT = 50_000  # rows an Excel export holds at most


@dataclass(frozen=True)
class Filters:
    """People, record types (audit entities) and a UTC date range, both ends included; empty = all."""

    actors: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    since: dt.date | None = None
    until: dt.date | None = None

    def args(self) -> dict:
        return {
            "actors": tuple(self.actors),
            "entities": tuple(self.entities),
            "since": self.since,
            "until": self.until,
        }


@dataclass(frozen=True)
class Page:
    """One page of matching events (newest first) and how many match in all."""

    rows: pd.DataFrame
    total: int
    offset: int = 0
    shown_text: str = field(default="")


def choices(engine: Engine, user: User) -> tuple[list[str], list[str]]:
    """The people (stored actors: filter on these) and record types the filters offer (admins only); show the
    people with `people_names`."""
    require(user, "admin", engine=engine, what=WHAT)
    return repo.audit_choices(engine)


def people_names(engine: Engine, actors: list[str]) -> dict[str, str]:
    """Stored actors -> the names shown for them (kpis.access.people.names); filters still compare the actors."""
    return people.names(engine, actors)


def count(engine: Engine, user: User, filters: Filters = Filters()) -> int:
    """How many events match the filters (admins only)."""
    require(user, "admin", engine=engine, what=WHAT)
    return repo.audit_count(engine, **filters.args())


def search(
    engine: Engine,
    user: User,
    filters: Filters = Filters(),
    *,
    limit: int = PAGE_SIZE,
    offset: int = 0,
    config: AppConfig | None = None,
) -> Page:
    """Matching events as readable rows (When, Who, Action, Record, What, Before, After), newest first,
    `limit` of them from `offset`; admins only (NotAllowed otherwise, recorded in the audit log)."""
    require(user, "admin", engine=engine, what=WHAT)
    if filters.since and filters.until and filters.since > filters.until:
        return Page(
            log_table(repo.audit_log(engine, limit=0), config, before_after_columns=True),
            0,
            0,
            "0 events (the start date is after the end date)",
        )
    total = repo.audit_count(engine, **filters.args())
    offset = max(0, min(int(offset), max(total - 1, 0)))
    raw = repo.audit_log(engine, limit=max(int(limit), 0), offset=offset, **filters.args())
    rows = log_table(raw, config, before_after_columns=True, names=people.names(engine, raw["actor"]))
    return Page(rows, total, offset, shown(len(rows), total, offset))


def shown(n: int, total: int, offset: int = 0) -> str:
    """'200 of 1,234 events shown (1–200)'."""
    if total == 0:
        return "0 events"
    if n >= total:
        return f"{total:,} event{'s' if total != 1 else ''} shown"
    return f"{n:,} of {total:,} events shown ({offset + 1:,}–{offset + n:,})"


def export_rows(
    engine: Engine, user: User, filters: Filters = Filters(), *, config: AppConfig | None = None
) -> pd.DataFrame:
    """Every event matching the filters (up to MAX_EXPORT, newest first) as readable rows, for an Excel file."""
    return search(engine, user, filters, limit=MAX_EXPORT, config=config).rows


def file_name(filters: Filters, today: dt.date) -> str:
    """'audit_log_2026-11-25' plus the date range when one is set."""
    span = ""
    if filters.since or filters.until:
        span = f"_{filters.since or 'start'}_to_{filters.until or 'now'}"
    return f"audit_log_{today:%Y-%m-%d}{span}"
