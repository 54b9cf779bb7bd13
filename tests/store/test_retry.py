"""Tests for kpis.store.retry: which database errors run the transaction again."""

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from kpis.store.retry import is_retryable, retrying


class _PgError(Exception):
    def __init__(self, sqlstate):
        super().__init__("pg")
        self.sqlstate = sqlstate


def test_locked_sqlite_and_pg_serialization_are_retried():
    assert is_retryable(OperationalError("x", {}, sqlite3.OperationalError("database is locked")))
    for code in ("40001", "40P01", "55P03"):
        assert is_retryable(OperationalError("x", {}, _PgError(code)))
    assert not is_retryable(OperationalError("x", {}, sqlite3.OperationalError("no such table: kpi")))
    dup = IntegrityError("x", {}, _PgError("23505"))
    assert is_retryable(dup, unique=True) and not is_retryable(dup, unique=False)
    assert not is_retryable(IntegrityError("x", {}, _PgError("23503")), unique=True)  # a foreign key: a real bug


def test_retrying_runs_again_then_gives_up():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("x", {}, sqlite3.OperationalError("database is locked"))
        return "done"

    assert retrying(flaky, base_delay=0.001) == "done" and len(calls) == 3
    with pytest.raises(OperationalError):
        retrying(
            lambda: (_ for _ in ()).throw(OperationalError("x", {}, sqlite3.OperationalError("database is locked"))),
            attempts=2,
            base_delay=0.001,
        )
    with pytest.raises(ValueError):
        retrying(lambda: (_ for _ in ()).throw(ValueError("not a database error")), base_delay=0.001)
