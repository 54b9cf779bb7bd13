"""Statistical process control for S&OP KPIs (DOMAIN.md §3 and §4).

XmR charts with Western Electric signals, Theil–Sen trends, and a verdict on
whether an improvement action moved a KPI. Pure numpy/pandas/scipy; no UI code.

Verdict rule of :func:`action_effect` (DOMAIN §4)
-----------------------------------------------
Points with ``period < completion`` are *before*, ``period >= completion`` are
*after*; points whose value is NaN or whose period is missing are dropped.

1. ``"too little data"`` if before or after has fewer than 6 points.
2. Freeze XmR limits on the before points (the baseline). On the after points:

   * improving signal = an after point strictly beyond the baseline limit on the
     improving side (``> ucl`` for ``higher``, ``< lcl`` for ``lower``) OR a run
     of >= 8 consecutive after points on the improving side of the baseline
     centre (a point exactly on the centre breaks the run);
   * worsening signal = the same on the other side.

3. One-sided Mann–Whitney U of after vs before: ``p_improving`` tests "after
   better than before" (``alternative="greater"`` for ``higher``, ``"less"`` for
   ``lower``); ``p_worsening`` is the opposite one-sided test. ``p_value`` in the
   result is ``p_improving``.
4. ``"improved"`` if improving signal AND ``p_improving < 0.05``.
5. else ``"worse"`` if there is no improving signal AND (worsening signal OR
   ``p_worsening < 0.05``).
6. else ``"no clear change"``; the explanation names whatever partial evidence
   exists (an improving signal without a significant test, a significant test
   without a signal, or mixed evidence).

``median_shift`` = median(after) − median(before), in the KPI's raw units (not
re-signed by direction).
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

MIN_POINTS = 6
PROVISIONAL_BELOW = 12
E2 = 2.66  # XmR limit factor (3 / d2)
D2 = 1.128  # d2 for moving ranges of 2
ALPHA = 0.05
RUN_LENGTH = 8

_DIRECTIONS = ("higher", "lower", "band")


@dataclass(frozen=True)
class XmR:
    """Frozen XmR chart parameters computed from a baseline."""

    centre: float
    mr_bar: float  # mean moving range
    sigma: float  # mr_bar / 1.128
    ucl: float  # centre + 2.66*mr_bar
    lcl: float  # centre - 2.66*mr_bar
    n_baseline: int
    provisional: bool  # n_baseline < 12


@dataclass(frozen=True)
class Trend:
    """Theil–Sen slope with 95 % interval and Kendall's tau test against time."""

    slope: float
    slope_low: float
    slope_high: float
    intercept: float
    tau: float
    p_value: float
    n: int


@dataclass(frozen=True)
class Effect:
    """Outcome of checking whether a KPI moved after an action (DOMAIN §4)."""

    verdict: str  # improved | no clear change | worse | too little data
    n_before: int
    n_after: int
    baseline: XmR | None
    signal_improving: bool
    signal_worsening: bool
    p_value: float | None  # one-sided MWU, improving side
    median_shift: float | None
    explanation: str  # one sentence for the UI


def _as_float(values: Any) -> np.ndarray:
    """Values as a 1-D float array (None/pd.NA become NaN)."""
    return pd.to_numeric(pd.Series(values, dtype="object"), errors="raise").to_numpy(
        dtype=float, na_value=np.nan
    ).ravel()


def xmr_limits(values: Any) -> XmR | None:
    """XmR centre and limits from baseline values (NaN dropped); None under 6 points."""
    x = _as_float(values)
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n < MIN_POINTS:
        return None
    centre = float(x.mean())
    mr_bar = float(np.abs(np.diff(x)).mean())
    return XmR(
        centre=centre,
        mr_bar=mr_bar,
        sigma=mr_bar / D2,
        ucl=centre + E2 * mr_bar,
        lcl=centre - E2 * mr_bar,
        n_baseline=n,
        provisional=n < PROVISIONAL_BELOW,
    )


