"""Faults: an unreachable database on every page and in the CLI, imports killed halfway, two imports of the
same file at once. Users see a clear message, never a traceback, SQL or parameters; the data stays intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from kpis.store.models import AuditEvent, DemandActual, ForecastValue, ImportBatch, Item

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
DOWN = "postgresql+psycopg://nobody@127.0.0.1:1/none"   # nothing listens on port 1
PAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py")
               if not p.name.startswith("_") and "alias_page()" not in p.read_text(encoding="utf-8"))
LEAKS = ("Traceback", "SELECT", "INSERT", "[SQL", "parameters", "psycopg.", "sqlalchemy.")


def _all_text(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "title", "info", "error", "warning", "subheader", "exception", "text", "code"):
        parts += [str(getattr(e, "value", e)) for e in getattr(at, kind)]
    return "\n".join(parts)


NO_DATABASE_NEEDED = {"pages/catalog.py"}   # shows config.toml only


def _assert_clear(at: AppTest, page: str) -> None:
    text = _all_text(at)
    assert not at.exception, (page, [e.value for e in at.exception])
    if page not in NO_DATABASE_NEEDED:
        assert any("database cannot be reached" in e.value for e in at.error), (page, text[:500])
    for leak in LEAKS:
        assert leak not in text, (page, leak)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_with_the_database_unreachable_at_start(monkeypatch, page):
    monkeypatch.setenv("DATABASE_URL", DOWN)
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(APP, default_timeout=60).run()
    _assert_clear(at, "start")
    at.switch_page(page).run()
    _assert_clear(at, page)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_when_the_database_goes_away_while_the_app_runs(demo_env, monkeypatch, page):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    monkeypatch.setenv("DATABASE_URL", DOWN)      # the schema was checked in this session; now every query fails
    at.switch_page(page).run()
    _assert_clear(at, page)


def test_a_query_failing_mid_page_shows_the_reason_without_sql_or_values(demo_env, monkeypatch):
    """The database drops a connection in the middle of a page: app.py shows the clear message; the driver's
    SQL and parameters never reach the page."""
    from sqlalchemy.exc import OperationalError

    from pages import _ui

    def boom(*_a, **_k):
        raise OperationalError("SELECT secret FROM kpi_value WHERE owner = %(p)s", {"p": "secret-value"},
                               Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(_ui, "data_version", boom)
    at = AppTest.from_file(APP, default_timeout=60).run()
    _assert_clear(at, "overview")
    text = _all_text(at)
    assert "server closed the connection unexpectedly" in text and "secret" not in text
