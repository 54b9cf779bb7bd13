"""Tests for kpis.forecast.metrics (docs/methodology.md, Forecast accuracy): hand-calculated examples,
utilsforecast cross-checks
and a 500k-row comparison against a plain pandas reference.

Conventions: e = F - A (positive = over-forecast); every ratio is a fraction.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from kpis.forecast.metrics import (
    METRIC_COLUMNS,
    SUM_COLUMNS,
    abc_xyz,
    accuracy_table,
    aggregate,
    derive_naive,
    error_contribution,
    finalize,
    fva,
    mase_scale,
    row_terms,
    tracking_min_periods,
    tracking_signal,
)

approx = pytest.approx


def frame(actual, forecast, **cols) -> pd.DataFrame:
    """Small forecast frame with columns actual, forecast and any extra key columns."""
    return pd.DataFrame({**cols, "actual": actual, "forecast": forecast})


def one(df: pd.DataFrame, **kw) -> pd.Series:
    """The single overall row of accuracy_table(df, [])."""
    t = accuracy_table(df, [], **kw)
    assert len(t) == 1
    return t.iloc[0]


# --------------------------------------------------------------------------- basic metrics
def test_three_row_example_every_metric_by_hand():
    # A = 10, 20, 40 ; F = 12, 15, 46 ; item x with MASE scale 2
    # e = F - A = 2, -5, 6 ; |e| = 2, 5, 6 (sum 13) ; e^2 = 4, 25, 36 (sum 65) ; sum e = 3
    # n = 3 ; actual = 70 ; forecast = 73
    # mae  = 13/3 = 4.333333 ; rmse = sqrt(65/3) = 4.654747
    # wape = 13/70 = 0.185714 ; accuracy = 1 - 13/70 = 0.814286
    # mape = (2/10 + 5/20 + 6/40)/3 = (0.2 + 0.25 + 0.15)/3 = 0.2 ; mape_excluded = 0
    # bias = 3/70 = 0.042857 ; mase = (13/3)/2 = 2.166667
    df = frame([10.0, 20.0, 40.0], [12.0, 15.0, 46.0], item=["x", "x", "x"])
    t = accuracy_table(df, [], scale=pd.Series({"x": 2.0}))
    assert list(t.columns) == METRIC_COLUMNS
    r = t.iloc[0]
    assert r["n"] == 3
    assert r["actual"] == 70.0
    assert r["forecast"] == 73.0
    assert r["mae"] == approx(4.333333, abs=1e-6)
    assert r["rmse"] == approx(4.654747, abs=1e-6)
    assert r["wape"] == approx(0.185714, abs=1e-6)
    assert r["accuracy"] == approx(0.814286, abs=1e-6)
    assert r["mape"] == approx(0.2)
    assert r["mape_excluded"] == 0
    assert r["bias"] == approx(0.042857, abs=1e-6)
    assert r["mase"] == approx(2.166667, abs=1e-6)


def test_count_columns_are_integers():
    # n and mape_excluded are counts -> int64 after finalize
    t = accuracy_table(frame([0.0, 1.0], [1.0, 1.0]), [])
    assert t["n"].dtype == np.int64
    assert t["mape_excluded"].dtype == np.int64


def test_zero_actual_excluded_from_mape_but_in_wape():
    # A = 0, 10 ; F = 5, 8 ; e = 5, -2
    # wape = (5 + 2)/(0 + 10) = 0.7 (the A=0 row's error counts)
    # mape over A != 0 only = 2/10 = 0.2 ; mape_excluded = 1 ; n = 2
    r = one(frame([0.0, 10.0], [5.0, 8.0]))
    assert r["n"] == 2
    assert r["wape"] == approx(0.7)
    assert r["mape"] == approx(0.2)
    assert r["mape_excluded"] == 1


def test_all_zero_actuals_give_nan_wape_and_accuracy():
    # A = 0, 0 ; F = 1, 2 -> sum|A| = 0 -> wape NaN, accuracy NaN ; sum A = 0 -> bias NaN
    # no A != 0 row -> mape NaN, mape_excluded = 2 ; mae = (1 + 2)/2 = 1.5 still defined
    r = one(frame([0.0, 0.0], [1.0, 2.0]))
    assert np.isnan(r["wape"])
    assert np.isnan(r["accuracy"])
    assert np.isnan(r["bias"])
    assert np.isnan(r["mape"])
    assert r["mape_excluded"] == 2
    assert r["mae"] == approx(1.5)


def test_negative_forecasts():
    # A = 10, 5 ; F = -2, 5 ; e = -12, 0
    # wape = 12/15 = 0.8 ; accuracy = 0.2 ; bias = -12/15 = -0.8 ; mape = (12/10 + 0/5)/2 = 0.6
    r = one(frame([10.0, 5.0], [-2.0, 5.0]))
    assert r["wape"] == approx(0.8)
    assert r["accuracy"] == approx(0.2)
    assert r["bias"] == approx(-0.8)
    assert r["mape"] == approx(0.6)


def test_accuracy_floored_at_zero():
    # A = 10 ; F = -15 ; e = -25 ; wape = 2.5 ; accuracy = max(0, 1 - 2.5) = 0
    r = one(frame([10.0], [-15.0]))
    assert r["wape"] == approx(2.5)
    assert r["accuracy"] == 0.0


def test_rows_missing_actual_or_forecast_are_excluded():
    # rows: (10, 12) kept ; (NaN, 5) dropped ; (8, NaN) dropped ; (None, None) dropped
    # -> n = 1, actual = 10 (the 8 of the dropped row is not counted), forecast = 12
    r = one(frame([10.0, np.nan, 8.0, None], [12.0, 5.0, np.nan, None]))
    assert r["n"] == 1
    assert r["actual"] == 10.0
    assert r["forecast"] == 12.0
    assert r["wape"] == approx(0.2)


def test_bias_sign_over_forecast_positive():
    # A = 100, F = 110 -> e = +10 -> bias = +0.1 ; A = 100, F = 90 -> bias = -0.1
    assert one(frame([100.0], [110.0]))["bias"] == approx(0.1)
    assert one(frame([100.0], [90.0]))["bias"] == approx(-0.1)


GROUPED = frame(
    [10.0, 20.0, 10.0, 40.0],
    [12.0, 18.0, 15.0, 30.0],
    stage=["s1", "s1", "s1", "s2"],
    lag=[0, 0, 1, 0],
)


def test_group_by_two_columns():
    # (s1, 0): |e| = 2 + 2 = 4, sum A = 30 -> wape 0.133333, n 2
    # (s1, 1): |e| = 5, A = 10 -> wape 0.5, n 1
    # (s2, 0): |e| = 10, A = 40 -> wape 0.25, n 1
    t = accuracy_table(GROUPED, ["stage", "lag"])
    assert list(t.columns) == ["stage", "lag", *METRIC_COLUMNS]
    assert t[["stage", "lag"]].to_numpy().tolist() == [["s1", 0], ["s1", 1], ["s2", 0]]
    assert t["n"].tolist() == [2, 1, 1]
    assert t["wape"].to_numpy() == approx([0.133333, 0.5, 0.25], abs=1e-6)


def test_empty_by_gives_one_total_row():
    # all four rows: sum|e| = 2 + 2 + 5 + 10 = 19, sum A = 80 -> wape 0.2375, n 4
    t = accuracy_table(GROUPED, [])
    assert list(t.columns) == METRIC_COLUMNS
    assert len(t) == 1
    assert t["n"].iloc[0] == 4
    assert t["wape"].iloc[0] == approx(0.2375)


def test_categorical_keys_and_reaggregation_are_additive():
    # summing (stage, lag) sums again by stage equals summing rows by stage directly
    df = GROUPED.assign(stage=pd.Categorical(GROUPED["stage"], categories=["s2", "s1", "unused"]))
    terms = row_terms(df)
    direct = aggregate(terms, ["stage"])
    twice = aggregate(aggregate(terms, ["stage", "lag"]), ["stage"])
    assert direct["stage"].tolist() == ["s2", "s1"]  # category order, unused categories dropped
    pd.testing.assert_frame_equal(finalize(direct), finalize(twice))


def test_row_terms_keeps_key_columns_and_adds_sum_columns():
    # actual/forecast are replaced by the additive terms ; the (NaN, 1) row is dropped
    terms = row_terms(frame([1.0, np.nan], [2.0, 1.0], item=["a", "b"], lag=[0, 1]))
    assert list(terms.columns) == ["item", "lag", *SUM_COLUMNS]
    assert terms["item"].tolist() == ["a"]
    assert (terms[SUM_COLUMNS].dtypes == np.float64).all()


# --------------------------------------------------------------------------- MASE
HISTORY = pd.DataFrame(
    {
        "item": ["x"] * 5 + ["y"] * 5 + ["z"] * 5,
        "period": list(range(5)) * 3,
        "actual": [10.0, 12, 9, 15, 20] + [5.0] * 5 + [0.0, 2, 0, 2, 0],
    }
)


def test_mase_scale_season_1():
    # x: |12-10|, |9-12|, |15-9|, |20-15| = 2, 3, 6, 5 -> 16/4 = 4.0
    # y constant -> 0.0 ; z: 2, 2, 2, 2 -> 2.0
    s = mase_scale(HISTORY)
    assert s.to_dict() == {"x": 4.0, "y": 0.0, "z": 2.0}


def test_mase_scale_season_2():
    # x: |9-10|, |15-12|, |20-9| = 1, 3, 11 -> 15/3 = 5.0 ; z: |0-0|, |2-2|, |0-0| -> 0.0
    s = mase_scale(HISTORY, season_length=2)
    assert s["x"] == approx(5.0)
    assert s["z"] == 0.0


def test_mase_scale_pairs_need_both_periods():
    # periods 0, 1, 3 (2 missing): m=1 pairs only (1, 0): |7 - 4| = 3 -> 3.0 ;
    # (3, 2) is not formed because period 2 is absent ; a lone period -> NaN
    h = pd.DataFrame({"item": ["a", "a", "a", "b"], "period": [0, 1, 3, 0], "actual": [4.0, 7.0, 100.0, 1.0]})
    s = mase_scale(h)
    assert s["a"] == 3.0
    assert np.isnan(s["b"])


def test_mase_item_with_constant_history_left_out():
    # forecasts: x at 3, 4: A 15, 20 ; F 19, 18 -> |e| 4, 2 -> mae_x 3 -> mase_x = 3/4 = 0.75
    #            y at 4: A 5, F 9 -> |e| 4, but scale_y = 0 -> left out of mase (still in n, wape)
    # total mase = 0.75 (x only) ; n = 3 ; wape = (4 + 2 + 4)/(15 + 20 + 5) = 0.25
    fc = frame([15.0, 20.0, 5.0], [19.0, 18.0, 9.0], item=["x", "x", "y"])
    scale = mase_scale(HISTORY)
    r = one(fc, scale=scale)
    assert r["mase"] == approx(0.75)
    assert r["n"] == 3
    assert r["wape"] == approx(0.25)
    by_item = accuracy_table(fc, ["item"], scale=scale).set_index("item")
    assert by_item.loc["x", "mase"] == approx(0.75)
    assert np.isnan(by_item.loc["y", "mase"])


def test_mase_group_is_n_weighted_mean_of_item_mase():
    # x: 2 rows, mase_x = 3/4 = 0.75 (as above) ; z at 4: A 0, F 1 -> mae_z 1, scale 2 -> 0.5
    # group mase = (2*0.75 + 1*0.5)/3 = 2/3 = 0.666667
    fc = frame([15.0, 20.0, 0.0], [19.0, 18.0, 1.0], item=["x", "x", "z"])
    assert one(fc, scale=mase_scale(HISTORY))["mase"] == approx(2 / 3)


def test_mase_nan_without_scale():
    # no scale given -> no row has a usable scale -> mase NaN
    assert np.isnan(one(frame([1.0], [2.0]))["mase"])


# --------------------------------------------------------------------------- naive
def _naive_dict(nv: pd.DataFrame) -> dict:
    return {(r.lag, r.period): r.forecast for r in nv.itertuples()}


def test_derive_naive_lags_0_1_2():
    # A(x) = 10, 11, 12, 13, 14 at periods 0..4 ; naive F(t, k) = A(t - k - 1)
    # lag 0: t=1..4 -> 10, 11, 12, 13 ; lag 1: t=2..4 -> 10, 11, 12 ; lag 2: t=3..4 -> 10, 11
    acts = pd.DataFrame({"item": ["x"] * 5, "period": range(5), "actual": [10.0, 11, 12, 13, 14]})
    nv = derive_naive(acts, [0, 1, 2])
    assert list(nv.columns) == ["item", "period", "lag", "stage", "forecast"]
    assert set(nv["stage"]) == {"naive"}
    assert _naive_dict(nv) == {
        (0, 1): 10.0, (0, 2): 11.0, (0, 3): 12.0, (0, 4): 13.0,
        (1, 2): 10.0, (1, 3): 11.0, (1, 4): 12.0,
        (2, 3): 10.0, (2, 4): 11.0,
    }  # fmt: skip


def test_derive_seasonal_naive_m3_lag_0_and_4():
    # A = 5, 7, 9, 4, 6, 8, 3, 2 at periods 0..7 ; m = 3
    # lag 0: offset 3*ceil(1/3) = 3 -> F(t) = A(t-3): t=3..7 -> 5, 7, 9, 4, 6
    # lag 4: offset 3*ceil(5/3) = 6 -> F(t) = A(t-6): t=6, 7 -> 5, 7
    acts = pd.DataFrame({"item": ["x"] * 8, "period": range(8), "actual": [5.0, 7, 9, 4, 6, 8, 3, 2]})
    nv = derive_naive(acts, [0, 4], season_length=3)
    assert _naive_dict(nv) == {
        (0, 3): 5.0, (0, 4): 7.0, (0, 5): 9.0, (0, 6): 4.0, (0, 7): 6.0,
        (4, 6): 5.0, (4, 7): 7.0,
    }  # fmt: skip


def test_derive_naive_missing_source_actual_gives_no_row():
    # A(0) = NaN, A(1) = 3, A(2) = 4 ; lag 0: t=1 needs A(0) -> no row ; t=2 -> A(1) = 3
    acts = pd.DataFrame({"item": ["y"] * 3, "period": [0, 1, 2], "actual": [np.nan, 3.0, 4.0]})
    assert _naive_dict(derive_naive(acts, [0])) == {(0, 2): 3.0}


# --------------------------------------------------------------------------- FVA
def _stage_rows(wapes: dict, **keys) -> list[dict]:
    # one row per stage with A = 100 and |e| = 100*wape -> that stage's wape exactly
    return [{**keys, "stage": s, "actual": 100.0, "forecast": 100.0 + 100.0 * w} for s, w in wapes.items()]


def test_fva_stairstep_with_value_destroying_step():
    # wape: naive 0.30, stat 0.20, dp 0.25, consensus 0.18 ; 'other' is not configured -> dropped
    # fva_vs_previous: NaN, 0.30-0.20 = 0.10, 0.20-0.25 = -0.05 (destroys value), 0.25-0.18 = 0.07
    # fva_vs_naive:    0.00, 0.10, 0.05, 0.12
    rows = _stage_rows({"consensus": 0.18, "dp": 0.25, "naive": 0.30, "other": 0.5, "stat": 0.20})
    table = accuracy_table(pd.DataFrame(rows), ["stage"])
    out = fva(table, ["naive", "stat", "dp", "consensus"])
    assert list(out.columns) == ["stage", "wape", "fva_vs_previous", "fva_vs_naive"]
    assert out["stage"].tolist() == ["naive", "stat", "dp", "consensus"]
    assert out["wape"].to_numpy() == approx([0.30, 0.20, 0.25, 0.18])
    assert np.isnan(out["fva_vs_previous"].iloc[0])
    assert out["fva_vs_previous"].iloc[1:].to_numpy() == approx([0.10, -0.05, 0.07])
    assert out["fva_vs_naive"].to_numpy() == approx([0.0, 0.10, 0.05, 0.12])


def test_fva_grouped_skips_absent_stages_and_missing_naive():
    # lag 0: naive 0.30, stat 0.20, consensus 0.15 (no dp) -> consensus vs previous = stat: 0.05
    # lag 1: stat 0.40, dp 0.35 (no naive) -> first present stage stat: NaN ; dp: 0.05 ; vs naive NaN
    rows = _stage_rows({"naive": 0.30, "stat": 0.20, "consensus": 0.15}, lag=0)
    rows += _stage_rows({"stat": 0.40, "dp": 0.35}, lag=1)
    table = accuracy_table(pd.DataFrame(rows), ["lag", "stage"])
    out = fva(table, ["naive", "stat", "dp", "consensus"], by=["lag"])
    assert out[["lag", "stage"]].to_numpy().tolist() == [
        [0, "naive"], [0, "stat"], [0, "consensus"], [1, "stat"], [1, "dp"],
    ]  # fmt: skip
    prev = out["fva_vs_previous"].to_numpy()
    assert np.isnan(prev[0]) and np.isnan(prev[3])
    assert prev[[1, 2, 4]] == approx([0.10, 0.05, 0.05])
    vs_naive = out["fva_vs_naive"].to_numpy()
    assert vs_naive[:3] == approx([0.0, 0.10, 0.15])
    assert np.isnan(vs_naive[3:]).all()


# --------------------------------------------------------------------------- ABC / XYZ
def _volumes(vols: dict) -> pd.DataFrame:
    # each item's volume split over two periods (v/2 each)
    return pd.DataFrame([{"item": i, "actual": v / 2} for i, v in vols.items() for _ in range(2)])


def test_abc_item_crossing_boundary_stays_in_higher_class():
    # shares 0.60, 0.30, 0.10 ; cumulative share BEFORE each item: 0, 0.60, 0.90
    # 'b' crosses 0.80 (0.60 -> 0.90) but starts below 0.80 -> A ; 'c' starts at 0.90 < 0.95 -> B
    out = abc_xyz(_volumes({"a": 60.0, "b": 30.0, "c": 10.0}))
    assert out["abc"].to_dict() == {"a": "A", "b": "A", "c": "B"}
    assert out["volume"].to_dict() == {"a": 60.0, "b": 30.0, "c": 10.0}


def test_abc_item_starting_exactly_on_boundary_is_next_class():
    # shares 0.80, 0.15, 0.05 ; cumulative share before: 0, 0.80, 0.95
    # 'b' starts exactly at 0.80 (not < 0.80) -> B ; 'c' starts exactly at 0.95 -> C
    out = abc_xyz(_volumes({"c": 5.0, "a": 80.0, "b": 15.0}))
    assert out.index.tolist() == ["a", "b", "c"]  # sorted by volume descending
    assert out["abc"].to_dict() == {"a": "A", "b": "B", "c": "C"}


def test_xyz_by_coefficient_of_variation():
    # cv = std(ddof=0)/mean
    # p: 10, 10 -> 0 -> X ; q: 8, 12 -> 2/10 = 0.2 -> X ; r: 5, 15 -> 5/10 = 0.5 -> Y (not < 0.5)
    # s: 0, 20 -> 10/10 = 1.0 -> Z (not < 1.0) ; t: 0, 0 -> mean 0 -> Z (cv NaN)
    acts = pd.DataFrame(
        {
            "item": ["p", "p", "q", "q", "r", "r", "s", "s", "t", "t"],
            "actual": [10.0, 10, 8, 12, 5, 15, 0, 20, 0, 0],
        }
    )
    out = abc_xyz(acts)
    assert out["xyz"].to_dict() == {"p": "X", "q": "X", "r": "Y", "s": "Z", "t": "Z"}
    assert out.loc[["p", "q", "r", "s"], "cv"].to_numpy() == approx([0.0, 0.2, 0.5, 1.0])
    assert np.isnan(out.loc["t", "cv"])
    assert list(out.columns) == ["abc", "xyz", "volume", "cv"]


# --------------------------------------------------------------------------- tracking signal
def test_tracking_signal_flags_biased_item_only():
    # biased: periods 0-1 e = -10 (outside the window), periods 2-7 e = +2, period 8 F missing
    #   last 6 periods with A and F = 2..7 -> sum e = 12, MAD = 2 -> TS = 6 > 4 -> flagged
    # unbiased: periods 0-5 e = +2, -2, +2, -2, +2, -2 -> sum e = 0, MAD = 2 -> TS = 0
    # perfect: e = 0 -> MAD = 0 -> TS NaN, not flagged
    b_e = [-10, -10, 2, 2, 2, 2, 2, 2, 0]
    rows = [("biased", p, 10.0, 10.0 + e) for p, e in enumerate(b_e)]
    rows[-1] = ("biased", 8, 10.0, np.nan)
    rows += [("unbiased", p, 10.0, 10.0 + (2 if p % 2 == 0 else -2)) for p in range(6)]
    rows += [("perfect", p, 10.0, 10.0) for p in range(3)]
    df = pd.DataFrame(rows, columns=["item", "period", "actual", "forecast"]).sample(frac=1, random_state=1)
    ts = tracking_signal(df).set_index("item")
    assert list(ts.columns) == ["ts", "mad", "sum_e", "n", "flagged"]
    assert ts.loc["biased", ["ts", "mad", "sum_e", "n"]].tolist() == [6.0, 2.0, 12.0, 6]
    assert bool(ts.loc["biased", "flagged"])
    assert ts.loc["unbiased", "ts"] == 0.0
    assert not bool(ts.loc["unbiased", "flagged"])
    assert np.isnan(ts.loc["perfect", "ts"])
    assert not bool(ts.loc["perfect", "flagged"])


def test_tracking_signal_needs_enough_periods_to_pass_the_limit():
    # |TS| = |Σe| / mean|e| <= n: over one period TS is always ±1, over four it can reach 4 at most, so with the
    # limit 4 an item needs 5 periods before its TS means anything. Shorter: no TS, never flagged.
    assert tracking_min_periods(4.0) == 5 and tracking_min_periods(3.5) == 4 and tracking_min_periods(1) == 2
    rows = [("one", 0, 10.0, 30.0)]  # e = +20: TS would be +1
    rows += [("four", p, 10.0, 15.0) for p in range(4)]  # all +5: TS would be 4, the most
    rows += [("five", p, 10.0, 15.0) for p in range(5)]  # all +5: TS = 5 > 4
    df = pd.DataFrame(rows, columns=["item", "period", "actual", "forecast"])
    ts = tracking_signal(df, window=6, limit=4.0).set_index("item")
    assert np.isnan(ts.loc["one", "ts"]) and np.isnan(ts.loc["four", "ts"])
    assert ts.loc["four", "n"] == 4 and ts.loc["four", "mad"] == 5.0  # MAD and n still reported
    assert ts.loc["five", "ts"] == 5.0 and bool(ts.loc["five", "flagged"])
    assert ts["flagged"].tolist() == [True, False, False]  # items sorted: five, four, one
    # a lower limit lowers the minimum: with limit 3, four periods all over the forecast are flagged
    assert bool(tracking_signal(df, window=6, limit=3.0).set_index("item").loc["four", "flagged"])


# --------------------------------------------------------------------------- error contribution
def test_error_contribution_ranked_descending():
    # |e| per item: a = 1 + 3 = 4, b = 12, c = 4 (NaN-forecast row ignored) ; total 20
    # ranked: b 12 (0.6), a 4 (0.2), c 4 (0.2) -> cum 0.6, 0.8, 1.0 (ties keep key order)
    df = frame([10.0, 10, 10, 10, 10], [11.0, 7, 22, 14, np.nan], item=["a", "a", "b", "c", "c"])
    out = error_contribution(df)
    assert out["item"].tolist() == ["b", "a", "c"]
    assert out["abs_error"].tolist() == [12.0, 4.0, 4.0]
    assert out["share"].to_numpy() == approx([0.6, 0.2, 0.2])
    assert out["cum_share"].to_numpy() == approx([0.6, 0.8, 1.0])
    assert out["rank"].tolist() == [1, 2, 3]


def test_kpis_never_imports_streamlit():
    code = "import sys, kpis.forecast.metrics; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- utilsforecast
uf = pytest.importorskip("utilsforecast.losses")

UF_HISTORY = pd.DataFrame(
    {
        "item": ["a"] * 8 + ["b"] * 8,
        "period": list(range(8)) * 2,
        "actual": [10.0, 14, 9, 12, 0, 11, 15, 13, 100.0, 90, 120, 80, 110, 95, 105, 130],
    }
)
# forecasts for periods 3..7 of both items (item a has a zero actual at period 4)
UF_FC = UF_HISTORY[UF_HISTORY["period"] >= 3].assign(forecast=[11.0, 2, 13, 12, 10, 85, 100, 90, 112, 120])


def _uf_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(df, train_df) in utilsforecast layout: unique_id, ds, y and model column 'model'."""
    df = UF_FC.rename(columns={"item": "unique_id", "period": "ds", "actual": "y", "forecast": "model"})
    train = UF_HISTORY.rename(columns={"item": "unique_id", "period": "ds", "actual": "y"})
    return df.reset_index(drop=True), train.sort_values(["unique_id", "ds"], ignore_index=True)


