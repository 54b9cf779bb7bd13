"""Tests for kpis.forecast (load, cube, cache, computed): demand/forecast imports (both databases),
the ForecastCube views
against kpis.forecast.metrics on the same rows, computed KPI values and the accuracy/fva CLI.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from kpis import forecast, periods
from kpis.access.users import NotAllowed
from kpis.config import ConfigError, load_config, parse_config
from kpis.forecast import metrics as accuracy
from kpis.forecast.metrics import METRIC_COLUMNS
from kpis.imports.problems import ImportFailed
from kpis.store.audit import data_version
from kpis.store.models import DemandActual, ForecastValue, ImportBatch, Item

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from generate import generate  # noqa: E402

approx = pytest.approx


@pytest.fixture(autouse=True, scope="module")
def no_cube_snapshots():
    """Cube snapshots on disk are tested explicitly; elsewhere they are off."""
    old = os.environ.get("SOP_PULSE_CUBE_CACHE")
    os.environ["SOP_PULSE_CUBE_CACHE"] = "off"
    yield
    if old is None:
        os.environ.pop("SOP_PULSE_CUBE_CACHE", None)
    else:
        os.environ["SOP_PULSE_CUBE_CACHE"] = old


# --------------------------------------------------------------------------- helpers
def csv(text: str) -> bytes:
    return ("\n".join(line.strip() for line in text.strip().splitlines()) + "\n").encode()


DEMAND = csv("""
    item,period,actual,family,region
    A,2025-01,10,Pumps,EMEA
    A,2025-02,20,Pumps,EMEA
    A,2025-03,40,Pumps,EMEA
    B,2025-01,5,Valves,APAC
    B,2025-02,0,Valves,APAC
    B,2025-03,15,Valves,APAC
""")

FORECASTS = csv("""
    item,period,lag,stage,forecast
    A,2025-02,1,consensus,12
    A,2025-03,1,consensus,35
    B,2025-02,1,consensus,2
    B,2025-03,1,consensus,20
    A,2025-02,1,statistical,15
    A,2025-03,1,statistical,30
    B,2025-02,1,statistical,4
    B,2025-03,1,statistical,10
