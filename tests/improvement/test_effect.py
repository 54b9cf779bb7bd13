"""The verdict on an improvement action (kpis.improvement.effect) on constructed series, against hand calculations."""

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kpis.improvement import effect

MONTHS = list(pd.date_range("2023-01-01", periods=36, freq="MS"))
# Baseline with no ties: centre = 72.5 / 6 = 12.08333; moving ranges 2, 1, 2, 0.5, 1.5 -> mean 1.4;
# limits = centre ± 2.66 * 1.4 = centre ± 3.724 -> 8.35933 .. 15.80733; median = (12 + 12.5) / 2 = 12.25.
BEFORE = [10, 12, 11, 13, 12.5, 14]
CENTRE, LCL, UCL = 72.5 / 6, 72.5 / 6 - 3.724, 72.5 / 6 + 3.724
# 1 / C(12, 6): exact one-sided Mann–Whitney p when all six after values lie on one side of all six before values.
P_EXTREME = 1 / math.comb(12, 6)


def _judge(after, direction="higher", before=BEFORE, completion=None):
    values = list(before) + list(after)
    completion = completion or MONTHS[len(before)]
    return effect.judge(values, MONTHS[: len(values)], completion, direction=direction)


def test_baseline_limits_are_frozen_on_the_before_points():
    v = _judge([16.5, 17, 18, 19, 17.5, 18.5])
    assert v.centre == pytest.approx(CENTRE)
    assert v.lower_limit == pytest.approx(LCL)
    assert v.upper_limit == pytest.approx(UCL)
    assert v.provisional  # 6 < 12 baseline points


def test_clear_step_the_right_way_is_improved():
    v = _judge([16.5, 17, 18, 19, 17.5, 18.5])  # all above UCL 15.81, all above every before value
    assert v.verdict == "improved"
    assert (v.n_before, v.n_after) == (6, 6)
    assert v.signal_improving and not v.signal_worsening
    assert v.p_good == pytest.approx(P_EXTREME)  # 1/924 = 0.00108
    assert v.p_bad == pytest.approx(1.0)
    assert v.median_shift == pytest.approx(17.75 - 12.25)
    assert "upper baseline limit" in v.explanation and "Improved" in v.explanation


def test_clear_step_down_is_improved_for_a_lower_is_better_kpi():
    v = _judge([8, 7, 7.5, 6.5, 8.2, 9], direction="lower")  # 8, 7, 7.5, 6.5, 8.2 below LCL 8.36
    assert v.verdict == "improved"
    assert v.p_good == pytest.approx(P_EXTREME)
    assert v.median_shift == pytest.approx((7.5 + 8) / 2 - 12.25)
    assert "lower baseline limit" in v.explanation


def test_step_the_wrong_way_is_worse():
    v = _judge([8, 7, 7.5, 6.5, 8.2, 9], direction="higher")
    assert v.verdict == "worse"
    assert v.signal_worsening and not v.signal_improving
    assert v.p_bad == pytest.approx(P_EXTREME)
    assert v.p_good == pytest.approx(1.0)
    assert v.explanation.startswith("Worse: a point below the lower baseline limit")


def test_pure_noise_is_no_clear_change():
    after = [11.5, 12.2, 13.5, 10.5, 12.8, 11.2]  # inside the limits, mixed around the centre
    v = _judge(after)
    # U(after > before) by hand: 2 + 3 + 5 + 1 + 4 + 2 = 17 of 36 pairs
    u = stats.mannwhitneyu(after, BEFORE, alternative="greater")
    assert u.statistic == 17
    assert v.p_good == pytest.approx(u.pvalue) and v.p_good > 0.5
    assert not v.signal_improving and not v.signal_worsening
    assert v.verdict == "no clear change"
    assert "routine variation" in v.explanation


def test_drift_without_a_signal_is_no_clear_change():
    before = [9, 11] * 6  # centre 10, mean MR 2, limits 4.68 .. 15.32
    after = [10.5, 11, 9.8, 11.5, 12, 11.2, 12.5, 9.9, 13, 12.8, 13.5, 14]  # runs above centre of 2, 4, 4
    v = _judge(after, before=before)
    assert v.centre == pytest.approx(10) and v.upper_limit == pytest.approx(10 + 2.66 * 2)
    assert not v.signal_improving and not v.signal_worsening
    # U by hand (ties count 1/2): 6 + 9 + 6 + 12 * 8 + 6 = 123 of 144 pairs -> significant
    u = stats.mannwhitneyu(after, before, alternative="greater")
    assert u.statistic == 123
    assert v.p_good == pytest.approx(u.pvalue) and v.p_good < 0.05
    assert v.verdict == "no clear change"
    assert "drift" in v.explanation


def test_eight_in_a_row_on_the_improving_side_is_a_signal():
    before = [9, 11] * 6
    after = [10.5, 11, 10.8, 11.5, 12, 11.2, 12.5, 10.9]  # 8 above centre 10, none beyond 15.32
    v = _judge(after, before=before)
    assert v.signal_improving
    assert v.verdict == "improved"
    assert "8 points in a row above the baseline centre" in v.explanation