def _window_flags(beyond: np.ndarray, window: int, need: int) -> np.ndarray:
    """Points that are beyond and lie in a window of `window` points with >= `need` beyond."""
    m = beyond.size
    if m < window:
        return np.zeros(m, dtype=bool)
    qualifies = sliding_window_view(beyond, window).sum(axis=1) >= need
    # covered[i] > 0 iff some qualifying window (start i-window+1 .. i) contains point i
    covered = np.convolve(qualifies.astype(int), np.ones(window, dtype=int))[:m] > 0
    return covered & beyond


def _run_flags(side: np.ndarray, min_len: int) -> np.ndarray:
    """Points in runs of >= min_len consecutive equal non-zero sides."""
    m = side.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    run_id = np.concatenate(([0], np.cumsum(side[1:] != side[:-1])))
    run_len = np.bincount(run_id)
    return (side != 0) & (run_len[run_id] >= min_len)


def signals(values: Any, limits: XmR) -> pd.DataFrame:
    """Per-point Western Electric flags: columns beyond_limits, two_of_three, four_of_five, eight_in_a_row, any, side (+1 above centre, -1 below, 0 on centre)."""
    arr = _as_float(values)
    ok = ~np.isnan(arr)
    x = arr[ok]
    c, s = limits.centre, limits.sigma
    side = np.sign(x - c).astype(int)

    rule1 = (x > limits.ucl) | (x < limits.lcl)
    rule2 = _window_flags(x > c + 2 * s, 3, 2) | _window_flags(x < c - 2 * s, 3, 2)
    rule3 = _window_flags(x > c + s, 5, 4) | _window_flags(x < c - s, 5, 4)
    rule4 = _run_flags(side, RUN_LENGTH)

    n = arr.size
    out = {}
    for name, flags in (
        ("beyond_limits", rule1),
        ("two_of_three", rule2),
        ("four_of_five", rule3),
        ("eight_in_a_row", rule4),
    ):
        full = np.zeros(n, dtype=bool)
        full[ok] = flags
        out[name] = full
    out["any"] = out["beyond_limits"] | out["two_of_three"] | out["four_of_five"] | out["eight_in_a_row"]
    full_side = np.zeros(n, dtype=int)
    full_side[ok] = side
    out["side"] = full_side
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def phase_ids(periods: Any, splits: Any) -> np.ndarray:
    """Phase number of each point: 0 before the first split date, k from the k-th split on (splits sorted)."""
    p = pd.to_datetime(pd.Series(list(periods), dtype="object")).to_numpy()
    cuts = np.sort(pd.to_datetime(pd.Series(list(splits), dtype="object")).to_numpy()) if len(list(splits)) else \
        np.array([], dtype="datetime64[ns]")
    return np.searchsorted(cuts, p, side="right").astype(int)


def phased_limits(values: Any, phases: Any, *, baseline: Any = None) -> list[XmR | None]:
    """XmR limits of each phase from its own points (only points where `baseline` is True, if given); None
    for a phase with fewer than 6 such points. One entry per phase number 0..max."""
    x = _as_float(values)
    ph = np.asarray(phases, dtype=int)
    use = np.ones(x.size, dtype=bool) if baseline is None else np.asarray(baseline, dtype=bool)
    n_phases = int(ph.max()) + 1 if ph.size else 0
    return [xmr_limits(x[(ph == k) & use]) for k in range(n_phases)]


def phased_signals(values: Any, phases: Any, limits: list[XmR | None]) -> pd.DataFrame:
    """Western Electric flags judged within each phase against that phase's limits (no flags without limits);
    runs and windows never span a phase boundary. Columns as :func:`signals`."""
    x = _as_float(values)
    ph = np.asarray(phases, dtype=int)
    out = pd.DataFrame({c: np.zeros(x.size, dtype=bool) for c in
                        ("beyond_limits", "two_of_three", "four_of_five", "eight_in_a_row", "any")})
    out["side"] = np.zeros(x.size, dtype=int)
    for k, lim in enumerate(limits):
        idx = np.flatnonzero(ph == k)
        if lim is None or not idx.size:
            continue
        flags = signals(x[idx], lim)
        for c in out.columns:
            out.loc[idx, c] = flags[c].to_numpy()
    return out