def _ours(scale: pd.Series | None = None) -> pd.DataFrame:
    return accuracy_table(UF_FC, ["item"], scale=scale).set_index("item")


def _theirs(fn, **kw) -> pd.Series:
    df, _ = _uf_frames()
    return fn(df, ["model"], **kw).set_index("unique_id")["model"]


def test_utilsforecast_mae():
    # same definition: mean |y - model| per unique_id -> no conversion
    ours, theirs = _ours(), _theirs(uf.mae)
    assert ours["mae"].to_numpy() == approx(theirs.loc[ours.index].to_numpy())


def test_utilsforecast_rmse():
    # same definition: sqrt(mean (y - model)^2) -> no conversion
    ours, theirs = _ours(), _theirs(uf.rmse)
    assert ours["rmse"].to_numpy() == approx(theirs.loc[ours.index].to_numpy())


def test_utilsforecast_mape():
    # utilsforecast mape is a FRACTION (no x100): mean(|y - model| / |y|) with y = 0 turned into
    # NaN and skipped by the mean -> identical to ours (A = 0 rows excluded) -> no conversion.
    # Item a has a zero actual, so this also checks the exclusion rule.
    ours, theirs = _ours(), _theirs(uf.mape)
    assert ours.loc["a", "mape_excluded"] == 1
    assert ours["mape"].to_numpy() == approx(theirs.loc[ours.index].to_numpy())