""")


def load(engine, config, admin, data: bytes, kind: str, name: str = "f.csv", **kw):
    return forecast.import_file(engine, data, kind=kind, config=config, user=admin, filename=name, **kw)


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def cube_of(engine, config):
    return forecast.get_cube(engine, config, data_version(engine))


@pytest.fixture
def loaded(engine, config, admin):
    load(engine, config, admin, DEMAND, "demand", "demand.csv")
    load(engine, config, admin, FORECASTS, "forecasts", "forecasts.csv")
    return engine


# --------------------------------------------------------------------------- imports
def test_demand_import_creates_items_with_attributes(engine, config, admin):
    res = load(engine, config, admin, DEMAND, "demand", "demand.csv")
    assert (res.inserted, res.updated, res.unchanged, res.items_added) == (6, 0, 0, 2)
    with engine.connect() as conn:
        items = dict(conn.execute(select(Item.code, Item.attributes)).all())
    assert items == {"A": {"family": "Pumps", "region": "EMEA"}, "B": {"family": "Valves", "region": "APAC"}}
    assert count(engine, DemandActual) == 6


def test_reimport_same_file_changes_nothing_and_says_so(loaded, config, admin):
    batches = count(loaded, ImportBatch)
    version = data_version(loaded)
    for data, kind in ((DEMAND, "demand"), (FORECASTS, "forecasts")):
        res = load(loaded, config, admin, data, kind, "again.csv")
        assert not res.changed and res.inserted == res.updated == 0
        assert res.unchanged == (6 if kind == "demand" else 8)
        assert "no changes" in res.summary() and "same content imported" in res.summary()
    assert count(loaded, ImportBatch) == batches
    assert data_version(loaded) == version


def test_changed_values_are_updated_and_counted(loaded, config, admin):
    changed = FORECASTS.replace(b"A,2025-03,1,consensus,35", b"A,2025-03,1,consensus,36")
    changed += b"A,2025-03,2,consensus,33\n"
    res = load(loaded, config, admin, changed, "forecasts", "f2.csv")
    assert (res.inserted, res.updated, res.unchanged) == (1, 1, 7)
    assert "1 inserted, 1 updated, 7 unchanged" in res.summary()
    with loaded.connect() as conn:
        v = conn.execute(
            select(ForecastValue.forecast, ForecastValue.import_id).where(
                ForecastValue.stage == "consensus",
                ForecastValue.lag == 1,
                ForecastValue.item_id == select(Item.id).where(Item.code == "A").scalar_subquery(),
                ForecastValue.period == pd.Timestamp("2025-03-01").date(),
            )
        ).one()
    assert v[0] == 36.0 and v[1] == res.batch_id
    demand2 = (
        DEMAND.replace(b"B,2025-02,0,Valves,APAC", b"B,2025-02,1,Valves,LATAM")
        .replace(b"B,2025-01,5,Valves,APAC", b"B,2025-01,5,Valves,LATAM")
        .replace(b"B,2025-03,15,Valves,APAC", b"B,2025-03,15,Valves,LATAM")
    )
    res = load(loaded, config, admin, demand2, "demand", "d2.csv")
    assert (res.inserted, res.updated, res.unchanged, res.items_changed) == (0, 1, 5, 1)
    cube = cube_of(loaded, config)
    assert cube.items_of({"region": ["LATAM"]}) == ["B"]


def test_demand_without_attribute_columns_keeps_stored_attributes(loaded, config, admin):
    res = load(loaded, config, admin, csv("item,period,actual\nA,2025-04,11\n"), "demand", "d.csv")
    assert (res.inserted, res.items_changed) == (1, 0)
    with loaded.connect() as conn:
        assert conn.execute(select(Item.attributes).where(Item.code == "A")).scalar_one()["family"] == "Pumps"


def test_bulk_path_keeps_foreign_keys(engine, config, admin, monkeypatch):
    from kpis.forecast import bulk
    from kpis.forecast import load as load_module

    monkeypatch.setattr(load_module, "BULK_ROWS", 0)  # take the big-file path with this small file (SQLite)
    monkeypatch.setattr(bulk, "BULK_ROWS", 0)  # and PostgreSQL's, which drops and re-adds the keys
    load(engine, config, admin, DEMAND, "demand", "demand.csv")
    res = load(engine, config, admin, FORECASTS, "forecasts", "forecasts.csv")
    assert res.inserted == 8 and count(engine, ForecastValue) == 8
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        else:
            fks = conn.exec_driver_sql(
                "SELECT conrelid::regclass::text, convalidated FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid IN ('forecast'::regclass, "
                "'demand_actual'::regclass)"
            ).all()
            assert sorted(fks) == [("demand_actual", True)] * 2 + [("forecast", True)] * 2
    bad = FORECASTS.replace(b"B,2025-03,1,statistical,10", b"B,2025-03,1,statistical,x")
    with pytest.raises(ImportFailed):
        load(engine, config, admin, bad.replace(b"consensus", b"sales"), "forecasts", "bad.csv")
    assert count(engine, ForecastValue) == 8


def test_parquet_excel_and_csv_give_the_same_rows(engine, config, admin, tmp_path):
    load(engine, config, admin, DEMAND, "demand", "demand.csv")
    frame = pd.read_csv(io.BytesIO(FORECASTS))
    frame.to_parquet(tmp_path / "f.parquet")
    frame.to_excel(tmp_path / "f.xlsx", index=False)
    res = forecast.import_file(engine, tmp_path / "f.parquet", kind="forecasts", config=config, user=admin)
    assert res.inserted == 8 and res.filename == "f.parquet"
    for name in ("f.xlsx",):
        res = forecast.import_file(engine, tmp_path / name, kind="forecasts", config=config, user=admin)
        assert not res.changed and res.unchanged == 8
    assert not load(engine, config, admin, FORECASTS, "forecasts", "f.csv").changed
    semi = FORECASTS.replace(b",", b";")
    assert not load(engine, config, admin, semi, "forecasts", "f_semicolon.csv").changed


def test_snapshot_column_gives_the_lag(engine, config, admin):
    load(engine, config, admin, csv("item,period,actual\nA,2025-W10,10\nA,2025-W11,12\n"), "demand", "d.csv")
    f = csv("""
        item,period,snapshot,stage,forecast
        A,2025-W10,2025-W08,consensus,9
        A,2025-W11,2025-W11,consensus,12
    """)
    res = load(engine, config, admin, f, "forecasts", "snap.csv")
    assert res.inserted == 2
    cube = cube_of(engine, config)
    assert cube.cadence == "week" and cube.lags == [0, 2]
    fr = cube.frame()
    got = fr[fr["stage"] == "consensus"].set_index("lag")["forecast"].to_dict()
    assert got == {2: 9.0, 0: 12.0}


def test_upload_bytes_progress_and_ignored_columns(engine, config, admin):
    load(engine, config, admin, DEMAND, "demand", "demand.csv")
    seen = []
    data = FORECASTS.replace(b"item,period,lag,stage,forecast", b"item,period,lag,stage,forecast,comment", 1)
    data = b"\n".join([data.splitlines()[0]] + [line + b",x" for line in data.splitlines()[1:]]) + b"\n"
    res = load(engine, config, admin, data, "forecasts", "upload.csv", progress=lambda f, t: seen.append((f, t)))
    assert res.inserted == 8 and res.ignored_columns == ("comment",)
    assert "Ignored column(s): comment" in res.summary()
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and all(isinstance(t, str) for _, t in seen)


def test_viewer_may_not_import(engine, config, viewer):
    with pytest.raises(NotAllowed):
        forecast.import_file(engine, DEMAND, kind="demand", config=config, user=viewer, filename="d.csv")


def test_no_forecasts_no_cube(engine, config, admin):
    assert cube_of(engine, config) is None
    load(engine, config, admin, DEMAND, "demand", "demand.csv")
    assert cube_of(engine, config) is None
    assert forecast.computed_kpi_values(engine, config).empty


# --------------------------------------------------------------------------- import errors
FORECAST_ERRORS = [
    # (file body, row, column, message part)
    ("A,2025-02,-1,consensus,12", 2, "lag", "lag -1 is negative"),
    ("A,2025-02,1.5,consensus,12", 2, "lag", "not a whole number"),
    ("A,2025-02,x,consensus,12", 2, "lag", "lag 'x' is not a number"),
    ("A,2025-02,1,consenus,12", 2, "stage", "unknown stage 'consenus' (did you mean 'consensus'?)"),
    ("A,2025-02,1,consensus,abc", 2, "forecast", "forecast 'abc' is not a number"),
    ("A,2025-02,1,consensus,", 2, "forecast", "forecast is empty"),
    ("Z,2025-02,1,consensus,3", 2, "item", "import demand first: 1 item is unknown (e.g. Z), in 1 forecast row"),
    (",2025-02,1,consensus,3", 2, "item", "item is empty"),
    ("A,March,1,consensus,3", 2, "period", "period 'March' is not a period"),
    (
        "A,2025-02,1,consensus,3\nA,2025-02,1,consensus,4",
        3,
        "period",
        "duplicate: row 2 already has item 'A', period 2025-02, lag 1, stage 'consensus'",
    ),
    (
        "A,2025-02,1,consensus,3\nA,2025-02,1,consensus,4\nA,2025-W05,1,consensus,4",
        4,
        "period",
        "is an ISO week, but other rows in this file are months",
    ),
]


@pytest.mark.parametrize("body,row,column,message", FORECAST_ERRORS, ids=[e[3][:30] for e in FORECAST_ERRORS])
def test_forecast_errors_name_row_and_column_and_write_nothing(engine, config, admin, body, row, column, message):
    load(engine, config, admin, DEMAND, "demand", "demand.csv")
    before = (count(engine, ForecastValue), count(engine, ImportBatch), data_version(engine))
    data = b"item,period,lag,stage,forecast\nB,2025-03,1,consensus,20\n" + body.encode() + b"\n"
    data = data.replace(b"\nB,2025-03,1,consensus,20\n", b"\n", 1)  # the problem row is row 2
    with pytest.raises(ImportFailed) as exc:
        load(engine, config, admin, data, "forecasts", "bad.csv")
    hits = [p for p in exc.value.problems if p.row == row and p.column == column and message in p.message]
    assert hits, [str(p) for p in exc.value.problems]
    assert str(hits[0]).startswith(f"bad.csv, row {row}, column '{column}': ")
    assert (count(engine, ForecastValue), count(engine, ImportBatch), data_version(engine)) == before


def test_forecasts_before_their_demand_give_one_message(engine, config, admin):
    rows = "\n".join(f"SKU-{1000 + i},2025-0{m},1,consensus,3" for i in range(120) for m in (2, 3))
    with pytest.raises(ImportFailed) as exc:
        load(engine, config, admin, csv("item,period,lag,stage,forecast\n" + rows), "forecasts", "f.csv")
    assert exc.value.total == 1
    assert (
        "import demand first: 120 items are unknown (e.g. SKU-1000, SKU-1001, SKU-1002, …), in 240 forecast rows"
        in str(exc.value)
    )


def test_exact_duplicate_headers_are_refused(engine, config, admin):
    with pytest.raises(ImportFailed, match="column 'actual' appears twice; keep one"):
        load(engine, config, admin, csv("item,period,actual,actual\nA,2025-01,1,2"), "demand")


def test_excel_sheet_choice_and_formula_without_cached_value(engine, config, admin, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "Notes"
    ws = wb.create_sheet("Demand")
    ws.append(["item", "period", "actual"])
    ws.append(["A", "2025-01", 10])
    ws.append(["A", "2025-02", "=B2*2"])  # openpyxl stores the formula without a cached value
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    with pytest.raises(ImportFailed, match="the first sheet 'Notes' has no data rows; sheets with data: 'Demand'"):
        load(engine, config, admin, data, "demand", "d.xlsx")
    with pytest.raises(ImportFailed) as exc:
        load(engine, config, admin, data, "demand", "d.xlsx", sheet="Demand")
    (p,) = exc.value.problems
    assert (p.row, p.column) == (
        3,
        "actual",
    ) and "cell C3 on sheet 'Demand' is a formula without a saved value" in p.message
    assert count(engine, DemandActual) == 0
    with pytest.raises(ImportFailed, match="no sheet named 'Sheet9'"):
        load(engine, config, admin, data, "demand", "d.xlsx", sheet="Sheet9")


def test_snapshot_after_period_is_a_negative_lag(engine, config, admin):
    load(engine, config, admin, DEMAND, "demand", "demand.csv")
    data = csv("item,period,snapshot,stage,forecast\nA,2025-02,2025-01,consensus,3\nA,2025-02,2025-04,consensus,3")
    with pytest.raises(ImportFailed) as exc:
        load(engine, config, admin, data, "forecasts", "snap.csv")
    (p,) = exc.value.problems
    assert (p.row, p.column) == (3, "snapshot")
    assert "snapshot 2025-04 is after period 2025-02 (lag would be -2)" in p.message
    assert count(engine, ForecastValue) == 0


def test_lag_and_snapshot_must_agree(engine, config, admin):
    load(engine, config, admin, DEMAND, "demand", "demand.csv")
    data = csv(
        "item,period,snapshot,lag,stage,forecast\nA,2025-03,2025-01,2,consensus,3\nA,2025-03,2025-02,2,consensus,3"
    )
    with pytest.raises(ImportFailed) as exc:
        load(engine, config, admin, data, "forecasts", "both.csv")
    p = exc.value.problems[0]
    assert (p.row, p.column) == (3, "lag") and "does not match period − snapshot = 1" in p.message


DEMAND_ERRORS = [
    ("A,2025-01,ten,Pumps", 2, "actual", "actual 'ten' is not a number"),
    ("A,2025-01,,Pumps", 2, "actual", "actual is empty"),
    ("A,2025-01,3,Pumps\nA,2025-01,4,Pumps", 3, "period", "duplicate: row 2 already has item 'A' for period 2025-01"),
    ("A,2025-01,3,Pumps\nA,2025-02,4,Valves", 3, "family", "item 'A' has family 'Valves' here but 'Pumps' in row 2"),
    ("A,2025-13,3,Pumps", 2, "period", "month must be 01-12"),
    ("A,2025-Q1,3,Pumps", 2, "period", "is a quarter"),
]


@pytest.mark.parametrize("body,row,column,message", DEMAND_ERRORS, ids=[e[3][:30] for e in DEMAND_ERRORS])
def test_demand_errors_name_row_and_column_and_write_nothing(engine, config, admin, body, row, column, message):
    data = b"item,period,actual,family\n" + body.encode() + b"\n"
    with pytest.raises(ImportFailed) as exc:
        load(engine, config, admin, data, "demand", "bad.csv")
    hits = [p for p in exc.value.problems if p.row == row and p.column == column and message in p.message]
    assert hits, [str(p) for p in exc.value.problems]
    assert count(engine, DemandActual) == 0 and count(engine, Item) == 0


def test_file_level_errors(engine, config, admin):
    with pytest.raises(ImportFailed, match="missing column 'lag'"):
        load(engine, config, admin, csv("item,period,stage,forecast\nA,2025-01,consensus,3"), "forecasts")
    with pytest.raises(ImportFailed, match=r"missing column\(s\) 'actual'"):
        load(engine, config, admin, csv("item,period\nA,2025-01"), "demand")
    with pytest.raises(ImportFailed, match="column 'stage' cannot be an attribute"):
        load(engine, config, admin, csv("item,period,actual,stage\nA,2025-01,1,x"), "demand")
    with pytest.raises(ImportFailed, match="unsupported file type '.json'"):
        load(engine, config, admin, b"{}", "demand", "d.json")
    load(engine, config, admin, DEMAND, "demand", "demand.csv")  # monthly data stored
    with pytest.raises(ImportFailed, match="this file is weekly but the stored demand and forecasts are monthly"):
        load(engine, config, admin, csv("item,period,actual\nA,2025-W03,1"), "demand")


def test_attribute_named_like_a_metric_is_refused(engine, config, admin):
    for name in ("wape", "bias", "accuracy", "mae"):
        with pytest.raises(ImportFailed, match=f"column '{name}' cannot be an attribute: it is the name of a metric"):
            load(engine, config, admin, csv(f"item,period,actual,{name}\nA,2025-01,1,x"), "demand")
    assert count(engine, DemandActual) == 0


def test_granularity_is_checked_against_everything_stored(engine, config, admin):
    # monthly demand for item A; a weekly file for a new item B must be refused even though B has no stored rows
    load(engine, config, admin, csv("item,period,actual\nA,2025-01,1\nA,2025-02,2"), "demand")
    load(engine, config, admin, csv("item,period,actual\nB,2025-01,1"), "demand")
    with pytest.raises(ImportFailed, match="this file is weekly but the stored demand and forecasts are monthly"):
        load(engine, config, admin, csv("item,period,actual\nC,2025-W03,1"), "demand")
    assert count(engine, DemandActual) == 3


def test_granularity_checked_inside_the_write_transaction(engine, config, admin):
    """Two imports validated against an empty store (as when they run at the same time): the second is refused
    when it writes, and nothing of it is stored."""
    from kpis.forecast import load as load_module
    from kpis.forecast import validate
    from kpis.imports.problems import Collector
    from kpis.imports.runner import write_checked
    from kpis.imports.source import Source

    monthly = csv("item,period,actual\nA,2025-01,1")
    weekly = csv("item,period,actual\nB,2025-W03,1")
    load(engine, config, admin, monthly, "demand")
    table = validate.read(weekly, "w.csv")
    rows = validate.validate_demand(table, Collector("w.csv", 50), None, {})  # saw an empty store
    assert rows.cadence == "week"
    with pytest.raises(ImportFailed, match="this file is weekly but the stored demand and forecasts are monthly"):
        write_checked(engine, load_module.DEMAND, rows, Source("w.csv", "x"), user=admin)
    assert count(engine, DemandActual) == 1


def test_many_errors_are_capped_but_counted(engine, config, admin):
    rows = "\n".join(f"A{i},2025-01,x" for i in range(120))
    with pytest.raises(ImportFailed) as exc:
        load(engine, config, admin, csv("item,period,actual\n" + rows), "demand")
    assert exc.value.total == 120 and len(exc.value.problems) == config.app.max_import_errors
    assert "… and 70 more" in str(exc.value)


# --------------------------------------------------------------------------- cube vs kpis.forecast.metrics
@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated weekly data set (40 items, 30 periods, lags 0-2, stages statistical + sales) in SQLite."""
    from kpis.access.users import User
    from kpis.store.engine import make_engine, upgrade

    folder = tmp_path_factory.mktemp("gen")
    paths = generate(folder, items=40, periods=30, lags=3, stages=2, seed=3)
    engine = make_engine(f"sqlite:///{folder / 'gen.db'}")
    upgrade(engine)
    cfg = load_config(ROOT / "config.toml")
    user = User(name="gen", role="admin")
    forecast.import_file(engine, paths["demand"], kind="demand", config=cfg, user=user)
    forecast.import_file(engine, paths["forecasts"], kind="forecasts", config=cfg, user=user)
    demand = pd.read_parquet(paths["demand"])
    cube = forecast.get_cube(engine, cfg, data_version(engine))
    return engine, cfg, cube, demand