def trend(values: Any, times: Any = None) -> Trend | None:
    """Theil–Sen slope (per time unit) with 95% CI and Kendall tau p-value; None under 3 non-NaN points or constant time."""
    y = _as_float(values)
    t = np.arange(y.size, dtype=float) if times is None else _as_float(times)
    if t.size != y.size:
        raise ValueError("values and times must have the same length")
    ok = ~np.isnan(y) & ~np.isnan(t)
    y, t = y[ok], t[ok]
    if y.size < 3 or np.ptp(t) == 0:
        return None
    ts = stats.theilslopes(y, t, alpha=0.95)
    kt = stats.kendalltau(t, y)
    tau, p = float(kt.statistic), float(kt.pvalue)
    if math.isnan(tau):  # constant values: no association, no evidence of trend
        tau, p = 0.0, 1.0
    return Trend(
        slope=float(ts.slope),
        slope_low=float(ts.low_slope),
        slope_high=float(ts.high_slope),
        intercept=float(ts.intercept),
        tau=tau,
        p_value=p,
        n=int(y.size),
    )


def format_p(p: float) -> str:
    """p-value for display: 'p < 0.001' when tiny, else two significant digits, e.g. 'p = 0.031'."""
    if p is None or math.isnan(p):
        return "p = n/a"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {float(f'{p:.2g}'):g}"


def _check_direction(direction: str) -> None:
    """Raise ValueError for an unknown KPI direction."""
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")


def describe_trend(
    tr: Trend | None,
    *,
    direction: str,
    unit: str,
    per: str = "month",
    alpha: float = ALPHA,
    scale: float = 1.0,
    decimals: int = 1,
) -> str:
    """Trend in words for a manager, e.g. 'improving 0.4 pts a month, p = 0.01' or 'no clear trend (p = 0.31)'."""
    _check_direction(direction)
    if tr is None:
        return "not enough data for a trend"
    p_text = format_p(tr.p_value)
    if math.isnan(tr.p_value) or tr.p_value >= alpha:
        return f"no clear trend ({p_text})"
    # sign of the slope; fall back on tau when the median slope is exactly 0
    up = tr.slope > 0 or (tr.slope == 0 and tr.tau > 0)
    if direction == "band":
        word = "rising" if up else "falling"
    elif direction == "higher":
        word = "improving" if up else "worsening"
    else:
        word = "worsening" if up else "improving"
    magnitude = f"{abs(tr.slope * scale):.{decimals}f}"
    amount = f"{magnitude} {unit}".strip() if unit else magnitude
    return f"{word} {amount} a {per}, {p_text}"