def test_utilsforecast_bias():
    # utilsforecast bias = mean(model - y) per series: same sign (F - A) but a MEAN error in units,
    # ours = sum(e)/sum(A) (relative).  Conversion: theirs = ours.bias * ours.actual / ours.n.
    ours, theirs = _ours(), _theirs(uf.bias)
    converted = ours["bias"] * ours["actual"] / ours["n"]
    assert converted.to_numpy() == approx(theirs.loc[ours.index].to_numpy())


@pytest.mark.parametrize("m", [1, 2])
def test_utilsforecast_mase(m):
    # utilsforecast mase = mae / scale, scale = mean |y_t - y_(t-m)| over train_df, taken with a
    # POSITIONAL shift(m) per series on the time-sorted train_df.  Ours pairs periods t and t-m by
    # value; with consecutive periods (as here) both are the same, so no conversion is needed.
    # train_df = the full actual history, as our scale uses the item's full history.
    df, train = _uf_frames()
    theirs = uf.mase(df, ["model"], seasonality=m, train_df=train).set_index("unique_id")["model"]
    ours = _ours(mase_scale(UF_HISTORY, season_length=m))
    assert ours["mase"].to_numpy() == approx(theirs.loc[ours.index].to_numpy())


# --------------------------------------------------------------------------- large random check
def test_500k_rows_by_lag_match_pandas_reference():
    rng = np.random.default_rng(20240601)
    n, n_items = 500_000, 2_000
    actual = np.round(rng.gamma(1.5, 40.0, n))
    actual[rng.random(n) < 0.05] = 0.0  # exact zeros for the mape exclusion path
    forecast = actual * rng.normal(1.05, 0.3, n) + rng.normal(0, 5, n)
    actual[rng.random(n) < 0.02] = np.nan
    forecast[rng.random(n) < 0.02] = np.nan
    df = pd.DataFrame(
        {
            "item": rng.integers(0, n_items, n),
            "lag": rng.integers(0, 6, n),
            "actual": actual,
            "forecast": forecast,
        }
    )
    scale = pd.Series(rng.gamma(2.0, 10.0, n_items), index=pd.RangeIndex(n_items, name="item"))
    scale.iloc[:50] = 0.0  # unusable scales
    got = accuracy_table(df, ["lag"], scale=scale).set_index("lag")

    # straightforward pandas reference
    d = df.dropna(subset=["actual", "forecast"]).copy()
    d["e"] = d["forecast"] - d["actual"]
    d["abs_e"] = d["e"].abs()
    d["abs_a"] = d["actual"].abs()
    g = d.groupby("lag")
    ref = pd.DataFrame(
        {
            "n": g.size(),
            "actual": g["actual"].sum(),
            "forecast": g["forecast"].sum(),
            "mae": g["abs_e"].mean(),
            "rmse": np.sqrt(g["e"].apply(lambda s: (s**2).mean())),
            "wape": g["abs_e"].sum() / g["abs_a"].sum(),
            "bias": g["e"].sum() / g["actual"].sum(),
        }
    )
    ref["accuracy"] = (1 - ref["wape"]).clip(lower=0)
    nz = d[d["actual"] != 0]
    ref["mape"] = (nz["abs_e"] / nz["abs_a"]).groupby(nz["lag"]).mean()
    ref["mape_excluded"] = (d["actual"] == 0).groupby(d["lag"]).sum()
    # MASE the long way: per (lag, item) mae / scale, weighted by the item's n, usable scales only
    per = d.groupby(["lag", "item"]).agg(n=("abs_e", "size"), mae=("abs_e", "mean")).reset_index()
    per["scale"] = scale.reindex(per["item"]).to_numpy()
    per = per[per["scale"] > 0]
    per["w_mase"] = per["n"] * per["mae"] / per["scale"]
    pg = per.groupby("lag")
    ref["mase"] = pg["w_mase"].sum() / pg["n"].sum()

    assert list(got.columns) == METRIC_COLUMNS
    assert got.index.tolist() == list(range(6))
    assert ref["mape_excluded"].sum() > 10_000  # the zero-actual path is exercised
    for col in METRIC_COLUMNS:
        np.testing.assert_allclose(got[col].to_numpy(), ref.loc[got.index, col].to_numpy(), rtol=1e-9, err_msg=col)
