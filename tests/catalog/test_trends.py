"""One KPI's trend view: roll-up, targets, status, XmR limits, baselines, signals, words."""

import datetime as dt

import pandas as pd
import pytest

from kpis.catalog import trends


def _series(values, start="2025-01-01", freq="MS"):
    return pd.DataFrame({"period": pd.date_range(start, periods=len(values), freq=freq), "value": values})


def test_rollup_choices_are_own_and_coarser(config):
    assert trends.rollup_choices(config.kpi_by_id["stockout_weeks"]) == ["week", "month", "quarter", "year"]
    assert trends.rollup_choices(config.kpi_by_id["otif"]) == ["month", "quarter", "year"]
    assert trends.rollup_choices(config.kpi_by_id["npi_launch_on_time"]) == ["quarter", "year"]


def test_roll_up_mean_to_quarter(config):
    otif = config.kpi_by_id["otif"]  # rollup mean, target 0.95
    out = trends.roll_up(_series([0.90, 0.93, 0.96, 0.97]), otif, "quarter")
    assert out["value"].tolist() == pytest.approx([0.93, 0.97])  # (0.90+0.93+0.96)/3, 0.97
    assert out["points"].tolist() == [3, 1]
    assert out["target"].tolist() == pytest.approx([0.95, 0.95])


def test_roll_up_sum_compares_with_summed_targets(config):
    stock = config.kpi_by_id["stockout_weeks"]  # weekly, rollup sum, target 14 a week
    weeks = _series([10, 12, 15, 11], start="2025-01-06", freq="W-MON")  # four Mondays of January 2025
    out = trends.roll_up(weeks, stock, "month")
    assert out["value"].tolist() == [48]
    assert out["target"].tolist() == [56]  # 4 weeks x 14


def test_trend_view_limits_from_all_points(config):
    otif = config.kpi_by_id["otif"]
    v = [0.90, 0.92, 0.91, 0.93, 0.92, 0.94]
    view = trends.trend_view(_series(v), otif)
    # centre = mean = 0.92; MR = .02,.01,.02,.01,.02 -> mean .016; limits 0.92 ± 2.66*0.016
    assert view.limits.centre == pytest.approx(0.92)
    assert view.limits.ucl == pytest.approx(0.92 + 2.66 * 0.016)
    assert view.limits.provisional
    assert view.table["label"].tolist()[0] == "2025-01"
    assert view.table["status"].tolist()[-1] == "amber"  # 0.95 - 0.94 = 0.01 <= red 0.04


def test_trend_view_baseline_first12_and_until(config):
    otif = config.kpi_by_id["otif"]
    v = [0.90] * 6 + [0.91, 0.89] * 3 + [0.97] * 6
    first = trends.trend_view(_series(v), otif, baseline="first12")
    assert first.limits.n_baseline == 12 and first.baseline_label == "first 12 points"
    until = trends.trend_view(_series(v), otif, baseline="until", baseline_until=dt.date(2025, 7, 1))
    assert until.limits.n_baseline == 6
    assert until.baseline_label == "points before 2025-07"


def test_step_change_is_signalled_and_summarised(config):
    otif = config.kpi_by_id["otif"]
    v = [0.90, 0.91, 0.90, 0.89, 0.90, 0.91, 0.90, 0.89, 0.90, 0.91, 0.90, 0.89] + [0.96] * 8
    view = trends.trend_view(_series(v), otif, baseline="first12")
    assert view.table["beyond_limits"].iloc[12:].all()
    text = trends.signal_summary(view)
    assert any(s.startswith("Point beyond the control limits: 2026-01") for s in text)
    assert any(s.startswith("8 in a row on one side") for s in text)


def test_trend_words_say_improving_for_rising_higher_is_better(config):
    otif = config.kpi_by_id["otif"]
    view = trends.trend_view(_series([0.90 + 0.004 * i for i in range(12)]), otif)
    assert view.trend_text.startswith("improving 0.4 pts a month")


