"""Tests for kpis.spc (XmR limits, Western Electric signals, trends); the action verdict is tested in
tests/improvement/test_effect.py."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kpis import spc

# A hand-made chart: centre 0, sigma 1, limits ±3 — makes the signal series easy to read.
UNIT = spc.XmR(centre=0.0, mr_bar=1.128, sigma=1.0, ucl=3.0, lcl=-3.0, n_baseline=20, provisional=False)


def flagged(df: pd.DataFrame, col: str) -> list[int]:
    """Indices where a signal column is True."""
    return [int(i) for i in df.index[df[col]]]


# ---------------------------------------------------------------- xmr_limits


def test_xmr_limits_hand_calculated():
    # values 10,12,11,13,12,14: centre = 72/6 = 12
    # MR = |12-10|,|11-12|,|13-11|,|12-13|,|14-12| = 2,1,2,1,2 -> mr_bar = 8/5 = 1.6
    # sigma = 1.6/1.128 = 1.418440; ucl = 12 + 2.66*1.6 = 16.256; lcl = 12 - 4.256 = 7.744
    x = spc.xmr_limits([10, 12, 11, 13, 12, 14])
    assert x.centre == pytest.approx(12.0)
    assert x.mr_bar == pytest.approx(1.6)
    assert x.sigma == pytest.approx(1.418440, rel=1e-6)
    assert x.ucl == pytest.approx(16.256)
    assert x.lcl == pytest.approx(7.744)
    assert x.n_baseline == 6


def test_xmr_limits_none_under_six_points():
    assert spc.xmr_limits([10, 12, 11, 13, 12]) is None


def test_xmr_limits_drops_nan_before_counting():
    # five real points + NaN is still under 6
    assert spc.xmr_limits([10, 12, np.nan, 11, 13, 12]) is None
    # NaN dropped: same as [10,12,11,13,12,14] -> centre 12, mr_bar 1.6 (MR across the gap 12->11)
    x = spc.xmr_limits([10, 12, np.nan, 11, 13, 12, 14])
    assert (x.centre, x.mr_bar, x.n_baseline) == (pytest.approx(12.0), pytest.approx(1.6), 6)


def test_xmr_provisional_at_11_not_at_12():
    assert spc.xmr_limits(range(11)).provisional is True
    assert spc.xmr_limits(range(12)).provisional is False


# ---------------------------------------------------------------- signals


def test_signals_columns_and_index():
    df = spc.signals([0.5, -0.5, 0.0], UNIT)
    assert list(df.columns) == ["beyond_limits", "two_of_three", "four_of_five", "eight_in_a_row", "any", "side"]
    assert list(df.index) == [0, 1, 2]
    assert list(df["side"]) == [1, -1, 0]


def test_rule1_point_beyond_limits():
    # 3.5 > ucl 3; only one point beyond 2σ/1σ so rules 2 and 3 stay quiet; sides alternate
    df = spc.signals([0.5, -0.5, 0.5, -0.5, 3.5, -0.5, 0.5], UNIT)
    assert flagged(df, "beyond_limits") == [4]
    assert flagged(df, "any") == [4]


def test_rule1_near_miss_on_the_limit_is_not_beyond():
    df = spc.signals([0.5, -0.5, 0.5, -0.5, 3.0, -0.5, -3.0], UNIT)  # exactly on ucl / lcl
    assert not df["beyond_limits"].any()


def test_rule2_two_of_three_beyond_two_sigma():
    # window (2.5, 0.5, 2.5) has 2 of 3 above +2σ; only the two beyond points are flagged
    df = spc.signals([0.5, -0.5, 2.5, 0.5, 2.5, -0.5, 0.5], UNIT)
    assert flagged(df, "two_of_three") == [2, 4]
    assert flagged(df, "any") == [2, 4]


def test_rule2_near_miss_one_of_three():
    # 2.5s are 3 apart: every window of 3 holds only one point beyond 2σ
    df = spc.signals([0.5, -0.5, 2.5, 0.5, 0.5, 2.5, -0.5], UNIT)
    assert not df["two_of_three"].any()
    assert not df["any"].any()


def test_rule2_needs_same_side():
    df = spc.signals([2.5, 0.5, -2.5], UNIT)
    assert not df["two_of_three"].any()


def test_rule3_four_of_five_beyond_one_sigma():
    # points 1..5 = 1.5,1.5,0.5,1.5,1.5 -> 4 of 5 above +1σ; the 0.5 is not flagged
    df = spc.signals([-0.5, 1.5, 1.5, 0.5, 1.5, 1.5, -0.5], UNIT)
    assert flagged(df, "four_of_five") == [1, 2, 4, 5]
    assert flagged(df, "any") == [1, 2, 4, 5]


def test_rule3_near_miss_three_of_five():
    df = spc.signals([-0.5, 1.5, 1.5, 0.5, 0.5, 1.5, -0.5], UNIT)
    assert not df["four_of_five"].any()
    assert not df["any"].any()


def test_rule4_eight_in_a_row():
    df = spc.signals([-0.5] + [0.5] * 8 + [-0.5], UNIT)
    assert flagged(df, "eight_in_a_row") == list(range(1, 9))
    assert flagged(df, "any") == list(range(1, 9))


def test_rule4_near_miss_seven_in_a_row():
    df = spc.signals([-0.5] + [0.5] * 7 + [-0.5], UNIT)
    assert not df["eight_in_a_row"].any()


def test_rule4_point_on_centre_breaks_the_run():
    df = spc.signals([0.5] * 4 + [0.0] + [0.5] * 4, UNIT)
    assert not df["eight_in_a_row"].any()
    assert df["side"].iloc[4] == 0


def test_signals_nan_points_are_skipped_and_unflagged():
    # the NaN is skipped, so the 8 non-NaN points form one run; NaN row gets False and side 0
    df = spc.signals([0.5] * 4 + [np.nan] + [0.5] * 4, UNIT)
    assert flagged(df, "eight_in_a_row") == [0, 1, 2, 3, 5, 6, 7, 8]
    row = df.iloc[4]
    assert not row[["beyond_limits", "two_of_three", "four_of_five", "eight_in_a_row", "any"]].any()
    assert row["side"] == 0


def test_rule2_window_runs_across_nan():
    # non-NaN sequence is (2.5, 2.5, 0.5): a window of 3 with two points beyond +2σ
    df = spc.signals([2.5, np.nan, 2.5, 0.5], UNIT)
    assert flagged(df, "two_of_three") == [0, 2]


# ---------------------------------------------------------------- trend


def test_trend_theil_sen_hand_calculated():
    # y = 1,3,2,5 at t = 0..3; pairwise slopes:
    # (0,1)=2, (0,2)=0.5, (0,3)=4/3, (1,2)=-1, (1,3)=1, (2,3)=3
    # sorted -1, 0.5, 1, 1.333, 2, 3 -> median = (1 + 4/3)/2 = 7/6
    # intercept = median(y) - slope*median(t) = 2.5 - 7/6*1.5 = 0.75
    # Kendall: 5 concordant, 1 discordant -> tau = 4/6
    tr = spc.trend([1, 3, 2, 5])
    assert tr.slope == pytest.approx(7 / 6)
    assert tr.intercept == pytest.approx(0.75)
    assert tr.tau == pytest.approx(4 / 6)
    assert tr.p_value == pytest.approx(stats.kendalltau([0, 1, 2, 3], [1, 3, 2, 5]).pvalue)
    assert tr.slope_low <= tr.slope <= tr.slope_high
    assert tr.n == 4


def test_trend_uses_given_times():
    # t = 0, 2, 4, 6: every slope halves -> 7/12
    tr = spc.trend([1, 3, 2, 5], times=[0, 2, 4, 6])
    assert tr.slope == pytest.approx(7 / 12)


def test_trend_drops_nan_with_its_time():
    # NaN at t=2 dropped together with t=2: y = 1,3,5 at t = 0,1,3
    tr = spc.trend([1, 3, np.nan, 5])
    # slopes (0,1)=2, (0,3)=4/3, (1,3)=1 -> median 4/3
    assert tr.slope == pytest.approx(4 / 3)
    assert tr.n == 3


def test_trend_none_under_three_points_or_constant_time():
    assert spc.trend([1, np.nan, 2]) is None
    assert spc.trend([1, 2, 3], times=[5, 5, 5]) is None


# ---------------------------------------------------------------- describe_trend


def _tr(slope: float, p: float) -> spc.Trend:
    return spc.Trend(
        slope=slope, slope_low=slope, slope_high=slope, intercept=0.0, tau=math.copysign(0.5, slope), p_value=p, n=12
    )


def test_describe_trend_higher_improving_with_scale():
    text = spc.describe_trend(_tr(0.004, 0.01), direction="higher", unit="pts", scale=100)
    assert text == "improving 0.4 pts a month, p = 0.01"


def test_describe_trend_higher_worsening():
    assert spc.describe_trend(_tr(-0.4, 0.02), direction="higher", unit="pts") == "worsening 0.4 pts a month, p = 0.02"


def test_describe_trend_lower_falling_is_improving():
    text = spc.describe_trend(_tr(-1.25, 0.0004), direction="lower", unit="days", per="week", decimals=2)
    assert text == "improving 1.25 days a week, p < 0.001"


def test_describe_trend_lower_rising_is_worsening():
    assert spc.describe_trend(_tr(2.0, 0.03), direction="lower", unit="days") == "worsening 2.0 days a month, p = 0.03"


def test_describe_trend_band_says_rising_or_falling():
    assert spc.describe_trend(_tr(0.3, 0.01), direction="band", unit="pts") == "rising 0.3 pts a month, p = 0.01"
    assert spc.describe_trend(_tr(-0.3, 0.01), direction="band", unit="pts") == "falling 0.3 pts a month, p = 0.01"


def test_describe_trend_not_significant():
    assert spc.describe_trend(_tr(0.4, 0.3123), direction="higher", unit="pts") == "no clear trend (p = 0.31)"


def test_describe_trend_none():
    assert spc.describe_trend(None, direction="higher", unit="pts") == "not enough data for a trend"


def test_describe_trend_rejects_unknown_direction():
    with pytest.raises(ValueError):
        spc.describe_trend(_tr(0.4, 0.01), direction="up", unit="pts")


def test_phase_ids_split_at_dates():
    import datetime as dt

    from kpis import spc as _spc

    periods = pd.date_range("2025-01-01", periods=6, freq="MS")
    ids = _spc.phase_ids(periods, [dt.date(2025, 3, 1), dt.date(2025, 5, 1)])
    assert ids.tolist() == [0, 0, 1, 1, 2, 2]
    assert _spc.phase_ids(periods, []).tolist() == [0] * 6


def test_phased_limits_and_signals_judged_within_their_phase():
    from kpis import spc as _spc

    # phase 0: 10, 12, 10, 12, 10, 12 -> centre 11, mean MR 2, limits 11 ± 5.32
    # phase 1: 20, 22, 20, 22, 20, 22 -> centre 21, limits 21 ± 5.32
    x = [10, 12] * 3 + [20, 22] * 3
    ph = [0] * 6 + [1] * 6
    lims = _spc.phased_limits(x, ph)
    assert [lim.centre for lim in lims] == pytest.approx([11, 21])
    assert lims[0].ucl == pytest.approx(11 + 2.66 * 2) and lims[1].lcl == pytest.approx(21 - 2.66 * 2)
    flags = _spc.phased_signals(x, ph, lims)
    assert not flags["any"].any()  # against one set of limits the step would be a signal
    one = _spc.signals(x, _spc.xmr_limits(x))
    assert one["any"].any()


def test_phase_without_enough_points_has_no_limits_and_no_signals():
    from kpis import spc as _spc

    x = [10, 12] * 3 + [50, 51]
    ph = [0] * 6 + [1] * 2
    lims = _spc.phased_limits(x, ph)
    assert lims[1] is None
    flags = _spc.phased_signals(x, ph, lims)
    assert not flags["any"].iloc[6:].any()


# ---------------------------------------------------------------- issue 21: gaps, float noise, p-values


def test_runs_and_windows_stop_at_a_gap():
    """A run of the 8-in-a-row rule, and a window of the 2-of-3 and 4-of-5 rules, counts consecutive periods: a
    missing period (a jump in the period numbers) ends it."""
    eight = [0.5] * 8
    assert spc.signals(eight, UNIT, positions=range(8))["eight_in_a_row"].all()
    gap = [0, 1, 2, 3, 5, 6, 7, 8]  # period 4 missing: two runs of 4
    assert not spc.signals(eight, UNIT, positions=gap)["eight_in_a_row"].any()
    assert spc.signals(eight, UNIT)["eight_in_a_row"].all()  # without positions the values are consecutive
    assert flagged(spc.signals([2.5, 2.5, 0.5], UNIT, positions=[0, 1, 2]), "two_of_three") == [0, 1]
    assert not spc.signals([2.5, 2.5, 0.5], UNIT, positions=[0, 2, 3])["two_of_three"].any()
    four = [1.5, 1.5, 1.5, 1.5, 0.5]
    assert flagged(spc.signals(four, UNIT, positions=[0, 1, 2, 3, 4]), "four_of_five") == [0, 1, 2, 3]
    assert not spc.signals(four, UNIT, positions=[0, 1, 3, 4, 5])["four_of_five"].any()
    # beyond the limits is a one-point rule: a gap changes nothing
    assert flagged(spc.signals([3.5, 0.0], UNIT, positions=[0, 9]), "beyond_limits") == [0]


def test_phased_signals_stop_at_a_gap_too():
    x = np.array([0.5] * 8)
    flags = spc.phased_signals(x, np.zeros(8, dtype=int), [UNIT], positions=[0, 1, 2, 3, 4, 5, 6, 8])
    assert not flags["eight_in_a_row"].any()


def test_rank_tests_round_float_noise_away_like_scipy_on_the_paper_values():
    """Issue 21: values equal on paper differ after a roll-up (0.056 and 0.056000000000000015), so Kendall's tau
    and Theil–Sen treated a tie as two values. Checked against scipy on the values as written."""
    from kpis import formatting

    noisy = [0.055, 0.069, 0.044, 0.068, 0.049, 0.053, 0.065, 0.052, 0.056, 0.041, 0.063, 0.057]  # mean 0.056
    paper = [0.060, 0.056, 0.056, 0.054, 0.057, 0.052, 0.050, 0.051, 0.049, 0.047]
    months = [v for i, p in enumerate(paper) for v in (noisy if i == 1 else [p] * 12)]
    s = pd.DataFrame({"period": pd.date_range("2015-01-01", periods=120, freq="MS"), "value": months})
    yearly = s.groupby(s["period"].dt.year)["value"].mean().to_numpy()  # the roll-up's mean
    assert yearly[1] != yearly[2] and formatting.significant(yearly[1]) == formatting.significant(yearly[2])
    t = np.arange(10.0)
    assert stats.kendalltau(t, yearly).pvalue != pytest.approx(stats.kendalltau(t, paper).pvalue)  # the noise bites
    tr = spc.trend(yearly, t)
    want_tau = stats.kendalltau(t, paper)
    want_ts = stats.theilslopes(paper, t, alpha=0.95)
    assert tr.p_value == pytest.approx(want_tau.pvalue, rel=1e-12)
    assert tr.tau == pytest.approx(want_tau.statistic, rel=1e-12)
    assert (tr.slope, tr.slope_low, tr.slope_high) == pytest.approx(
        (want_ts.slope, want_ts.low_slope, want_ts.high_slope), rel=1e-9
    )
    assert formatting.significant(0.055999999999999994) == 0.056


def test_p_value_keeps_its_side_of_the_threshold():
    """Two significant figures, but a p-value below 0.05 is never shown at 0.05 (0.0496 is not 'p = 0.05')."""
    assert spc.format_p(0.0496) == "p = 0.0496"
    assert spc.format_p(0.031) == "p = 0.031"
    assert spc.format_p(0.0504) == "p = 0.05"  # not significant, and shown as such
    assert spc.format_p(0.5) == "p = 0.5"
    assert spc.format_p(0.0082) == "p = 0.0082"
    assert spc.format_p(0.0004) == "p < 0.001"
    assert spc.format_p(0.049999) == "p < 0.05"