def reference(cube, demand: pd.DataFrame, by, *, stage=None, lag=None, lo=None, hi=None, filters=None):
    """accuracy_table over cube.frame() rows (with MASE scale from the demand history)."""
    fr = cube.frame()
    if "stage" not in by or stage:
        fr = fr[fr["stage"] == (stage or forecast.final_stage(cube))]
    if lag is not None:
        fr = fr[fr["lag"] == lag]
    if lo is not None:
        fr = fr[fr["period"] >= pd.Timestamp(lo)]
    if hi is not None:
        fr = fr[fr["period"] <= pd.Timestamp(hi)]
    for k, v in (filters or {}).items():
        fr = fr[fr[k].isin(v)]
    hist = pd.DataFrame(
        {
            "item": demand["item"].astype(str),
            "period": periods.period_number(pd.to_datetime(demand["period"]), "week"),
            "actual": demand["actual"],
        }
    )
    scale = accuracy.mase_scale(hist, season_length=cube.season_length)
    fr = fr.assign(**{c: fr[c].astype(str) for c in ("item", *cube.attributes, "stage") if c in fr})
    return accuracy.accuracy_table(fr, list(by), scale=scale)


def assert_same(got: pd.DataFrame, exp: pd.DataFrame, by):
    by = list(by)
    assert list(got.columns) == [*by, *METRIC_COLUMNS]
    assert len(got) == len(exp)
    if by:
        got = got.sort_values(by).reset_index(drop=True)
        exp = exp.sort_values(by).reset_index(drop=True)
        for c in by:
            if c == "period":
                assert (pd.to_datetime(got[c]) == pd.to_datetime(exp[c])).all()
            else:
                assert got[c].astype(str).tolist() == exp[c].astype(str).tolist()
    for c in METRIC_COLUMNS:
        assert got[c].to_numpy(dtype=float) == approx(exp[c].to_numpy(dtype=float), rel=1e-9, abs=1e-9, nan_ok=True), c