def test_trend_words_for_falling_lower_is_better(config):
    dct = config.kpi_by_id["decision_cycle_time"]  # lower is better, days
    view = trends.trend_view(_series([20 - 0.5 * i for i in range(12)]), dct)
    assert view.trend_text.startswith("improving 0.5 days a month")


def test_fewer_than_six_points_has_no_limits(config):
    view = trends.trend_view(_series([0.9, 0.91, 0.92]), config.kpi_by_id["otif"])
    assert view.limits is None
    assert not view.table["any"].any()


def test_export_table_has_readable_columns(config):
    view = trends.trend_view(_series([0.9] * 7), config.kpi_by_id["otif"])
    out = trends.export_table(view)
    assert out.columns.tolist() == [
        "period",
        "value",
        "target",
        "status",
        "partial",
        "centre",
        "lower_limit",
        "upper_limit",
        "signal",
    ]
    assert out["status"].iloc[0] == "Off target"  # 0.95 - 0.90 = 0.05 > red 0.04


def test_summed_rollup_judges_each_period_with_per_period_tolerances(config):
    stock = config.kpi_by_id["stockout_weeks"]  # weekly, sum, target 14 a week, amber 0, red 4
    weeks = _series([16] * 8, start="2025-02-03", freq="W-MON")  # every week 2 over: amber
    view = trends.trend_view(weeks, stock, cadence="month")
    assert view.table["value"].tolist() == [64, 64]
    assert view.table["target"].tolist() == [56, 56]
    assert view.table["status"].tolist() == ["amber", "amber"]  # 64/4 - 56/4 = 2 <= red 4


def test_summed_rollup_without_targets_has_no_target_not_zero(config):
    base = config.kpi_by_id["stockout_weeks"]
    stock = type(base).model_validate({**base.model_dump(by_alias=True), "target": [{"from": "2025-W10", "value": 14}]})
    weeks = _series([20] * 5, start="2024-12-30", freq="W-MON")  # the 5 ISO weeks of January 2025
    view = trends.trend_view(weeks, stock, cadence="month")
    assert not view.table["partial"].any()
    assert view.table["target"].isna().all()
    assert view.table["status"].tolist() == ["none"]
    assert trends.export_table(view)["status"].tolist() == ["No target"]


def test_currency_trend_names_the_currency(config):
    eo = config.kpi_by_id["excess_obsolete_stock"]
    view = trends.trend_view(_series([500000 - 10000 * i for i in range(12)]), eo, currency="EUR")
    assert view.trend_text.startswith("improving 10000 EUR a month")


def test_trend_headline_evidence_and_on_target_share(config):
    otif = config.kpi_by_id["otif"]  # target 0.95
    view = trends.trend_view(_series([0.90 + 0.01 * i for i in range(10)]), otif)
    assert view.trend_headline == "Improving 1.0 pts a month"
    assert view.trend_evidence == "p < 0.001"
    assert view.on_target_share == pytest.approx(0.5)  # 0.95 … 0.99 are on target: 5 of 10
    flat = trends.trend_view(_series([0.9, 0.92, 0.9, 0.92, 0.9, 0.92]), otif)
    assert flat.trend_headline == "No clear trend"


# ---------------------------------------------------------------- partial periods (roll-up)
def test_week_belongs_to_the_month_of_its_thursday(config):
    stock = config.kpi_by_id["stockout_weeks"]
    # ISO week 2025-W01 starts Monday 2024-12-30, its Thursday is 2025-01-02: it is a January week.
    out = trends.roll_up(_series([1, 2, 3, 4, 5], start="2024-12-30", freq="W-MON"), stock, "month")
    assert out["period"].tolist() == [pd.Timestamp("2025-01-01")]
    assert out[["value", "points", "expected"]].iloc[0].tolist() == [15, 5, 5]
    assert not out["partial"].iloc[0]


def _partial_quarters():
    # 13 weeks of 2025-Q3 at 20 (2025-06-30 .. 2025-09-22), 13 of Q4 at 20, then 4 weeks of 2026-Q1 at 5.
    return _series([20] * 26 + [5] * 4, start="2025-06-30", freq="W-MON")


