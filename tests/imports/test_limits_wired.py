"""Every import path goes through the limits of config [limits] before any work is done (issue 20): CSV bytes
before pandas, a Parquet footer before decoding (whole-file and streamed), an Excel sheet's size before its cells,
DataFrame and Arrow input by their rows and columns; segments per KPI; period years and dates; keys that differ
only by Unicode form or invisible characters are one key."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from kpis.config import LimitsSection
from kpis.imports.problems import ImportFailed
from kpis.imports.read import read_frame
from kpis.imports.runner import run_import
from kpis.imports.source import Source
from kpis.store.models import Item, KpiValue

ROOT = Path(__file__).resolve().parents[2]
COMMAS = b"," * 1_048_576 + b"\n1,2\n"  # a 1 MB header of commas: a million columns


def _limited(config, **kw):
    return dataclasses.replace(config, limits=LimitsSection(**kw))


def _cli_env(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SOP_PULSE_CONFIG", "DATABASE_URL", "SOP_PULSE_USER")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", SOP_PULSE_USER="tester", PYTHONIOENCODING="utf-8")
    return env


def _cli(env: dict, *args: str) -> tuple[subprocess.CompletedProcess, int, float]:
    """Run `python -m kpis ARGS` from a small parent that reports the child's peak RSS (kB) and time."""
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run([sys.executable, '-m', 'kpis', *sys.argv[1:]], capture_output=True, text=True)\n"
        "took = time.perf_counter() - t\n"
        "sys.stdout.write(r.stdout)\n"
        "sys.stderr.write(r.stderr)\n"
        "print(f'@@ {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {took}')\n"
        "sys.exit(r.returncode)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    out, _, tail = r.stdout.rpartition("@@ ")
    rss, took = tail.split()
    return subprocess.CompletedProcess(r.args, r.returncode, out, r.stderr), int(rss), float(took)


# ---------------------------------------------------------------- CSV


def test_megabyte_of_commas_refused_through_the_runner_in_well_under_a_second(engine, config, admin):
    from kpis.catalog.load import import_actuals

    t = time.perf_counter()
    with pytest.raises(ImportFailed) as e:
        import_actuals(engine, COMMAS, "commas.csv", config=config, user=admin)
    assert time.perf_counter() - t < 0.5
    assert [str(p) for p in e.value.problems] == [
        "commas.csv, row 1: header has 1,048,577 columns, more than any import uses (at most 5,000, "
        "config [limits] max_columns); is this the right file?"
    ]


@pytest.mark.parametrize("kind", ["demand", "forecasts", "actions", "meetings", "decisions", "assessments"])
def test_every_kind_refuses_the_commas_before_reading(engine, config, admin, kind):
    from kpis.imports import job

    j = job.upload(engine, kind, COMMAS, "commas.csv", config=config, user=admin)
    assert j.wait(30)
    assert isinstance(j.error, ImportFailed) and "1,048,577 columns" in str(j.error)