BY_CASES = [
    [],
    ["item"],
    ["family"],
    ["region"],
    ["channel"],
    ["abc"],
    ["xyz"],
    ["period"],
    ["lag"],
    ["stage"],
    ["family", "period"],
    ["item", "lag"],
    ["region", "stage", "lag"],
    ["period", "item"],
    ["abc", "xyz", "lag"],
]


@pytest.mark.parametrize("by", BY_CASES, ids=["-".join(b) or "total" for b in BY_CASES])
def test_accuracy_by_every_kind_of_column_matches_accuracy_table(generated, by):
    _e, _c, cube, demand = generated
    assert_same(cube.accuracy(by), reference(cube, demand, by), by)


FILTER_CASES = [
    dict(by=["family"], lag=1, lo="2024-02-12", hi="2024-06-03", filters={"region": ["EMEA", "APAC"]}),
    dict(by=["period"], filters={"family": ["Pumps"]}, stage="statistical"),
    dict(by=["period"], filters={"item": ["SKU-000003", "SKU-000007"]}),
    dict(by=["item"], lo="2024-01-15", hi="2024-05-20"),
    dict(by=["lag"], filters={"abc": ["A"], "channel": ["OEM"]}),
    dict(by=["stage"], lo="2024-03-04", filters={"item": ["SKU-000011"]}),
    dict(by=[], stage="naive", lag=2),
]


@pytest.mark.parametrize("case", FILTER_CASES, ids=[str(i) for i in range(len(FILTER_CASES))])
def test_filters_and_period_ranges_match_accuracy_table(generated, case):
    _e, _c, cube, demand = generated
    by = case["by"]
    got = cube.accuracy(
        by,
        stage=case.get("stage"),
        lag=case.get("lag"),
        period_from=case.get("lo"),
        period_to=case.get("hi"),
        filters=case.get("filters"),
    )
    exp = reference(
        cube,
        demand,
        by,
        stage=case.get("stage"),
        lag=case.get("lag"),
        lo=case.get("lo"),
        hi=case.get("hi"),
        filters=case.get("filters"),
    )
    assert_same(got, exp, by)