def test_partial_quarter_is_flagged_by_hand(config):
    stock = config.kpi_by_id["stockout_weeks"]  # lower is better, sum, target 14 a week
    out = trends.roll_up(_partial_quarters(), stock, "quarter")
    assert out["points"].tolist() == [13, 13, 4]
    assert out["expected"].tolist() == [13, 13, 13]
    assert out["partial"].tolist() == [False, False, True]
    assert out["value"].tolist() == [260, 260, 20]


def test_partial_period_left_out_of_latest_change_status_and_limits(config):
    stock = config.kpi_by_id["stockout_weeks"]
    weeks = _series([20 + (i % 2) for i in range(8 * 13)] + [5] * 4, start="2024-07-01", freq="W-MON")
    view = trends.trend_view(weeks, stock, cadence="quarter")
    t = view.table
    assert t["partial"].tolist()[-1] and not t["partial"].iloc[:-1].any()
    assert view.latest["label"] == t["label"].iloc[-2]  # the last complete quarter
    assert view.previous["label"] == t["label"].iloc[-3]
    assert not t["any"].iloc[-1]  # no signal on the partial quarter
    assert view.limits.n_baseline == len(t) - 1
    assert view.on_target_share == pytest.approx((t["status"].iloc[:-1] == "green").mean())
    assert "partial" in view.partial_note and "4 of 13 weeks" in view.partial_note
    assert trends.export_table(view)["status"].iloc[-1] == "Partial period"
    inc = trends.trend_view(weeks, stock, cadence="quarter", include_partial=True)
    assert inc.latest["label"] == t["label"].iloc[-1] and "INCLUDED" in inc.partial_note


def test_phases_give_each_phase_its_own_limits(config):
    otif = config.kpi_by_id["otif"]
    v = [0.90, 0.91] * 4 + [0.96, 0.97] * 4
    one = trends.trend_view(_series(v), otif)
    assert one.table["any"].any()  # against one set of limits the step is a signal
    two = trends.trend_view(_series(v), otif, splits=[dt.date(2025, 9, 1)])
    assert not two.table["any"].any()
    assert two.table["centre"].iloc[0] == pytest.approx(0.905)
    assert two.table["centre"].iloc[-1] == pytest.approx(0.965)
    assert [label for label, _ in two.phases] == ["2025-01", "2025-09"]


def test_no_limits_means_no_signal_words(config):
    view = trends.trend_view(_series([0.9, 0.91, 0.92]), config.kpi_by_id["otif"])
    assert not view.has_limits and trends.signal_summary(view) == []


def test_a_run_stops_at_a_missing_month(config):
    """Issue 21: 8 months above the centre with a month missing among them are two runs of 4, not a signal; without
    the gap they are a run of 8."""
    otif = config.kpi_by_id["otif"]
    base = [0.90, 0.92, 0.91, 0.93, 0.92, 0.90, 0.91, 0.93, 0.92, 0.91, 0.92, 0.90]  # centre 0.9125
    whole = _series(base + [0.925] * 9)
    view = trends.trend_view(whole, otif, baseline="first12")
    assert view.table["eight_in_a_row"].tolist() == [False] * 12 + [True] * 9
    holed = whole.drop(index=12 + 4)  # the fifth of the nine months was never reported: 4 + 4 around a gap
    assert len(holed) == 20 and holed["period"].diff().dt.days.max() > 31
    view = trends.trend_view(holed, otif, baseline="first12")
    assert not view.table["eight_in_a_row"].any()


def test_the_trend_table_is_shown_rounded_by_the_one_rule(config):
    """Issue 21: the page's table holds the figures as shown (percent, rounded half to even), not cut by the
    browser; the CSV keeps the fractions."""
    otif = config.kpi_by_id["otif"]
    view = trends.trend_view(_series([0.11488, 0.1145, 0.1155, 0.5, 0.6, 0.7]), otif)
    shown = trends.shown_table(view)
    assert shown["value"].tolist() == [11.5, 11.4, 11.6, 50.0, 60.0, 70.0]
    assert trends.export_table(view)["value"].tolist()[0] == 0.11488
    assert shown["target"].tolist()[0] == 95.0
