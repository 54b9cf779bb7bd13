"""The audit log for administrators: who changed what and when, filtered in SQL, one page at a time.

Only admins read it: every function here checks the acting user's role first (a refusal is itself audited)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Engine

from kpis import audit_text
from kpis.access.users import User, require
from kpis.config import AppConfig
from kpis.store import repo

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
    """The people and record types the filters offer (admins only)."""
    require(user, "admin", engine=engine, what=WHAT)
    return repo.audit_choices(engine)


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
            audit_text.log_table(repo.audit_log(engine, limit=0), config, before_after_columns=True),
            0,
            0,
            "0 events (the start date is after the end date)",
        )
    total = repo.audit_count(engine, **filters.args())
    offset = max(0, min(int(offset), max(total - 1, 0)))
    raw = repo.audit_log(engine, limit=max(int(limit), 0), offset=offset, **filters.args())
    rows = audit_text.log_table(raw, config, before_after_columns=True)
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