def test_views_without_the_combination_cube_give_the_same_figures(generated, monkeypatch):
    engine, cfg, cube, demand = generated
    from kpis.forecast import cube as cube_module
    from kpis.forecast import cube_build

    monkeypatch.setattr(cube_build, "_COMBO_BUDGET", 1)
    forecast.clear_cache()
    from kpis.forecast.sql import load_raw

    slim = cube_module.ForecastCube(load_raw(engine, cfg), cfg)
    assert slim.combo_attrs == [] or slim.n_combos == 1
    for by in (["family"], ["period", "region"], ["abc"]):
        assert_same(
            slim.accuracy(by, filters={"channel": ["OEM"]}), cube.accuracy(by, filters={"channel": ["OEM"]}), by
        )


def test_derived_naive_matches_accuracy_derive_naive(generated):
    _e, _c, cube, demand = generated
    assert cube.stages == ["naive", "statistical", "sales"] and cube.derived == ["naive"]
    hist = pd.DataFrame(
        {
            "item": demand["item"].astype(str),
            "period": periods.period_number(pd.to_datetime(demand["period"]), "week"),
            "actual": demand["actual"],
        }
    )
    exp = accuracy.derive_naive(hist, cube.lags, season_length=cube.season_length)
    fr = cube.frame()
    fr["pnum"] = periods.period_number(fr["period"], "week")
    got = fr[fr["stage"] == "naive"][["item", "pnum", "lag", "forecast"]]
    loaded = fr[fr["stage"] != "naive"][["item", "pnum", "lag"]].drop_duplicates()
    exp = exp.rename(columns={"period": "pnum"}).merge(loaded, on=["item", "pnum", "lag"])  # where a stage forecasts
    merged = got.merge(exp, on=["item", "pnum", "lag"], how="outer", suffixes=("", "_exp"))
    assert len(merged) == len(got) == len(exp) > 0
    assert (merged["forecast"] == merged["forecast_exp"]).all()


def test_fva_stairstep_agrees_with_metrics_on_the_matched_sample(generated):
    _e, _c, cube, demand = generated
    got = cube.fva(["region"], lag=1)
    assert list(got.columns) == ["region", "stage", "n", "wape", "fva_vs_previous", "fva_vs_naive", "left_out"]
    fr = cube.frame()
    fr = fr[fr["lag"] == 1].assign(region=lambda d: d["region"].astype(str), stage=lambda d: d["stage"].astype(str))
    exp = accuracy.fva_matched(fr, cube.stages, by=["region"])
    assert got["region"].tolist() == exp["region"].tolist() and got["stage"].tolist() == exp["stage"].tolist()
    assert got["wape"].to_numpy() == approx(exp["wape"].to_numpy())
    assert got["n"].tolist() == exp["n"].tolist() and got["left_out"].tolist() == exp["left_out"].tolist()
    assert got["fva_vs_naive"].to_numpy() == approx(exp["fva_vs_naive"].to_numpy())
    emea = got[got["region"] == "EMEA"].set_index("stage")
    assert emea.index.tolist() == ["naive", "statistical", "sales"]
    assert len(set(emea["n"])) == 1  # every stage compared on the same item-periods
    assert np.isnan(emea.loc["naive", "fva_vs_previous"])
    assert emea.loc["sales", "fva_vs_previous"] == approx(emea.loc["statistical", "wape"] - emea.loc["sales", "wape"])
    assert emea.loc["sales", "fva_vs_naive"] == approx(emea.loc["naive", "wape"] - emea.loc["sales", "wape"])
    # plain per-stage accuracy keeps every row: n there = matched n + left out
    plain = cube.accuracy(["region", "stage"], lag=1)
    plain = plain[plain["region"] == "EMEA"].set_index("stage")["n"]
    assert (plain == emea["n"] + emea["left_out"]).all()


def test_fva_by_hand(loaded, config):
    # Matched sample: derived naive F(t,1) = A(t-2) exists only for 2025-03, so every stage is compared on
    # the two item-periods A/2025-03 (A = 40) and B/2025-03 (A = 15); sum |A| = 55.
    #   naive       F = A(2025-01) = 10, 5      |e| = 30, 10 -> wape 40/55
    #   statistical F = 30, 10                  |e| = 10, 5  -> wape 15/55
    #   consensus   F = 35, 20                  |e| = 5, 5   -> wape 10/55
    # statistical and consensus each leave out their two 2025-02 rows.
    got = cube_of(loaded, config).fva().set_index("stage")
    assert got.index.tolist() == ["naive", "statistical", "consensus"]
    assert got["wape"].tolist() == approx([40 / 55, 15 / 55, 10 / 55])
    assert got["n"].tolist() == [2, 2, 2]
    assert got["left_out"].tolist() == [0, 2, 2]
    assert got.loc["consensus", "fva_vs_previous"] == approx(15 / 55 - 10 / 55)
    assert got.loc["consensus", "fva_vs_naive"] == approx(40 / 55 - 10 / 55)


def test_fva_matched_in_metrics_by_hand():
    rows = pd.DataFrame(
        {
            "item": ["A", "A", "A", "A", "B", "B"],
            "period": [1, 1, 2, 2, 1, 1],
            "lag": [1] * 6,
            "stage": ["naive", "stat", "naive", "stat", "naive", "stat"],
            "actual": [10, 10, 20, 20, 5, 5],
            "forecast": [12, 11, 25, None, 5, 8],
        }
    )
    # A/2 has no stat forecast: left out of the sample (naive loses one row, stat none).
    out = accuracy.fva_matched(rows, ["naive", "stat"]).set_index("stage")
    assert out["n"].tolist() == [2, 2] and out["left_out"].tolist() == [1, 0]
    assert out.loc["naive", "wape"] == approx(2 / 15) and out.loc["stat", "wape"] == approx(4 / 15)
    assert out.loc["stat", "fva_vs_previous"] == approx(2 / 15 - 4 / 15)