def test_megabyte_of_commas_refused_through_the_cli(tmp_path):
    env = _cli_env(tmp_path)
    assert _cli(env, "db", "upgrade")[0].returncode == 0
    path = tmp_path / "commas.csv"
    path.write_bytes(COMMAS)
    r, _rss, took = _cli(env, "import", "actuals", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "commas.csv, row 1: header has 1,048,577 columns" in r.stderr
    assert took < 30  # the whole process, start-up included (the old reader ran for hours)


def test_csv_with_more_lines_than_the_limit_is_refused_before_reading(engine, config, admin):
    from kpis.catalog.load import import_actuals

    data = b"kpi,period,value\n" + b"otif,2025-01,0.9\n" * 11
    with pytest.raises(ImportFailed, match="file holds 11 lines of data, over the limit of 10 rows"):
        import_actuals(engine, data, "a.csv", config=_limited(config, max_rows=10), user=admin)


def test_reader_is_linear_in_the_columns_blank_headers_included():
    """Blank headers over empty cells are dropped by looking at all their cells at once (was one pandas pass per
    column, 3 ms each: a 20,000-column file took over a minute)."""

    def took(n: int) -> float:
        data = b"a" + b"," * n + b"\n1" + b"," * n + b"\n"
        t = time.perf_counter()
        frame = read_frame(data, "wide.csv", limits=LimitsSection(max_columns=10 * n))
        assert list(frame.cells.columns) == ["a"]
        return time.perf_counter() - t

    small, big = took(1_000), took(8_000)
    assert big < 10 and big < 20 * max(small, 0.05)


# ---------------------------------------------------------------- Parquet


def _bomb(path: Path, rows: int = 20_000_000, columns: tuple[str, ...] = ("item", "period", "actual")) -> Path:
    """About 224 kB holding `rows` identical rows (issue 20's bomb); forecast columns when asked."""
    n = 1_000_000
    cols = {
        "item": pa.array(["SKU-000001"] * n),
        "period": pa.array([dt.date(2025, 1, 6)] * n, pa.date32()),
        "actual": pa.array([1.0] * n),
        "lag": pa.array([1] * n, pa.int16()),
        "stage": pa.array(["sales"] * n),
        "forecast": pa.array([1.0] * n),
    }
    chunk = pa.table({c: cols[c] for c in columns})
    with pq.ParquetWriter(path, chunk.schema, compression="zstd") as w:
        for _ in range(rows // n):
            w.write_table(chunk, row_group_size=n)
    return path


def test_parquet_bomb_refused_through_the_cli_in_a_small_process(tmp_path):
    bomb = _bomb(tmp_path / "demand.parquet")
    assert bomb.stat().st_size < 300_000
    env = _cli_env(tmp_path)
    assert _cli(env, "db", "upgrade")[0].returncode == 0
    r, rss_kb, _took = _cli(env, "import", "demand", str(bomb))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "demand.parquet: file of " in r.stderr and "holds 20,000,000 rows" in r.stderr
    assert "max_expansion" in r.stderr and "refused unread" in r.stderr
    assert rss_kb < 400_000, f"peak RSS {rss_kb / 1024:.0f} MB (decoding the rows took 3.5 GB)"


def test_parquet_bomb_refused_as_upload_and_as_streamed_forecast(engine, config, admin, tmp_path):
    from kpis import forecast

    demand = _bomb(tmp_path / "demand.parquet", 2_000_000).read_bytes()
    with pytest.raises(ImportFailed, match="2,000,000 rows that take about"):
        forecast.import_file(engine, demand, kind="demand", config=config, user=admin, filename="demand.parquet")
    fc = _bomb(tmp_path / "forecasts.parquet", 2_000_000, ("item", "period", "lag", "stage", "forecast"))
    for src in (fc, fc.read_bytes()):  # a file named on the command line (streams) and an upload
        with pytest.raises(ImportFailed, match="max_expansion"):
            forecast.import_file(engine, src, kind="forecasts", config=config, user=admin, filename=fc.name)


def test_parquet_over_the_row_limit_refused_from_the_footer(engine, config, admin):
    from kpis import forecast

    buf = io.BytesIO()
    pq.write_table(pa.table({"item": ["A", "B", "C"], "period": ["2025-01"] * 3, "actual": [1.0, 2.0, 3.0]}), buf)
    with pytest.raises(ImportFailed, match="file holds 3 rows, over the limit of 2 rows"):
        forecast.import_file(
            engine, buf.getvalue(), kind="demand", config=_limited(config, max_rows=2), user=admin, filename="d.pq"
        )


# ---------------------------------------------------------------- Excel, DataFrame, Arrow


def _xlsx(rows: list[list]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_excel_sheet_size_checked_before_its_cells(engine, config, admin):
    from kpis.catalog.load import import_actuals

    wide = _xlsx([["kpi", "period", "value", "x", "y"], ["otif", "2025-01", 0.9, "", ""]])
    with pytest.raises(ImportFailed, match="header has 5 columns, more than any import uses .at most 4"):
        import_actuals(engine, wide, "wide.xlsx", config=_limited(config, max_columns=4), user=admin)
    tall = _xlsx([["kpi", "period", "value"]] + [["otif", f"2025-{m:02d}", 0.9] for m in range(1, 5)])
    with pytest.raises(ImportFailed, match="file holds 4 rows, over the limit of 3 rows"):
        import_actuals(engine, tall, "tall.xlsx", config=_limited(config, max_rows=3), user=admin)
    assert import_actuals(engine, tall, "tall.xlsx", config=config, user=admin).inserted == 4


def test_dataframe_and_arrow_input_checked_by_rows_and_columns(engine, config, admin):
    from kpis.catalog.load import ACTUALS

    df = pd.DataFrame({"kpi": ["otif"] * 3, "period": ["2025-01", "2025-02", "2025-03"], "value": [0.9] * 3})
    small = _limited(config, max_rows=2)
    with pytest.raises(ImportFailed, match="file holds 3 rows, over the limit of 2"):
        run_import(engine, ACTUALS, df, Source.of_query("q", "select"), config=small, user=admin)
    batches = [pa.RecordBatch.from_pandas(df.iloc[:2]), pa.RecordBatch.from_pandas(df.iloc[2:])]
    with pytest.raises(ImportFailed, match="file holds 3 rows, over the limit of 2"):
        run_import(engine, ACTUALS, iter(batches), Source.of_query("q", "select"), config=small, user=admin)
    narrow = _limited(config, max_columns=2)
    with pytest.raises(ImportFailed, match="header has 3 columns"):
        run_import(engine, ACTUALS, df, Source.of_query("q", "select"), config=narrow, user=admin)
    with pytest.raises(ImportFailed):
        run_import(engine, ACTUALS, iter(batches), Source.of_query("q", "select"), config=narrow, user=admin)
    with engine.connect() as c:
        assert c.execute(select(KpiValue.id)).first() is None


def test_streamed_arrow_batches_checked_as_they_come(engine, config, admin):
    from kpis import forecast
    from kpis.forecast.load import FORECASTS

    demand = b"item,period,actual\nA,2025-01,5\n"
    forecast.import_file(engine, demand, kind="demand", config=config, user=admin, filename="d.csv")
    df = pd.DataFrame({"item": ["A"] * 3, "period": ["2025-01"] * 3, "lag": [0, 1, 2], "stage": ["sales"] * 3})
    df["forecast"] = 1.0
    batches = iter([pa.RecordBatch.from_pandas(df.iloc[:2]), pa.RecordBatch.from_pandas(df.iloc[2:])])
    with pytest.raises(ImportFailed, match="file holds 3 rows, over the limit of 2"):
        run_import(
            engine, FORECASTS, batches, Source.of_query("q", "s"), config=_limited(config, max_rows=2), user=admin
        )


# ---------------------------------------------------------------- segments per KPI


def test_segments_per_kpi_counted_with_the_stored_ones(engine, config, admin):
    from kpis.catalog.load import import_actuals

    cfg = _limited(config, max_segments_per_kpi=3)
    first = b"kpi,period,value,segment\n" + b"".join(b"otif,2025-01,0.9,S%d\n" % i for i in range(3))
    assert import_actuals(engine, first, "a.csv", config=cfg, user=admin).inserted == 3
    more = b"kpi,period,value,segment\notif,2025-02,0.9,S0\notif,2025-02,0.9,S9\nfill_rate,2025-02,0.9,S9\n"
    with pytest.raises(ImportFailed) as e:
        import_actuals(engine, more, "b.csv", config=cfg, user=admin)
    assert [str(p) for p in e.value.problems] == [
        "b.csv, column 'segment': KPI 'otif' would have 4 segments, more than the 3 a KPI may have "
        "(config [limits] max_segments_per_kpi); is the segment column holding something else, like an "
        "order number?"
    ]
    many = b"kpi,period,value,segment\n" + b"".join(b"fill_rate,2025-01,0.9,X%d\n" % i for i in range(5))
    with pytest.raises(ImportFailed, match="KPI 'fill_rate' would have 5 segments, more than the 3"):
        import_actuals(engine, many, "c.csv", config=cfg, user=admin)
    assert import_actuals(engine, more, "b.csv", config=config, user=admin).inserted == 3  # default 10,000


# ---------------------------------------------------------------- periods and dates


def test_period_years_come_from_config_in_actuals_and_forecast_imports(engine, config, admin):
    from kpis import forecast
    from kpis.catalog.load import import_actuals

    cfg = _limited(config, min_period_year=2000, max_period_year=2030)
    with pytest.raises(ImportFailed) as e:
        import_actuals(engine, b"kpi,period,value\notif,1999-12,0.9\n", "a.csv", config=cfg, user=admin)
    assert [str(p) for p in e.value.problems] == [
        "a.csv, row 2, column 'period': period '1999-12' is outside the supported years 2000 to 2030 "
        "(config [limits] min_period_year, max_period_year)"
    ]
    demand = b"item,period,actual\nA,2031-01,5\nA,2025-01,5\n"
    with pytest.raises(ImportFailed, match="row 2, column 'period': period '2031-01' is outside the supported years"):
        forecast.import_file(engine, demand, kind="demand", config=cfg, user=admin, filename="d.csv")
    assert forecast.import_file(engine, demand, kind="demand", config=config, user=admin, filename="d.csv").inserted
    fc = b"item,period,lag,stage,forecast\nA,2031-01,0,sales,5\n"
    with pytest.raises(ImportFailed, match="period '2031-01' is outside the supported years 2000 to 2030"):
        forecast.import_file(engine, fc, kind="forecasts", config=cfg, user=admin, filename="f.csv")


def test_action_dates_outside_the_plausible_range_are_refused(engine, config, admin):
    from kpis.improvement.load import import_actions

    head = b"ref,title,owner,practice,due_date,status,completed_on\n"
    data = (
        head + b"A-1,One,Kim,collaboration,9999-12-31,open,\n"
        b"A-2,Two,Kim,collaboration,0001-01-01,open,\n"
        b"A-3,Three,Kim,collaboration,2026-06-30,done,1899-12-31\n"
    )
    with pytest.raises(ImportFailed) as e:
        import_actions(engine, data, "actions.csv", config=config, user=admin)
    assert [str(p) for p in e.value.problems] == [
        "actions.csv, row 2, column 'due_date': due date 9999-12-31 is outside the plausible range 1900-01-01 to "
        "2199-12-31 (config [limits] min_date, max_date)",
        "actions.csv, row 3, column 'due_date': due date 0001-01-01 is outside the plausible range 1900-01-01 to "
        "2199-12-31 (config [limits] min_date, max_date)",
        "actions.csv, row 4, column 'completed_on': completed on 1899-12-31 is outside the plausible range "
        "1900-01-01 to 2199-12-31 (config [limits] min_date, max_date)",
    ]
    narrow = _limited(config, min_date=dt.date(2020, 1, 1), max_date=dt.date(2030, 12, 31))
    with pytest.raises(ImportFailed, match="due date 2031-01-01 is outside the plausible range 2020-01-01 to 2030"):
        import_actions(
            engine, head + b"A-1,One,Kim,collaboration,2031-01-01,open,\n", "a.csv", config=narrow, user=admin
        )


# ---------------------------------------------------------------- keys: one key whatever its Unicode form


CAFE_NFC = unicodedata.normalize("NFC", "Café")
CAFE_NFD = unicodedata.normalize("NFD", "Café")
ZWSP = "\u200b"


def test_segments_differing_only_by_unicode_form_are_one_segment(engine, config, admin):
    from kpis.catalog.load import import_actuals

    assert CAFE_NFC != CAFE_NFD
    rows = [("otif", "2025-01", CAFE_NFC), ("otif", "2025-02", CAFE_NFD), ("otif", "2025-01", "EMEA")]
    data = "kpi,period,value,segment\n" + "".join(f"{k},{p},0.9,{s}\n" for k, p, s in rows)
    assert import_actuals(engine, data.encode(), "a.csv", config=config, user=admin).inserted == 3
    later = f"kpi,period,value,segment\notif,2025-02,0.8,EMEA{ZWSP}\notif,2025-03,0.8,{CAFE_NFD}\n"
    res = import_actuals(engine, later.encode(), "b.csv", config=config, user=admin)
    assert (res.inserted, res.updated) == (2, 0)
    with engine.connect() as c:
        segments = set(c.execute(select(KpiValue.segment).distinct()).scalars())
    assert segments == {CAFE_NFC, "EMEA"}
    # the same key twice in one period is a duplicate, whichever way it is spelled
    dup = f"kpi,period,value,segment\nfill_rate,2025-01,0.9,{CAFE_NFC}\nfill_rate,2025-01,0.8,{CAFE_NFD}\n"
    with pytest.raises(ImportFailed, match="duplicate: row 2 already has KPI 'fill_rate' segment 'Café'"):
        import_actuals(engine, dup.encode(), "c.csv", config=config, user=admin)


def test_item_codes_and_attribute_values_differing_only_by_unicode_form_are_one(engine, config, admin):
    from kpis import forecast

    demand = (
        "item,period,actual,region\n"
        f"{CAFE_NFC},2025-01,5,EMEA\n"
        f"{CAFE_NFD},2025-02,6,EMEA\n"
        f"B,2025-01,7,EMEA{ZWSP}\n"
        f"B{ZWSP},2025-02,8,EMEA\n"
    ).encode()
    forecast.import_file(engine, demand, kind="demand", config=config, user=admin, filename="d.csv")
    with engine.connect() as c:
        items = dict(c.execute(select(Item.code, Item.attributes)).all())
    assert items == {CAFE_NFC: {"region": "EMEA"}, "B": {"region": "EMEA"}}
    fc = f"item,period,lag,stage,forecast\n{CAFE_NFD},2025-01,0,sales,5\nB{ZWSP},2025-01,0,sales,6\n".encode()
    assert forecast.import_file(engine, fc, kind="forecasts", config=config, user=admin, filename="f.csv").inserted == 2


def test_a_key_with_no_equivalent_is_stored_as_written(engine, config, admin):
    from kpis.catalog.load import import_actuals

    odd = f"'; DROP TABLE kpi; -- \u202egnp.exe zero{ZWSP}width"
    data = f'kpi,period,value,segment\notif,2025-01,0.9,"{odd}"\n'.encode()
    import_actuals(engine, data, "a.csv", config=config, user=admin)
    with engine.connect() as c:
        assert set(c.execute(select(KpiValue.segment)).scalars()) == {odd}


# ---------------------------------------------------------------- memory of one import


def test_streamed_forecast_import_of_a_big_file_stays_small(tmp_path):
    """One import's memory is bounded: 1.25 million forecast rows stream from disk in a process that stays
    under 700 MB (reading them whole takes several times the batch)."""
    code = f"""
import resource, sys
sys.path.insert(0, {str(ROOT / "bench")!r})
from pathlib import Path
from generate import generate
from kpis.access.users import User
from kpis.config import load_config
from kpis.forecast import load
from kpis.store.engine import make_engine, upgrade
out = Path(sys.argv[1])
files = generate(out, items=3000, periods=104, lags=4)
eng = make_engine(f"sqlite:///{{out / 'x.db'}}")
upgrade(eng)
cfg = load_config({str(ROOT / "config.toml")!r})
admin = User("tester", "admin")
load.import_file(eng, files["demand"], kind="demand", config=cfg, user=admin)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = load.import_file(eng, files["forecasts"], kind="forecasts", config=cfg, user=admin)
print(r.rows, r.inserted, before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    r = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert r.returncode == 0, r.stderr[-2000:]
    rows, inserted, _before, peak = map(int, r.stdout.split())
    assert rows == inserted == 3000 * 104 * 4
    assert peak < 700_000, f"peak RSS {peak / 1024:.0f} MB"


def test_meeting_and_decision_dates_outside_the_plausible_range_are_refused(engine, config, admin):
    from kpis.sponsorship.load import import_decisions, import_meetings

    meetings = (
        b"meeting,type,date,chair,person,invited,attended\n"
        b"M-1,executive S&OP,9999-12-31,Kim,Kim,yes,yes\n"
        b"M-2,executive S&OP,2026-03-20,Kim,Kim,yes,yes\n"
    )
    with pytest.raises(ImportFailed) as e:
        import_meetings(engine, meetings, "meetings.csv", config=config, user=admin)
    assert [str(p) for p in e.value.problems] == [
        "meetings.csv, row 2, column 'date': date 9999-12-31 is outside the plausible range 1900-01-01 to "
        "2199-12-31 (config [limits] min_date, max_date)"
    ]
    decisions = b"ref,text,raised_on,decided_on,owner\nD-1,Decide,0001-01-01,,Kim\n"
    with pytest.raises(ImportFailed, match="row 2, column 'raised_on': raised on 0001-01-01 is outside the plausible"):
        import_decisions(engine, decisions, "decisions.csv", config=config, user=admin)
