"""A folder source of CSV and Excel files, on SQLite and PostgreSQL: the first sync imports every file, a second
changes nothing, a changed file updates, a bad row writes nothing and names the row, a file still being written
waits for the next run."""

from __future__ import annotations

import os
import threading
import time

from sqlalchemy import func, select

from kpis.sources.run import run_source
from kpis.store.models import AuditEvent, KpiValue, SourceRun
from tests.sources.helpers import ROWS, config_with, write_actuals_csv, write_actuals_xlsx


def values(engine) -> dict:
    with engine.connect() as c:
        rows = c.execute(select(KpiValue.kpi_id, KpiValue.period, KpiValue.value)).all()
    return {(k, str(p)[:7]): v for k, p, v in rows}


def folder(tmp_path, **extra):
    src = {"name": "drop", "kind": "actuals", "path": str(tmp_path / "drop" / "*.*"), "settle": 0, **extra}
    return config_with(src), src


def age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_first_sync_unchanged_second_changed_value(engine, tmp_path):
    (tmp_path / "drop").mkdir()
    age(write_actuals_csv(tmp_path / "drop" / "a.csv", ROWS[:2]), 100)
    age(write_actuals_xlsx(tmp_path / "drop" / "b.xlsx", ROWS[2:]), 50)
    cfg, _ = folder(tmp_path)
    src = cfg.sources[0]
    first = run_source(engine, cfg, src)
    assert (first.status, first.inserted, first.files) == ("ok", 3, ["a.csv", "b.xlsx"])  # oldest first
    assert values(engine)[("fill_rate", "2026-05")] == 0.97
    with engine.connect() as c:
        actors = set(c.execute(select(AuditEvent.actor).where(AuditEvent.action == "import")).scalars())
    assert actors == {"source:drop"}

    again = run_source(engine, cfg, src)
    assert (again.status, again.inserted, again.updated, again.files) == ("unchanged", 0, 0, [])

    write_actuals_csv(tmp_path / "drop" / "a.csv", [ROWS[0], ("otif", "2026-06", "", 0.91)])
    age(tmp_path / "drop" / "a.csv", 10)
    changed = run_source(engine, cfg, src)
    assert (changed.status, changed.updated, changed.unchanged, changed.files) == ("ok", 1, 1, ["a.csv"])
    assert values(engine)[("otif", "2026-06")] == 0.91
    with engine.connect() as c:
        runs = c.execute(select(SourceRun.status, SourceRun.inserted).order_by(SourceRun.id)).all()
    assert runs == [("ok", 3), ("unchanged", 0), ("ok", 0)]


def test_a_bad_row_writes_nothing_of_the_source_and_names_the_row(engine, tmp_path):
    (tmp_path / "drop").mkdir()
    age(write_actuals_csv(tmp_path / "drop" / "a.csv", ROWS[:2]), 100)
    age(write_actuals_csv(tmp_path / "drop" / "b.csv", [ROWS[2], ("otif", "2026-07", "", "lots")]), 50)
    cfg, _ = folder(tmp_path)
    res = run_source(engine, cfg, cfg.sources[0])
    assert res.status == "refused" and res.exit_code == 2
    assert res.inserted == 0 and values(engine) == {}  # a.csv was fine, yet nothing of the source was written
    assert any(p.startswith("drop: b.csv, row 3, column 'value'") for p in res.problems), res.problems
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(SourceRun)).scalar() == 1
    # fixed: the next run imports both files
    write_actuals_csv(tmp_path / "drop" / "b.csv", [ROWS[2], ("otif", "2026-07", "", 0.93)])
    age(tmp_path / "drop" / "b.csv", 10)
    assert run_source(engine, cfg, cfg.sources[0]).inserted == 4


def test_a_file_still_being_written_waits_for_the_next_run(engine, tmp_path):
    (tmp_path / "drop").mkdir()
    age(write_actuals_csv(tmp_path / "drop" / "a.csv", ROWS[:2]), 100)
    half = tmp_path / "drop" / "b.csv"
    half.write_text("kpi,period,segment,value\nfill_rate,2026-05,,0.9", encoding="utf-8")  # the writer goes on
    stop = threading.Event()

    def writer():
        with half.open("a", encoding="utf-8") as f:
            while not stop.is_set():
                f.write("7")  # the value grows digit by digit: the size keeps changing
                f.flush()
                time.sleep(0.05)

    t = threading.Thread(target=writer)
    t.start()
    try:
        cfg, _ = folder(tmp_path, settle=0.5)
        res = run_source(engine, cfg, cfg.sources[0])
    finally:
        stop.set()
        t.join()
    assert (res.status, res.inserted, res.files) == ("ok", 2, ["a.csv"])
    assert "b.csv" in res.message and "still being written" in res.message
    half.write_text("kpi,period,segment,value\nfill_rate,2026-05,,0.97\n", encoding="utf-8")
    age(half, 10)
    res = run_source(engine, cfg, cfg.sources[0])
    assert (res.status, res.inserted, res.files) == ("ok", 1, ["b.csv"])


def test_a_missing_folder_is_unreachable(engine, tmp_path):
    cfg, _ = folder(tmp_path)
    res = run_source(engine, cfg, cfg.sources[0])
    assert res.status == "unreachable" and res.exit_code == 3 and "not found" in res.message