def test_default_stage_is_last_configured_stage_with_data(loaded, config):
    cube = cube_of(loaded, config)
    assert forecast.final_stage(cube) == "consensus"
    r = cube.accuracy([]).iloc[0]
    # consensus lag 1: e = -8, -5, +2, +5 over A = 20, 40, 0, 15
    assert r["n"] == 4 and r["wape"] == approx(20 / 75) and r["bias"] == approx((-8 - 5 + 2 + 5) / 75)
    assert r["mape_excluded"] == 1 and r["mape"] == approx((8 / 20 + 5 / 40 + 5 / 15) / 3)


def test_exceptions_rank_by_abs_error_and_include_flagged(generated):
    _e, _c, cube, _d = generated
    ex = cube.exceptions(top=5, lag=1)
    assert ex["rank"].iloc[:5].tolist() == [1, 2, 3, 4, 5]
    assert (ex["abs_error"].diff().dropna() <= 0).all()
    fr = cube.frame()
    fr = fr[(fr["stage"] == "sales") & (fr["lag"] == 1)]
    ts = accuracy.tracking_signal(fr, window=cube.tracking_window, limit=cube.tracking_limit).set_index("item")
    flagged = set(ts.index[ts["flagged"]])
    assert flagged <= set(ex["item"])
    got = ex.set_index("item")
    for item in got.index:
        assert got.loc[item, "ts"] == approx(ts.loc[item, "ts"], nan_ok=True)
    contrib = accuracy.error_contribution(fr.assign(item=fr["item"].astype(str)), ["item"]).set_index("item")
    top = contrib.index[:5].tolist()
    assert got.index[:5].tolist() == top
    assert got.loc[top[0], "share"] == approx(contrib.loc[top[0], "share"])
    assert {"family", "region", "channel", "abc", "xyz", "flagged", "wape", "bias", "n"} <= set(ex.columns)


def test_exceptions_over_too_few_periods_have_no_tracking_signal(generated):
    # over the last 4 periods |TS| <= 4 = the limit: no item can be flagged, so none gets a TS (it would be
    # noise: over one period every TS is ±1); the list is the largest error contributors alone
    _e, _c, cube, _d = generated
    assert cube.tracking_limit == 4
    p = cube.periods
    for span in (1, 4):
        ex = cube.exceptions(top=10, lag=1, period_from=p[-span], period_to=p[-1])
        assert len(ex) == 10 and ex["ts"].isna().all() and not ex["flagged"].any()
    ex = cube.exceptions(top=10, lag=1, period_from=p[-5], period_to=p[-1])
    assert ex["ts"].notna().any()


def test_item_series_and_items_of(generated):
    _e, _c, cube, demand = generated
    s = cube.item_series(["SKU-000004"], lag=2, stage="statistical", period_from="2024-01-15", period_to="2024-02-05")
    assert list(s.columns) == ["item", "period", "actual", "forecast"] and len(s) == 4
    d = demand[(demand["item"].astype(str) == "SKU-000004")]
    d = d.assign(period=pd.to_datetime(d["period"])).set_index("period")["actual"]
    assert s["actual"].tolist() == d.loc[s["period"]].tolist()
    fams = cube.attributes["family"]
    assert cube.items_of({"family": [fams[0]]}) == sorted(
        demand.loc[demand["family"].astype(str) == fams[0], "item"].astype(str).unique().tolist()
    )
    assert set(cube.attributes) == {"family", "region", "channel", "abc", "xyz"}
    assert cube.attributes["abc"] == ["A", "B", "C"]