def _before_mask(periods: Any, completion: Any) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (before, valid period) for periods relative to completion."""
    if isinstance(completion, (_dt.date, np.datetime64, pd.Timestamp, str)):
        p = pd.to_datetime(pd.Series(list(periods), dtype="object")).to_numpy()
        c = pd.Timestamp(completion).to_datetime64()
        valid = ~pd.isna(p)
        return (p < c) & valid, valid
    p = _as_float(periods)
    valid = ~np.isnan(p)
    return (p < float(completion)) & valid, valid


def _fmt(x: float) -> str:
    """Compact number for explanations (3 significant digits)."""
    return "0" if x == 0 else f"{x:+.3g}"


def action_effect(values: Any, periods: Any, completion: Any, *, direction: str) -> Effect:
    """Verdict whether a KPI moved after an action completed (DOMAIN §4)."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"action_effect needs direction 'higher' or 'lower', got {direction!r}")
    y = _as_float(values)
    periods = list(periods)
    if len(periods) != y.size:
        raise ValueError("values and periods must have the same length")
    before_mask, valid = _before_mask(periods, completion)
    keep = valid & ~np.isnan(y)
    before = y[keep & before_mask]
    after = y[keep & ~before_mask]
    nb, na = int(before.size), int(after.size)
    baseline = xmr_limits(before)

    if nb < MIN_POINTS or na < MIN_POINTS:
        return Effect(
            verdict="too little data",
            n_before=nb,
            n_after=na,
            baseline=baseline,
            signal_improving=False,
            signal_worsening=False,
            p_value=None,
            median_shift=None,
            explanation=(
                f"Too little data to judge: {nb} points before and {na} after the action "
                f"(at least {MIN_POINTS} needed on each side)."
            ),
        )

    good = 1 if direction == "higher" else -1
    flags = signals(after, baseline)
    side = flags["side"].to_numpy()
    beyond = flags["beyond_limits"].to_numpy()
    run = flags["eight_in_a_row"].to_numpy()
    beyond_good, beyond_bad = bool((beyond & (side == good)).any()), bool((beyond & (side == -good)).any())
    run_good, run_bad = bool((run & (side == good)).any()), bool((run & (side == -good)).any())
    sig_good, sig_bad = beyond_good or run_good, beyond_bad or run_bad

    alt_good, alt_bad = ("greater", "less") if good == 1 else ("less", "greater")
    p_good = float(stats.mannwhitneyu(after, before, alternative=alt_good).pvalue)
    p_bad = float(stats.mannwhitneyu(after, before, alternative=alt_bad).pvalue)
    shift = float(np.median(after) - np.median(before))
    sig_p_good, sig_p_bad = p_good < ALPHA, p_bad < ALPHA

    good_side = "above" if good == 1 else "below"
    bad_side = "below" if good == 1 else "above"

    def _sig_text(beyond_hit: bool, run_hit: bool, where: str) -> str:
        parts = []
        if beyond_hit:
            limit = "upper" if where == "above" else "lower"
            parts.append(f"a point {where} the {limit} baseline limit")
        if run_hit:
            parts.append(f"{RUN_LENGTH} in a row {where} the baseline centre")
        return " and ".join(parts)

    shift_text = f"median shift {_fmt(shift)}"
    prov = " (baseline limits are provisional)" if baseline.provisional else ""

    if sig_good and sig_p_good:
        verdict = "improved"
        why = (
            f"Improved: {_sig_text(beyond_good, run_good, good_side)} after the action, "
            f"and the after values are better (one-sided Mann–Whitney {format_p(p_good)}, {shift_text}){prov}."
        )
    elif not sig_good and (sig_bad or sig_p_bad):
        verdict = "worse"
        evidence = []
        if sig_bad:
            evidence.append(f"{_sig_text(beyond_bad, run_bad, bad_side)} after the action")
        if sig_p_bad:
            evidence.append(f"after values are worse (one-sided Mann–Whitney {format_p(p_bad)})")
        why = f"Worse: {' and '.join(evidence)}, {shift_text}{prov}."
    else:
        verdict = "no clear change"
        if sig_good:
            why = (
                f"No clear change: {_sig_text(beyond_good, run_good, good_side)} after the action, "
                f"but the before/after difference is not significant (Mann–Whitney {format_p(p_good)}, {shift_text}){prov}."
            )
        elif sig_p_good:
            why = (
                f"No clear change: after values are better on average (Mann–Whitney {format_p(p_good)}, "
                f"{shift_text}) but there is no point beyond the baseline limit and no run of {RUN_LENGTH} on the improving side{prov}."
            )
        else:
            why = (
                f"No clear change: no signal against the baseline limits and no significant "
                f"difference (Mann–Whitney {format_p(p_good)}, {shift_text}){prov}."
            )
        if sig_good and (sig_bad or sig_p_bad):
            why = why[:-1] + "; evidence is mixed, with worsening signs too."

    return Effect(
        verdict=verdict,
        n_before=nb,
        n_after=na,
        baseline=baseline,
        signal_improving=sig_good,
        signal_worsening=sig_bad,
        p_value=p_good,
        median_shift=shift,
        explanation=why,
    )