def test_signal_without_significance_is_no_clear_change():
    before = [10, 11, 9] * 4  # centre 10, mean MR 1.4545, UCL 13.87
    after = [10, 11, 9] * 3 + [10, 11, 30]
    v = _judge(after, before=before)
    assert v.signal_improving and v.p_good >= 0.05
    assert v.verdict == "no clear change"
    assert "not significant" in v.explanation


@pytest.mark.parametrize("n_before,n_after", [(5, 12), (12, 5), (5, 5)])
def test_too_few_points_on_either_side(n_before, n_after):
    values = list(np.linspace(10, 11, n_before)) + [20.0] * n_after
    v = effect.judge(values, MONTHS[: n_before + n_after], MONTHS[n_before], direction="higher")
    assert v.verdict == "too little data"
    assert (v.n_before, v.n_after) == (n_before, n_after)
    assert v.p_good is None and v.p_bad is None and v.median_shift is None
    assert f"{n_before} point" in v.explanation and "at least 6" in v.explanation


def test_completion_between_periods_puts_that_period_before():
    # completed 15 January 2024: the January period starts before it, so it belongs to 'before'
    values = list(range(24))
    v = effect.judge(values, MONTHS[:24], dt.date(2024, 1, 15), direction="higher")
    assert (v.n_before, v.n_after) == (13, 11)
    on_start = effect.judge(values, MONTHS[:24], dt.date(2024, 1, 1), direction="higher")
    assert (on_start.n_before, on_start.n_after) == (12, 12)


def test_missing_values_are_left_out():
    values = [10, 12, None, 11, 13, 12.5, 14, 16.5, 17, 18, float("nan"), 19, 17.5, 18.5]
    v = effect.judge(values, MONTHS[:14], MONTHS[7], direction="higher")
    assert (v.n_before, v.n_after) == (6, 6)
    assert v.centre == pytest.approx(CENTRE)


def test_band_direction_is_refused():
    with pytest.raises(ValueError, match="higher' or 'lower"):
        _judge([16.5, 17, 18, 19, 17.5, 18.5], direction="band")


def test_figures_round_trip_through_json():
    v = _judge([16.5, 17, 18, 19, 17.5, 18.5])
    back = effect.Verdict.from_figures(json.loads(json.dumps(v.figures())))
    assert back == v


def test_median_shift_is_written_in_the_kpis_unit(config):
    """Issue 21: "Did it work?" said "Median -0.0448" beside a card saying "-4.5 pts"."""
    before = [0.90, 0.91, 0.92, 0.90, 0.91, 0.92]
    after = [0.86, 0.87, 0.865, 0.87, 0.86, 0.875]
    v = effect.judge(
        before + after, MONTHS[:12], MONTHS[6], direction="higher", change_text=effect.change_text(config, "otif")
    )
    assert v.median_shift == pytest.approx(0.8675 - 0.91)
    assert "Median -4.2 pts (6 points before, 6 after)." in v.explanation  # -4.25: a tie, half to even
    assert effect.change_text(config, "otif")(-0.0448) == "-4.5 pts"
    assert effect.change_text(config, "decision_cycle_time")(-3.0) == "-3.0 days"


def test_mann_whitney_ties_values_equal_on_paper():
    """Float noise from a roll-up (0.056 vs 0.056000000000000015) must not break a tie in the rank test: the
    p-values are scipy's on the values as written."""
    noisy = sum([0.056] * 12) / 12
    assert noisy != 0.056
    before = [0.05, 0.056, 0.052, 0.054, 0.053, 0.051]
    after = [noisy, 0.058, 0.059, 0.057, 0.06, 0.061]
    paper = [0.056, *after[1:]]
    v = effect.judge(before + after, MONTHS[:12], MONTHS[6], direction="higher")
    assert v.p_good == pytest.approx(stats.mannwhitneyu(paper, before, alternative="greater").pvalue, rel=1e-12)
    assert v.p_bad == pytest.approx(stats.mannwhitneyu(paper, before, alternative="less").pvalue, rel=1e-12)


def test_a_run_of_after_points_stops_at_a_missing_period():
    """Issue 21: 8 after points above the centre with a month missing among them are not a run of 8."""
    after = [14.0] * 9
    values = BEFORE * 2 + after  # 12 before points, centre 12.08, all after points above it but inside the limits
    months = MONTHS[: len(values)]
    whole = effect.judge(values, months, months[12], direction="higher", cadence="month")
    assert whole.signal_improving
    holed_values = values[:16] + values[17:]
    holed_months = months[:16] + months[17:]  # the fifth after month was never reported: 4 + 4 around a gap
    v = effect.judge(holed_values, holed_months, months[12], direction="higher", cadence="month")
    assert not v.signal_improving and v.n_after == 8