def test_cube_cache_and_snapshot(loaded, config, admin, tmp_path, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_CUBE_CACHE", str(tmp_path / "cubes"))
    forecast.clear_cache()
    first = cube_of(loaded, config)
    assert cube_of(loaded, config) is first  # in-memory cache per data version
    snaps = list((tmp_path / "cubes").glob("cube-*"))
    assert len(snaps) == 1 and snaps[0].is_dir()
    assert {f.suffix for f in snaps[0].iterdir()} == {".npy", ".json"}  # arrays and JSON: nothing to unpickle
    forecast.clear_cache()  # a new process: read from the snapshot, same figures
    again = cube_of(loaded, config)
    assert again is not first
    pd.testing.assert_frame_equal(again.accuracy(["item", "lag"]), first.accuracy(["item", "lag"]))
    load(loaded, config, admin, csv("item,period,lag,stage,forecast\nA,2025-03,1,consensus,38"), "forecasts")
    changed = cube_of(loaded, config)  # new data version: rebuilt, not the old snapshot
    assert changed.accuracy([], lag=1).iloc[0]["wape"] == approx((8 + 2 + 2 + 5) / 75)
    forecast.clear_cache(snapshots=True)
    assert not list((tmp_path / "cubes").glob("cube-*"))


def test_snapshot_with_a_pickled_array_is_never_unpickled(loaded, config, tmp_path, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_CUBE_CACHE", str(tmp_path / "cubes"))
    forecast.clear_cache()
    first = cube_of(loaded, config)
    snap = next((tmp_path / "cubes").glob("cube-*"))
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    victim = next(snap.glob("*.npy"))
    np.save(victim, np.array([Evil()], dtype=object), allow_pickle=True)
    forecast.clear_cache()
    again = cube_of(loaded, config)  # the snapshot is refused and the cube rebuilt from the database
    assert not marker.exists()
    pd.testing.assert_frame_equal(again.accuracy(["lag"]), first.accuracy(["lag"]))


@pytest.mark.parametrize("how", ["writable by others", "owned by another account"])
def test_an_unsafe_cache_folder_is_not_used(loaded, config, tmp_path, monkeypatch, how):
    import os

    folder = tmp_path / "cubes"
    folder.mkdir(mode=0o700)
    if how == "writable by others":
        os.chmod(folder, 0o777)
    else:
        if os.getuid() != 0:
            pytest.skip("changing a folder's owner needs root")
        os.chown(folder, 65534, 65534)
    monkeypatch.setenv("SOP_PULSE_CUBE_CACHE", str(folder))
    forecast.clear_cache()
    cube = cube_of(loaded, config)  # works, from the database
    assert cube is not None and not list(folder.glob("cube-*"))


def test_bad_view_arguments(generated):
    _e, _c, cube, _d = generated
    with pytest.raises(ValueError, match="unknown column 'colour'"):
        cube.accuracy(["colour"])
    with pytest.raises(ValueError, match="unknown stage"):
        cube.accuracy([], stage="consensus")
    with pytest.raises(ValueError, match="unknown filter"):
        cube.accuracy([], filters={"colour": ["red"]})
    assert cube.accuracy(["family"], lag=9).empty


# --------------------------------------------------------------------------- computed KPI values
def test_computed_kpi_values_by_hand(loaded, config):
    # consensus, lag 1 (headline): 2025-02: A 20 + 0, F 12 + 2 -> |e| 8 + 2 = 10 ; e = -8 + 2 = -6
    #   accuracy = 1 - 10/20 = 0.5 ; bias = -6/20 = -0.3
    # 2025-03: A 40 + 15, F 35 + 20 -> |e| 5 + 5 = 10, e = -5 + 5 = 0 -> accuracy 1 - 10/55, bias 0
    out = forecast.computed_kpi_values(loaded, config)
    assert list(out.columns) == ["kpi_id", "segment", "period", "value", "note"]
    assert out["period"].dtype.kind == "M" and (out["segment"] == "").all()
    got = out.set_index(["kpi_id", "period"])["value"]
    assert got[("forecast_accuracy", pd.Timestamp("2025-02-01"))] == approx(0.5)
    assert got[("forecast_accuracy", pd.Timestamp("2025-03-01"))] == approx(1 - 10 / 55)
    assert got[("forecast_bias", pd.Timestamp("2025-02-01"))] == approx(-0.3)
    assert got[("forecast_bias", pd.Timestamp("2025-03-01"))] == approx(0.0)
    assert len(out) == 4


def test_computed_kpi_values_roll_weeks_up_to_the_kpi_month(engine, config, admin):
    # weeks 2025-W05 (Mon 27 Jan, January) and W06 (Mon 3 Feb, February), W07 (February)
    load(engine, config, admin, csv("item,period,actual\nA,2025-W05,10\nA,2025-W06,10\nA,2025-W07,30"), "demand")
    load(
        engine,
        config,
        admin,
        csv("""
        item,period,lag,stage,forecast
        A,2025-W05,1,consensus,12
        A,2025-W06,1,consensus,5
        A,2025-W07,1,consensus,33
    """),
        "forecasts",
    )
    out = forecast.computed_kpi_values(engine, config)
    acc = out[out["kpi_id"] == "forecast_accuracy"].set_index("period")["value"]
    assert acc.index.tolist() == [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")]
    assert acc.tolist() == approx([1 - 2 / 10, 1 - (5 + 3) / 40])


def test_computed_kpi_values_match_the_demo_calculation(demo_db):
    from kpis import demo
    from kpis.store.engine import make_engine

    cfg = load_config(ROOT / "config.toml")
    engine = make_engine(demo_db)
    with engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT count(*) FROM kpi_value WHERE kpi_id IN ('forecast_accuracy', 'forecast_bias')"
        ).scalar_one()
        rows = conn.exec_driver_sql(
            "SELECT i.code, f.period, f.lag, f.stage, f.forecast FROM forecast f JOIN item i ON i.id = f.item_id"
        ).all()
        drows = conn.exec_driver_sql(
            "SELECT i.code, d.period, d.actual FROM demand_actual d JOIN item i ON i.id = d.item_id"
        ).all()
    assert stored == 0  # no longer written as imported values
    f = pd.DataFrame(rows, columns=["item", "period", "lag", "stage", "forecast"])
    a = pd.DataFrame(drows, columns=["item", "period", "actual"])
    exp = demo.forecast_kpis(a, f, lag=cfg.forecast.headline_lag)
    got = forecast.computed_kpi_values(engine, cfg)
    for kid in ("forecast_accuracy", "forecast_bias"):
        e = exp[exp["kpi_id"] == kid].set_index(pd.to_datetime(exp.loc[exp["kpi_id"] == kid, "period"]))["value"]
        g = got[got["kpi_id"] == kid].set_index("period")["value"]
        assert g.index.tolist() == e.index.tolist()
        assert g.to_numpy() == approx(e.to_numpy())
    engine.dispose()


# --------------------------------------------------------------------------- config
def _raw_config() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))


def test_config_forecast_kpis():
    cfg = load_config(ROOT / "config.toml")
    k = cfg.kpi_by_id
    assert (k["forecast_accuracy"].source, k["forecast_accuracy"].forecast_metric) == ("forecast", "accuracy")
    assert (k["forecast_bias"].source, k["forecast_bias"].forecast_metric) == ("forecast", "bias")


def test_config_source_forecast_requires_metric():
    raw = _raw_config()
    raw["kpi"][0].pop("forecast_metric")
    with pytest.raises(ConfigError) as exc:
        parse_config(raw)
    assert any(
        "KPI 'forecast_accuracy' field 'forecast_metric': is required when source is 'forecast'" in p
        for p in exc.value.problems
    )
    raw = _raw_config()
    raw["kpi"][2]["forecast_lag"] = 2
    with pytest.raises(ConfigError, match="field 'forecast_lag': only applies when source is 'forecast'"):
        parse_config(raw)


def test_forecast_lag_is_used(loaded, config):
    raw = _raw_config()
    raw["kpi"][0]["forecast_lag"] = 2
    cfg = parse_config(raw)
    assert forecast.computed_kpi_values(loaded, cfg).query("kpi_id == 'forecast_accuracy'").empty  # no lag-2 data


