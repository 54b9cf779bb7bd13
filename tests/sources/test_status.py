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


def test_a_source_inherits_the_due_dates_of_the_kpis_it_delivers(tmp_path):
    """A folder source that delivered OTIF for May and June 2026 owes July once July's due date has passed: the
    sources table names it; a source that delivered nothing owes nothing."""
    from kpis.catalog import freshness
    from kpis.sources.run import run_source
    from tests.sources.helpers import write_actuals_csv

    engine, cleanup = make_test_engine("sqlite", tmp_path)
    try:
        (tmp_path / "drop").mkdir()
        write_actuals_csv(
            tmp_path / "drop" / "a.csv", rows=[("otif", "2026-05", "", 0.95), ("otif", "2026-06", "", 0.94)]
        )
        cfg = config_with(
            {"name": "drop", "kind": "actuals", "path": str(tmp_path / "drop" / "*.csv"), "settle": 0},
            {"name": "idle", "kind": "actuals", "path": str(tmp_path / "idle" / "*.csv")},
        )
        assert run_source(engine, cfg, cfg.sources[0]).status == "ok"
        assert status.delivered_kpis(engine, cfg, cfg.sources[0]) == ["otif"]
        assert status.delivered_kpis(engine, cfg, cfg.sources[1]) == []
        day = dt.date(2026, 9, 1)  # July is due 10 Aug (the shipped [catalog] due_days = 10) and not received
        late = freshness.late_data(engine, cfg, day, kpi_ids=["otif"])
        table = status.table(engine, cfg, late=late, day=day)
        otif = cfg.kpi_by_id["otif"].name
        assert table.loc[0, "Late data"].startswith(f"{otif}: 2026-07 due 10 Aug, not received")
        assert table.loc[1, "Late data"] == "none"
        assert "Late data" not in status.table(engine, cfg).columns  # without late data the column is left out
    finally:
        cleanup()
