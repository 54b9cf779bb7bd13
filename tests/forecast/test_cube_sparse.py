"""The forecast cube on sparse histories: memory follows the item-periods present (not items x calendar), figures
agree with kpis.forecast.metrics on the raw rows (items that start late, stop early, have gaps, or lie years apart),
a by-hand case, the size limit as a clear message (app and CLI), and one cube per data version in the cache."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpis import forecast, periods
from kpis.access.users import User
from kpis.config import load_config
from kpis.forecast import cache, cube_build
from kpis.forecast import cube as cube_module
from kpis.forecast import metrics as accuracy
from kpis.forecast.common import period_start
from kpis.forecast.metrics import METRIC_COLUMNS
from kpis.forecast.sql import Raw
from kpis.store.audit import data_version

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from generate import generate  # noqa: E402

approx = pytest.approx


@pytest.fixture(autouse=True, scope="module")
def no_cube_snapshots():
    old = os.environ.get("SOP_PULSE_CUBE_CACHE")
    os.environ["SOP_PULSE_CUBE_CACHE"] = "off"
    yield
    if old is None:
        os.environ.pop("SOP_PULSE_CUBE_CACHE", None)
    else:
        os.environ["SOP_PULSE_CUBE_CACHE"] = old


def parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def with_season(cfg, m: int):
    return dataclasses.replace(cfg, forecast=cfg.forecast.model_copy(update={"season_length": m}))


# --------------------------------------------------------------------------- ragged data vs metrics on raw rows
@pytest.fixture(scope="module", params=[1, 2], ids=["m1", "m2"])
def ragged(request, tmp_path_factory):
    """Generated weekly data made ragged: items start late, stop early, have gaps, one item lives 20 years later."""
    from kpis.store.engine import make_engine, upgrade

    folder = tmp_path_factory.mktemp("ragged")
    paths = generate(folder, items=30, periods=40, lags=3, stages=2, seed=11)
    d = pd.read_parquet(paths["demand"]).astype({"item": str, "family": str, "region": str, "channel": str})
    f = pd.read_parquet(paths["forecasts"]).astype({"item": str, "stage": str})
    d["period"], f["period"] = pd.to_datetime(d["period"]), pd.to_datetime(f["period"])
    rng = np.random.default_rng(5)
    weeks = np.sort(d["period"].unique())
    start = {it: weeks[rng.integers(0, 20)] for it in d["item"].unique()}
    stop = {it: weeks[rng.integers(20, 40)] for it in d["item"].unique()}
    alive_d = (d["period"] >= d["item"].map(start)) & (d["period"] <= d["item"].map(stop))
    alive_f = (f["period"] >= f["item"].map(start)) & (f["period"] <= f["item"].map(stop))
    d, f = d[alive_d & (rng.random(len(d)) > 0.1)], f[alive_f & (rng.random(len(f)) > 0.15)]
    far = d[d["item"] == "SKU-000000"].copy()  # the same history again, 20 years on, for a new item
    far["item"], far["period"] = "SKU-FAR", far["period"] + pd.Timedelta(weeks=52 * 20)
    far_f = f[f["item"] == "SKU-000000"].copy()
    far_f["item"], far_f["period"] = "SKU-FAR", far_f["period"] + pd.Timedelta(weeks=52 * 20)
    d, f = pd.concat([d, far], ignore_index=True), pd.concat([f, far_f], ignore_index=True)
    engine = make_engine(f"sqlite:///{folder / 'ragged.db'}")
    upgrade(engine)
    cfg = with_season(load_config(ROOT / "config.toml"), request.param)
    user = User(name="gen", role="admin")
    forecast.import_file(engine, parquet(d), kind="demand", config=cfg, user=user, filename="d.parquet")
    forecast.import_file(engine, parquet(f), kind="forecasts", config=cfg, user=user, filename="f.parquet")
    forecast.clear_cache()
    cube = forecast.get_cube(engine, cfg, data_version(engine))
    return cube, expected_rows(d, f, cfg), d


def expected_rows(d: pd.DataFrame, f: pd.DataFrame, cfg) -> tuple[pd.DataFrame, pd.Series]:
    """Every (item, period, lag, stage) row with its actual and attributes, derived naive included, straight from
    the raw rows with kpis.forecast.metrics (no cube involved), and the MASE scale per item."""
    m = cfg.forecast.season_length
    hist = pd.DataFrame(
        {"item": d["item"], "period": periods.period_number(d["period"], "week"), "actual": d["actual"].to_numpy()}
    )
    fr = f.assign(period=periods.period_number(f["period"], "week"))[["item", "period", "lag", "stage", "forecast"]]
    lags = sorted(fr["lag"].unique().tolist())
    naive = accuracy.derive_naive(hist, lags, season_length=m)
    where = fr[["item", "period", "lag"]].drop_duplicates()
    naive = naive.merge(where, on=["item", "period", "lag"])
    # derive_naive makes rows only where the target period has an actual; the cube also keeps naive forecasts of
    # periods without one, which never count (no A): left out here too
    rows = pd.concat([fr, naive], ignore_index=True).merge(hist, on=["item", "period"], how="left")
    seg = accuracy.abc_xyz(hist)
    attrs = d.drop_duplicates("item").set_index("item")[["family", "region", "channel"]]
    rows = rows.join(attrs, on="item").join(seg[["abc", "xyz"]], on="item")
    rows["period"] = pd.to_datetime(period_start(rows["period"].to_numpy(), "week"))
    scale = accuracy.mase_scale(hist, season_length=m)
    return rows, scale


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


CASES = [
    dict(by=[]),
    dict(by=["item"]),
    dict(by=["period"]),
    dict(by=["lag"]),
    dict(by=["stage"]),
    dict(by=["family", "period"]),
    dict(by=["item", "lag"]),
    dict(by=["abc", "xyz"]),
    dict(by=["period", "item"]),
    dict(by=["item"], lo="2024-03-04", hi="2024-07-01"),
    dict(by=["item"], lo="2024-02-12", hi="2024-02-26", stage="sales", lag=1),
    dict(by=["region"], lag=2, lo="2024-04-01", filters={"family": ["Pumps", "Valves", "Seals"]}),
    dict(by=["period"], filters={"item": ["SKU-000003", "SKU-FAR"]}),
    dict(by=["stage"], lo="2043-01-01"),  # only the far item
    dict(by=["item"], lo="2025-06-02", hi="2043-01-01"),  # the empty years between
    dict(by=[], stage="naive", lag=0),
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_ragged_histories_match_metrics_on_the_raw_rows(ragged, case):
    cube, (rows, scale), _d = ragged
    by = case["by"]
    got = cube.accuracy(
        by,
        stage=case.get("stage"),
        lag=case.get("lag"),
        period_from=case.get("lo"),
        period_to=case.get("hi"),
        filters=case.get("filters"),
    )
    fr = rows
    if "stage" not in by:
        fr = fr[fr["stage"] == (case.get("stage") or forecast.final_stage(cube))]
    if case.get("lag") is not None:
        fr = fr[fr["lag"] == case["lag"]]
    if case.get("lo"):
        fr = fr[fr["period"] >= pd.Timestamp(case["lo"])]
    if case.get("hi"):
        fr = fr[fr["period"] <= pd.Timestamp(case["hi"])]
    for k, v in (case.get("filters") or {}).items():
        fr = fr[fr[k].isin(v)]
    exp = accuracy.accuracy_table(fr, by, scale=scale)
    exp = exp[exp["n"] > 0] if len(exp) else exp
    assert_same(got, exp.reset_index(drop=True), by)


def test_ragged_fva_tracking_and_series_match_metrics(ragged):
    cube, (rows, _scale), d = ragged
    got = cube.fva(["family"], lag=1)
    sample = rows[rows["lag"] == 1]
    exp = accuracy.fva_matched(sample, cube.stages, by=["family"])
    assert got["family"].tolist() == exp["family"].tolist() and got["stage"].tolist() == exp["stage"].tolist()
    assert got["n"].tolist() == exp["n"].tolist()
    assert got["wape"].to_numpy() == approx(exp["wape"].to_numpy(), nan_ok=True)
    ex = cube.exceptions(lag=1, top=1000)
    final = rows[(rows["stage"] == forecast.final_stage(cube)) & (rows["lag"] == 1)]
    ts = accuracy.tracking_signal(final, window=cube.tracking_window, limit=cube.tracking_limit).set_index("item")
    mine = ex.set_index("item")["ts"]
    assert mine.to_numpy() == approx(ts.loc[mine.index, "ts"].to_numpy(), nan_ok=True)
    s = cube.item_series(["SKU-FAR", "SKU-000004"], lag=1)
    assert set(s["item"]) == {"SKU-FAR", "SKU-000004"}
    far = s[s["item"] == "SKU-FAR"]
    assert far["period"].min() >= pd.Timestamp("2043-01-01")
    actual = d[d["item"] == "SKU-FAR"].set_index("period")["actual"]
    have = far.dropna(subset=["actual"]).set_index("period")["actual"]
    assert (have == actual.loc[have.index]).all() and len(have) == len(actual)


def test_ragged_cube_holds_only_the_item_periods_present(ragged):
    cube, _rows, d = ragged
    assert cube.periods[0] == d["period"].min() and cube.periods[-1] == d["period"].max()  # calendar range kept
    assert len(cube.periods) > 20 * 52
    assert len(cube.a) <= len(d) + 3 * 30 * 40  # item-periods with a row, not items x 1,000+ weeks


# --------------------------------------------------------------------------- by hand
def test_late_start_and_early_stop_by_hand(engine, config, admin):
    """Monthly: A from 2024-01 to 2024-06, B only 2024-04..2024-05 (starts late, stops early), season length 1."""
    demand = (
        "item,period,actual\n"
        + "".join(f"A,2024-{m:02d},{v}\n" for m, v in zip(range(1, 7), [10, 20, 30, 40, 50, 60]))
        + "B,2024-04,8\nB,2024-05,4\n"
    ).encode()
    fc = (
        "item,period,lag,stage,forecast\n"
        + "".join(f"A,2024-{m:02d},1,consensus,{v}\n" for m, v in zip(range(2, 7), [25, 25, 45, 45, 55]))
        + "B,2024-05,1,consensus,6\nB,2024-06,1,consensus,3\n"
    ).encode()
    forecast.import_file(engine, demand, kind="demand", config=config, user=admin, filename="d.csv")
    forecast.import_file(engine, fc, kind="forecasts", config=config, user=admin, filename="f.csv")
    cube = forecast.get_cube(engine, config, data_version(engine))
    by_item = cube.accuracy(["item"], lag=1).set_index("item")
    # A: |25-20| + |25-30| + |45-40| + |45-50| + |55-60| = 25 over 200; MASE scale mean |A_t - A_t-1| = 10
    assert by_item.loc["A", "n"] == 5 and by_item.loc["A", "wape"] == approx(25 / 200)
    assert by_item.loc["A", "mase"] == approx(25 / 5 / 10)
    # B: only 2024-05 has both (6 vs 4); 2024-06 has no actual; scale |4 - 8| = 4
    assert by_item.loc["B", "n"] == 1 and by_item.loc["B", "wape"] == approx(2 / 4)
    assert by_item.loc["B", "mase"] == approx(2 / 4)
    naive = cube.accuracy(["item"], stage="naive", lag=1).set_index("item")
    # naive lag 1 = A(t-2): A 2024-03..06 -> 10,20,30,40 vs 30,40,50,60; B 2024-05 has no A(2024-03)
    assert naive.loc["A", "n"] == 4 and naive.loc["A", "wape"] == approx(80 / 180)
    assert "B" not in naive.index
    part = cube.accuracy(["item"], lag=1, period_from="2024-05", period_to="2024-06").set_index("item")
    assert part.loc["A", "n"] == 2 and part.loc["A", "wape"] == approx(10 / 110)
    assert part.loc["B", "n"] == 1
    assert cube.accuracy(["item"], lag=1, period_from="2024-07").empty
    s = cube.item_series(["B"], lag=1)
    assert s["period"].dt.strftime("%Y-%m").tolist() == ["2024-04", "2024-05", "2024-06"]
    assert s["actual"].tolist()[:2] == [8, 4] and np.isnan(s["actual"].iloc[2])


# --------------------------------------------------------------------------- the pathological grid
def raw_two_weeks_25_years_apart(n_items: int) -> Raw:
    """n_items items, each with actuals and 4 lags of one stage in two weeks 25 years apart (weekly)."""
    ids = np.arange(1, n_items + 1, dtype=np.int64)
    days = np.array(
        [
            (np.datetime64("2000-01-03") - np.datetime64("1970-01-01")).astype(int),
            (np.datetime64("2025-01-06") - np.datetime64("1970-01-01")).astype(int),
        ],
        dtype=np.int64,
    )
    item = np.repeat(ids, 2)
    day = np.tile(days, n_items)
    d_key = (item << 32) | (day << 16)
    d_val = np.tile([100.0, 120.0], n_items)
    f_item, f_day, f_lag = (np.repeat(item, 4), np.repeat(day, 4), np.tile(np.arange(4, dtype=np.int64), 2 * n_items))
    f_key = (f_item << 32) | (f_day << 16) | (f_lag << 6) | 3  # stage index 3 = consensus
    f_val = np.full(len(f_key), 110.0)
    stages = ["naive", "statistical", "sales", "consensus"]
    return Raw(
        ids, [f"I{i:05d}" for i in ids], [{"family": f"F{i % 7}"} for i in ids], d_key, d_val, f_key, f_val, stages
    )


def test_two_weeks_25_years_apart_take_little_memory():
    cfg = load_config(ROOT / "config.toml")
    cube = cube_module.ForecastCube(raw_two_weeks_25_years_apart(18_000), cfg)
    assert len(cube.periods) > 25 * 52  # the calendar range is there for windows and labels
    assert cube.memory_mb() < 40  # 18,000 x 1,300 weeks x 4 lags x 2 stages would be 1.2 GB
    r = cube.accuracy([]).iloc[0]
    assert r["n"] == 18_000 * 2 * 4 and r["wape"] == approx((10 * 2) / 220)
    by_period = cube.accuracy(["period"])
    assert by_period["period"].dt.strftime("%Y-%m-%d").tolist() == ["2000-01-03", "2025-01-06"]
    assert cube.accuracy([], period_from="2000-01-10", period_to="2024-12-30").empty
    assert cube.accuracy([], stage="naive").empty  # no actual a week or more before either week


# --------------------------------------------------------------------------- limits: a clear message
def test_too_large_is_a_clear_message_in_get_cube_and_the_cli(tmp_path, monkeypatch):
    from kpis.store.engine import make_engine, upgrade

    db = tmp_path / "big.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    cfg = load_config(ROOT / "config.toml")
    user = User(name="t", role="admin")
    forecast.import_file(
        engine,
        b"item,period,actual\nA,2024-01,1\nA,2024-02,2\n",
        kind="demand",
        config=cfg,
        user=user,
        filename="d.csv",
    )
    forecast.import_file(
        engine,
        b"item,period,lag,stage,forecast\nA,2024-02,1,consensus,2\n",
        kind="forecasts",
        config=cfg,
        user=user,
        filename="f.csv",
    )
    monkeypatch.setattr(cube_build, "_MAX_CELLS", 1)
    forecast.clear_cache()
    with pytest.raises(forecast.CubeTooLarge, match="too large for the in-memory accuracy views"):
        forecast.get_cube(engine, cfg, data_version(engine))
    engine.dispose()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db}",
        "SOP_PULSE_USER": "t",
        "SOP_PULSE_CUBE_CACHE": "off",
        "SOP_PULSE_MAX_CUBE_CELLS": "1",
    }
    r = subprocess.run([sys.executable, "-m", "kpis", "accuracy"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "too large for the in-memory accuracy views" in r.stderr


# --------------------------------------------------------------------------- one cube per data version
def test_a_new_data_version_replaces_the_cached_cube(tmp_path):
    from kpis.store.engine import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    cfg = load_config(ROOT / "config.toml")
    user = User(name="t", role="admin")
    forecast.clear_cache()
    forecast.import_file(
        engine,
        b"item,period,actual\nA,2024-01,1\nA,2024-02,2\n",
        kind="demand",
        config=cfg,
        user=user,
        filename="d.csv",
    )
    forecast.import_file(
        engine,
        b"item,period,lag,stage,forecast\nA,2024-02,1,consensus,2\n",
        kind="forecasts",
        config=cfg,
        user=user,
        filename="f.csv",
    )
    old_version = data_version(engine)
    old = forecast.get_cube(engine, cfg, old_version)
    forecast.import_file(
        engine,
        b"item,period,lag,stage,forecast\nA,2024-02,1,consensus,3\n",
        kind="forecasts",
        config=cfg,
        user=user,
        filename="f2.csv",
    )
    new = forecast.get_cube(engine, cfg, data_version(engine))
    assert new is not old
    held = [c for _k, (_v, _e, c) in cache._CACHE.items()]
    assert held == [new]  # the old version's cube is no longer held
    # a page still asking for the old version gets the newest cube, never a rebuild of the old one
    assert forecast.get_cube(engine, cfg, old_version) is new
    engine.dispose()