# --------------------------------------------------------------------------- CLI
def run_cli(args: list[str], db: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "SOP_PULSE_USER": "cli-test",
        "SOP_PULSE_CUBE_CACHE": str(db.parent / "cubes"),
    }
    return subprocess.run(
        [sys.executable, "-m", "kpis", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_import_accuracy_and_fva(tmp_path):
    db = tmp_path / "cli.db"
    (tmp_path / "demand.csv").write_bytes(DEMAND)
    (tmp_path / "forecasts.csv").write_bytes(FORECASTS)
    assert run_cli(["db", "upgrade"], db).returncode == 0
    r = run_cli(["import", "demand", str(tmp_path / "demand.csv")], db)
    assert r.returncode == 0 and "6 inserted" in r.stdout, r.stderr
    r = run_cli(["import", "forecasts", str(tmp_path / "forecasts.csv")], db)
    assert r.returncode == 0 and "8 inserted" in r.stdout, r.stderr
    r = run_cli(["accuracy", "--by", "family,period", "--format", "csv"], db)
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(io.StringIO(r.stdout))
    assert list(out.columns) == ["family", "period", *METRIC_COLUMNS]
    assert out["period"].tolist() == ["2025-02", "2025-03", "2025-02", "2025-03"]
    assert out.loc[0, "wape"] == approx(8 / 20)  # Pumps, consensus (the default final stage), 2025-02
    r = run_cli(["accuracy", "--by", "stage", "--lag", "1", "--from", "2025-03", "--to", "2025-03"], db)
    assert r.returncode == 0 and r.stdout.split("\n")[0].split() == ["stage", *METRIC_COLUMNS]
    assert [line.split()[0] for line in r.stdout.strip().splitlines()[1:]] == ["naive", "statistical", "consensus"]
    r = run_cli(["fva", "--by", "region", "--format", "csv"], db)
    out = pd.read_csv(io.StringIO(r.stdout))
    assert list(out.columns) == ["region", "stage", "n", "wape", "fva_vs_previous", "fva_vs_naive", "left_out"]
    r = run_cli(["accuracy", "--by", "colour"], db)
    assert r.returncode == 2 and "unknown column 'colour'" in r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"item,period,lag,stage,forecast\nA,2025-02,-1,consensus,1\n")
    r = run_cli(["import", "forecasts", str(bad)], db)
    assert r.returncode == 2 and "bad.csv, row 2, column 'lag'" in r.stderr


def test_cli_csv_answers_from_the_snapshot_without_pandas_or_sqlalchemy(tmp_path):
    db = tmp_path / "cli.db"
    (tmp_path / "demand.csv").write_bytes(DEMAND)
    (tmp_path / "forecasts.csv").write_bytes(FORECASTS)
    assert run_cli(["db", "upgrade"], db).returncode == 0
    assert run_cli(["import", "demand", str(tmp_path / "demand.csv")], db).returncode == 0
    assert run_cli(["import", "forecasts", str(tmp_path / "forecasts.csv")], db).returncode == 0  # writes the snapshot
    slow = run_cli(["accuracy", "--by", "period,lag", "--format", "table"], db)  # the pandas path
    probe = (
        "import sys; from kpis.cli import main; rc = main(['accuracy', '--by', 'period,lag', '--format', 'csv']); "
        "print('LOADED', sorted(m for m in ('pandas.core', 'sqlalchemy') if m in sys.modules)); sys.exit(rc)"
    )
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "SOP_PULSE_USER": "cli-test",
        "SOP_PULSE_CUBE_CACHE": str(db.parent / "cubes"),
    }
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    body, loaded = r.stdout.rsplit("LOADED", 1)
    assert loaded.strip() == "[]"
    fast = pd.read_csv(io.StringIO(body))
    table = pd.read_csv(io.StringIO(slow.stdout), sep=r"\s+")
    assert list(fast.columns) == ["period", "lag", *METRIC_COLUMNS]
    assert fast["period"].tolist() == table["period"].tolist() and fast["n"].tolist() == table["n"].tolist()
    assert fast["wape"].to_numpy() == approx(table["wape"].to_numpy(), abs=1e-4)


# --------------------------------------------------------------------------- cube version
def test_forecast_version_moves_only_with_forecast_data(loaded, config, admin):
    from kpis.catalog.load import import_actuals
    from kpis.catalog.sync import sync_catalog

    v = forecast.forecast_version(loaded)
    assert v > 0
    sync_catalog(loaded, config, admin)
    import_actuals(loaded, b"kpi,period,value\notif,2025-01,0.93\n", "a.csv", config=config, user=admin)
    assert forecast.forecast_version(loaded) == v  # catalog sync and KPI imports leave the cube alone
    load(
        loaded,
        config,
        admin,
        FORECASTS.replace(b"A,2025-02,1,consensus,12", b"A,2025-02,1,consensus,13"),
        "forecasts",
        "changed.csv",
    )
    assert forecast.forecast_version(loaded) > v


def test_import_builds_the_cube_at_load_time(engine, config, admin, monkeypatch):
    load(engine, config, admin, DEMAND, "demand", "demand.csv")
    load(engine, config, admin, FORECASTS, "forecasts", "forecasts.csv")
    built = []
    monkeypatch.setattr(
        forecast.ForecastCube,
        "__init__",
        lambda *a, **k: built.append(1) or (_ for _ in ()).throw(AssertionError("rebuilt")),
    )
    cube = forecast.get_cube(engine, config, forecast.forecast_version(engine))  # served from the cache
    assert cube is not None and not built


def test_stage_names_are_bound_parameters_not_sql(engine, config, admin):
    import dataclasses

    odd = "sales'); DROP TABLE item; --"
    cfg = dataclasses.replace(config, forecast=config.forecast.model_copy(update={"stages": ["statistical", odd]}))
    load(engine, cfg, admin, DEMAND, "demand", "demand.csv")
    data = f'item,period,lag,stage,forecast\nA,2025-02,1,"{odd}",12\nA,2025-03,1,"{odd}",35\n'.encode()
    assert load(engine, cfg, admin, data, "forecasts", "odd.csv").inserted == 2
    assert load(engine, cfg, admin, data, "forecasts", "odd.csv").inserted == 0  # re-import reads it back
    assert count(engine, Item) == 2  # the item table is intact
    cube = forecast.get_cube(engine, cfg, forecast.forecast_version(engine))
    assert odd in cube.stages


def test_final_stage_ignores_stages_no_longer_configured(loaded, config):
    import dataclasses

    # consensus and statistical are loaded; drop consensus from the config after the fact
    cfg = dataclasses.replace(config, forecast=config.forecast.model_copy(update={"stages": ["naive", "statistical"]}))
    cube = forecast.get_cube(loaded, cfg, forecast.forecast_version(loaded))
    assert "consensus" in cube.stages  # still viewable on purpose
    assert forecast.final_stage(cube) == "statistical"


def test_mixed_granularity_tie_blames_the_row_unlike_stored_data(loaded, config, admin):
    # the stored data is monthly; one weekly-looking row and one monthly row: the weekly one is wrong
    bad = b"item,period,lag,stage,forecast\nA,2025-W10,1,consensus,10\nA,2025-03,1,consensus,11\n"
    with pytest.raises(ImportFailed) as e:
        load(loaded, config, admin, bad, "forecasts", "mixed.csv")
    rows = {p.row for p in e.value.problems if p.row is not None}
    assert rows == {2}
