"""The Data page's figures of the sources (kpis.sources.status): where each reads without a password, last and
next run, failing sources; Run now only for editors and admins."""

from __future__ import annotations

import datetime as dt

import pytest

from kpis.access.users import NotAllowed, User
from kpis.sources import status
from tests.conftest import make_test_engine
from tests.sources.helpers import config_with


def test_table_failing_and_run_now(tmp_path):
    engine, cleanup = make_test_engine("sqlite", tmp_path)
    try:
        cfg = config_with(
            {"name": "gone", "kind": "actuals", "path": str(tmp_path / "none" / "*.csv"), "schedule": "0 6 * * *"},
            {"name": "erp", "kind": "actuals", "url": "mysql+pymysql://reader@erp.example.com/sales", "table": "t"},
        )
        before = status.table(engine, cfg, dt.datetime(2026, 11, 5, 7, 0, tzinfo=dt.UTC))
        assert list(before["Last run"]) == ["never", "never"]
        assert list(before["Next run"]) == ["2026-11-06 06:00 UTC", ""]
        assert before.loc[1, "Reads"] == "erp.example.com/sales, table t"
        viewer = User(name="watcher", role="viewer")
        assert not status.may_run(viewer) and status.may_run(User(name="ed", role="editor"))
        with pytest.raises(NotAllowed):
            status.run_now(engine, cfg, cfg.sources[0], viewer)
        res = status.run_now(engine, cfg, cfg.sources[0], User(name="ed", role="editor"))
        assert res.status == "unreachable"
        after = status.table(engine, cfg)
        assert after.loc[0, "Result"] == "could not be read" and "not found" in after.loc[0, "Problems"]
        (line,) = status.failing(engine, cfg)
        assert line.startswith("gone (could not be read, ") and "folder" in line
    finally:
        cleanup()
