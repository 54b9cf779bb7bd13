"""The worked examples of docs/methodology.md, run through the functions the document names.

When one of these fails, the code and the document disagree: fix whichever is wrong, in the same change.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from kpis import catalog, spc
from kpis.catalog import trends
from kpis.config import KPI
from kpis.forecast import metrics


def kpi(**over) -> KPI:
    base = dict(
        id="otif",
        name="OTIF",
        function="supply",
        owner="S. Planner",
        unit="%",
        direction="higher",
        target=0.95,
        amber=0.02,
        red=0.05,
        cadence="month",
        rollup="mean",
        practices=["process"],
    )
    return KPI(**{**base, **over})


def test_metrics_example():
    df = pd.DataFrame(
        {"item": ["P1"] * 4, "period": [1, 2, 3, 4], "actual": [100, 80, 0, 120.0], "forecast": [110, 60, 5, 130.0]}
    )
    scale = metrics.mase_scale(df[["item", "period", "actual"]])
    r = metrics.accuracy_table(df, [], scale=scale).iloc[0]
    assert r["n"] == 4 and r["mape_excluded"] == 1
    assert r["mae"] == pytest.approx(11.25) and r["rmse"] == pytest.approx(12.5)
    assert r["wape"] == pytest.approx(0.15) and r["accuracy"] == pytest.approx(0.85)
    assert r["mape"] == pytest.approx(0.1444, abs=1e-4) and r["bias"] == pytest.approx(5 / 300)
    assert scale["P1"] == pytest.approx(73.333, abs=1e-3) and r["mase"] == pytest.approx(0.1534, abs=1e-4)


def test_mase_group_weighting_example():
    df = pd.DataFrame(
        {
            "item": ["P1"] * 4 + ["P2"] * 2,
            "period": [1, 2, 3, 4, 1, 2],
            "actual": [100, 80, 0, 120.0, 10, 20],
            "forecast": [110, 60, 5, 130.0, 12, 25],
        }
    )
    scale = metrics.mase_scale(df[["item", "period", "actual"]])
    per_item = metrics.accuracy_table(df, ["item"], scale=scale).set_index("item")["mase"]
    assert per_item["P2"] == pytest.approx(0.35)
    total = metrics.accuracy_table(df, [], scale=scale)["mase"].iloc[0]
    assert total == pytest.approx((4 * per_item["P1"] + 2 * 0.35) / 6) == pytest.approx(0.2189, abs=1e-4)


def test_tracking_signal_example():
    e = [10, 20, 5, 15, 10, 20, -5, 30]
    df = pd.DataFrame({"item": "P1", "period": range(8), "actual": [100.0] * 8, "forecast": [100.0 + x for x in e]})
    r = metrics.tracking_signal(df, window=6, limit=4).iloc[0]
    assert r["sum_e"] == 75 and r["mad"] == pytest.approx(85 / 6) and r["ts"] == pytest.approx(5.29, abs=0.01)
    assert r["flagged"]


def test_naive_example():
    act = pd.DataFrame({"item": ["P1"] * 6, "period": [1, 2, 3, 4, 5, 6], "actual": [100, 120, 90, 110, 130, 105.0]})
    may = metrics.derive_naive(act, [0, 1]).query("period == 5").set_index("lag")["forecast"]
    assert may[0] == 110 and may[1] == 90
    seasonal = metrics.derive_naive(act, [1], season_length=3).query("period == 5")["forecast"]
    assert seasonal.tolist() == [120]


def test_fva_matched_sample_example():
    rows = pd.DataFrame(
        {"actual": [100, 200, 100], "naive": [80, 240, 130], "statistical": [90, 210, 110], "consensus": [95, 190, 120]}
    )  # row 4 (no consensus) is left out of the sample
    stages = ["naive", "statistical", "consensus"]
    long = pd.concat([pd.DataFrame({"stage": s, "actual": rows["actual"], "forecast": rows[s]}) for s in stages])
    table = metrics.accuracy_table(long, ["stage"])
    stair = metrics.fva(table, stages).set_index("stage")
    assert stair["wape"].tolist() == pytest.approx([0.225, 0.075, 0.0875])
    assert stair.loc["statistical", "fva_vs_previous"] == pytest.approx(0.15)
    assert stair.loc["consensus", "fva_vs_previous"] == pytest.approx(-0.0125)
    assert stair.loc["consensus", "fva_vs_naive"] == pytest.approx(0.1375)


def test_abc_xyz_example():
    a = pd.DataFrame(
        {"item": ["W", "W", "X", "X", "Y", "Y", "Z", "Z"], "actual": [300, 300, 50, 250, 30, 30, 10, 30.0]}
    )
    seg = metrics.abc_xyz(a)
    assert seg["abc"].to_dict() == {"W": "A", "X": "A", "Y": "B", "Z": "C"}
    assert seg["xyz"].to_dict() == {"W": "X", "X": "Y", "Y": "X", "Z": "Y"}


def test_status_examples():
    assert catalog.status(kpi(), np.array([0.94, 0.92, 0.89]), np.array([0.95] * 3)).tolist() == [
        "green",
        "amber",
        "red",
    ]
    band = kpi(id="dos", unit="days", direction="band", target=35, band=5, amber=1, red=3)
    assert catalog.status(band, np.array([41, 42, 44.0]), np.array([35.0] * 3)).tolist() == ["green", "amber", "red"]


def test_stepping_target_example():
    k = kpi(target=[{"from": "2025-01", "value": 0.90}, {"from": "2025-07", "value": 0.95}])
    got = catalog.targets_at(k, pd.to_datetime(["2024-12-01", "2025-06-01", "2025-07-01"]))
    assert np.isnan(got[0]) and got[1:].tolist() == [0.90, 0.95]


def test_summed_rollup_example():
    k = kpi(id="rev", unit="currency", target=100, amber=0, red=10, rollup="sum")
    s = pd.DataFrame({"period": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]), "value": [90, 110, 95.0]})
    row = trends.trend_view(s, k, cadence="quarter").table.iloc[0]
    assert (row["value"], row["target"], row["points"], row["status"]) == (295, 300, 3, "amber")


def test_xmr_and_signal_examples():
    lim = spc.xmr_limits([10, 12, 11, 13, 12, 14, 11, 13])
    assert lim.centre == 12 and lim.mr_bar == pytest.approx(13 / 7) and lim.provisional
    assert (lim.lcl, lim.ucl) == (pytest.approx(7.06), pytest.approx(16.94))
    assert spc.signals([19], lim)["beyond_limits"].tolist() == [True]
    assert spc.signals([15.5, 14, 15.6], lim)["two_of_three"].tolist() == [True, False, True]
    assert spc.signals([13.8, 13.9, 12.5, 14.0, 13.7], lim)["four_of_five"].tolist() == [True, True, False, True, True]
    assert spc.signals([12.5] * 8, lim)["eight_in_a_row"].all()


def test_trend_example():
    tr = spc.trend([0.80, 0.82, 0.81, 0.84, 0.85, 0.84, 0.87, 0.88])
    assert tr.slope == pytest.approx(0.010) and tr.slope_low == pytest.approx(0.008)
    assert tr.slope_high == pytest.approx(0.015) and tr.tau == pytest.approx(0.84, abs=0.005)
    text = spc.describe_trend(tr, direction="higher", unit="pts", scale=100)
    assert text == "improving 1.0 pts a month, p = 0.0041"


def test_action_verdict_examples():
    before = [0.80, 0.82, 0.79, 0.81, 0.80, 0.83]
    after = [0.86, 0.88, 0.87, 0.89, 0.90, 0.88]
    months = pd.date_range("2025-01-01", periods=12, freq="MS")
    done = dt.date(2025, 7, 1)
    from kpis.improvement.effect import judge

    e = judge(before + after, months, done, direction="higher")
    assert e.verdict == "improved" and e.signal_improving and not e.signal_worsening
    assert e.upper_limit == pytest.approx(0.8669, abs=1e-4) and e.provisional
    assert e.p_good == pytest.approx(0.0025, abs=1e-4) and e.median_shift == pytest.approx(0.075)
    flat = judge([*before, 0.82, 0.81, 0.8, 0.83, 0.79, 0.82], months, done, direction="higher")
    assert flat.verdict == "no clear change" and flat.p_good == pytest.approx(0.37, abs=0.005)
    short = judge(before + after[:5], months[:11], done, direction="higher")
    assert short.verdict == "too little data"


def test_records_kpis_example():
    """KPIs computed from the records: October 2026, today 6 Dec 2026."""
    from kpis import records

    today, oct_ = dt.date(2026, 12, 6), pd.Timestamp("2026-10-01")
    people = ["Richard Osei", "Lars Nilsson", "Tom Becker", "Priya Nair", "Diego Alvarez", "Aisha Rahman"]
    came = {p: p != "Tom Becker" for p in people}
    rows = [(dt.date(2026, 10, 20), "executive S&OP", p, True, came[p]) for p in people]
    rows += [(dt.date(2026, 10, 20), "executive S&OP", "Maria Chen", False, True)]  # in Tom Becker's place
    rows += [(dt.date(2026, 10, 8), "demand review", "Richard Osei", True, False)]  # not an executive meeting
    att = pd.DataFrame(rows, columns=["meeting_date", "type", "person", "invited", "attended"])
    att["meeting_date"] = pd.to_datetime(att["meeting_date"])
    s = records.attendance_series(att, "month", today).set_index("period")["value"]
    assert s[oct_] == pytest.approx(5 / 6)

    d = pd.DataFrame(
        {
            "owner": ["A", "B", "C", "D"],
            "raised_on": pd.to_datetime(["2026-10-01", "2026-09-20", "2026-10-25", "2026-10-28"]),
            "decided_on": pd.to_datetime(["2026-10-04", "2026-10-10", "2026-10-30", None]),
        }
    )
    s = records.decision_series(d, "month", today).set_index("period")["value"]
    assert list(s.index) == [oct_] and s[oct_] == 5.0  # September: the one raised 20 Sep was decided in October

    a = pd.DataFrame(
        {
            "sponsor": ["A"] * 4,
            "due_date": pd.to_datetime(["2026-10-10", "2026-10-15", "2026-10-31", "2026-10-12"]),
            "status": ["done", "done", "open", "cancelled"],
            "completed_on": pd.to_datetime(["2026-10-08", "2026-10-20", None, None]),
        }
    )
    assert records.on_time_series(a, "month", today).set_index("period")["value"][oct_] == pytest.approx(1 / 3)
    on_20_oct = dt.date(2026, 10, 20)  # October has not ended: no value yet
    assert records.on_time_series(a, "month", on_20_oct).empty
    assert records.attendance_series(att, "month", on_20_oct).empty
    assert oct_ not in set(records.decision_series(d, "month", on_20_oct)["period"])

    m = pd.DataFrame(
        {
            "type": ["data review", "demand review", "demand review", "supply review", "executive S&OP"],
            "date": [dt.date(2026, 10, d) for d in (3, 8, 9, 12, 20)],
        }
    )
    assert records.cycle_series(m, "month", today).set_index("period")["value"][oct_] == pytest.approx(0.8)


def test_numbers_on_screen_examples():
    from kpis import formatting

    assert [formatting.fixed(v, 1) for v in (12.25, 12.35)] == ["12.2", "12.4"]
    assert formatting.pts(-0.0425) == "-4.2 pts"
    assert formatting.pct(0.11488) == "11.5 %" and formatting.pct(0.11450000000000001) == "11.4 %"
    assert formatting.pct(0.1145) == "11.4 %" and formatting.pct(0.8855) == "88.6 %"
    assert formatting.pct(-0.0004) == "0.0 %" and formatting.NO_VALUE == "–"
    assert formatting.day(dt.date(2026, 10, 5)) == "2026-10-05" and formatting.month(dt.date(2026, 10, 5)) == "2026-10"
    assert formatting.p_value(0.031) == "p = 0.031" and formatting.p_value(0.0496) == "p = 0.0496"
    assert formatting.p_value(0.0504) == "p = 0.05" and formatting.p_value(0.0002) == "p < 0.001"


def test_year_to_date_example():
    from kpis.catalog import overview

    k = kpi(id="forecast_accuracy", target=0.8)
    # January Σ|e| 10 of Σ|A| 100 (90 %), February 30 of 200 (85 %): 1 − 40/300 = 86.7 %, not the mean 87.5 %
    s = pd.DataFrame(
        {
            "kpi_id": k.id,
            "period": pd.to_datetime(["2026-01-01", "2026-02-01"]),
            "value": [0.9, 0.85],
            "weight": [100, 200],
        }
    )
    cfg = type("C", (), {"kpis": [k]})()
    t = overview.overview_tiles(s, [k], cfg).iloc[0]
    assert t["ytd"] == pytest.approx(1 - 40 / 300) and t["ytd_method"] == "ratio of sums"
    t = overview.overview_tiles(s.drop(columns="weight"), [k], cfg).iloc[0]
    assert t["ytd"] == pytest.approx(0.875) and t["ytd_method"] == "mean of periods"


def test_runs_stop_at_a_gap_example():
    lim = spc.XmR(centre=0.0, mr_bar=1.128, sigma=1.0, ucl=3.0, lcl=-3.0, n_baseline=20, provisional=False)
    nine = [0.5] * 9
    assert spc.signals(nine, lim, positions=range(9))["eight_in_a_row"].all()
    eight_around_a_gap = [0.5] * 8
    assert not spc.signals(eight_around_a_gap, lim, positions=[0, 1, 2, 3, 5, 6, 7, 8])["eight_in_a_row"].any()


def test_sparkline_colour_example():
    from kpis.catalog import overview

    assert overview.spark_colour(kpi(), [0.90, 0.91, 0.92, 0.93, 0.94, 0.935]) == "green"


@pytest.mark.parametrize(
    ("cadence", "days", "last", "day", "expected"),
    [
        ("month", 5, "2026-09-01", dt.date(2026, 11, 5), None),
        ("month", 5, "2026-09-01", dt.date(2026, 11, 6), "2026-10 due 5 Nov, not received"),
        ("month", 5, "2026-08-01", dt.date(2026, 11, 6), "2026-09 due 5 Oct, not received (and 1 later period)"),
        ("month", 5, "2024-01-01", dt.date(2024, 3, 6), "2024-02 due 5 Mar, not received"),
        ("week", 2, "2026-10-26", dt.date(2026, 11, 11), "2026-W45 due 10 Nov, not received"),
        ("quarter", 10, "2026-04-01", dt.date(2026, 10, 11), "2026-Q3 due 10 Oct, not received"),
        ("month", 0, "2026-09-01", dt.date(2026, 11, 1), "2026-10 due 31 Oct, not received"),
    ],
)
def test_late_data_examples(config, cadence, days, last, day, expected):
    import dataclasses

    from kpis.catalog import freshness

    cfg = dataclasses.replace(config, kpis=(kpi(cadence=cadence, due_days=days),))
    got = pd.DataFrame({"kpi_id": ["otif"], "segment": [""], "last_period": [pd.Timestamp(last)]})
    late = freshness.overdue(got, cfg, day)
    assert freshness.tile_marks(late, day).get("otif") == expected
