"""Retrying a write transaction when the database asks for it, so concurrent users never see
"database is locked" or a serialization failure: SQLite's busy/locked errors, PostgreSQL's
serialization failures, deadlocks and lock timeouts, and (for upserts that read before they write) a
unique violation caused by a concurrent insert of the same key. The whole transaction runs again.

A versioned row changed between this transaction's read and its UPDATE (SQLAlchemy's StaleDataError, see
kpis.store.versions) is retried too: the next run reads the row afresh, so a caller who named the version
their form was opened at gets an EditConflict then, and one who did not (CLI, import) applies to the new row.
An EditConflict itself is never retried: it is a person's refusal to show, not a transient error."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm.exc import StaleDataError

T = TypeVar("T")

_PG_RETRY = {"40001", "40P01", "55P03"}  # serialization failure, deadlock detected, lock not available
_PG_UNIQUE = "23505"


def is_retryable(exc: BaseException, *, unique: bool = False) -> bool:
    """True when running the same transaction again can succeed."""
    if isinstance(exc, StaleDataError):
        return True
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _PG_RETRY or (unique and code == _PG_UNIQUE):
        return True
    text = str(orig).lower()
    if type(orig).__name__ == "OperationalError" and (
        "database is locked" in text or "database table is locked" in text or "busy" in text
    ):
        return True
    return unique and type(orig).__name__ == "IntegrityError" and "unique" in text


def retrying(fn: Callable[[], T], *, attempts: int = 8, unique: bool = True, base_delay: float = 0.05) -> T:
    """fn() (one whole transaction), run again with a growing random pause while the database asks for it."""
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts - 1 or not is_retryable(exc, unique=unique):
                raise
            time.sleep(base_delay * (2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")
