"""Statistical process control for S&OP KPIs (docs/methodology.md).

XmR charts with Western Electric signals and Theil–Sen trends. Pure numpy/pandas/scipy; no UI code.

The verdict on whether an improvement action worked is built from these blocks in
:mod:`kpis.improvement.effect`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from kpis import formatting

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


def _as_float(values: Any) -> np.ndarray:
    """Values as a 1-D float array (None/pd.NA become NaN)."""
    return (
        pd.to_numeric(pd.Series(values, dtype="object"), errors="raise").to_numpy(dtype=float, na_value=np.nan).ravel()
    )


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


def _blocks(positions: np.ndarray | None, m: int) -> list[slice]:
    """Stretches of consecutive points: a new one starts where the position (period number) jumps by more than 1."""
    if positions is None or m == 0:
        return [slice(0, m)]
    cuts = np.flatnonzero(np.diff(positions) != 1) + 1
    edges = [0, *cuts.tolist(), m]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def signals(values: Any, limits: XmR, positions: Any = None) -> pd.DataFrame:
    """Per-point Western Electric flags: columns beyond_limits, two_of_three, four_of_five, eight_in_a_row, any,
    side (+1 above centre, -1 below, 0 on centre).

    `positions` (each value's period number, consecutive periods 1 apart) marks gaps: the 2-of-3, 4-of-5 and
    8-in-a-row rules count consecutive periods, so a run or window stops at a missing or left-out period and
    starts afresh after it (docs/methodology.md, signal rules). Without positions the values are taken as
    consecutive (NaN skipped)."""
    arr = _as_float(values)
    ok = ~np.isnan(arr)
    x = arr[ok]
    pos = None if positions is None else _as_float(positions)[ok]
    c, s = limits.centre, limits.sigma
    side = np.sign(x - c).astype(int)

    rule1 = (x > limits.ucl) | (x < limits.lcl)
    rule2 = np.zeros(x.size, dtype=bool)
    rule3 = np.zeros(x.size, dtype=bool)
    rule4 = np.zeros(x.size, dtype=bool)
    for b in _blocks(pos, x.size):
        xb = x[b]
        rule2[b] = _window_flags(xb > c + 2 * s, 3, 2) | _window_flags(xb < c - 2 * s, 3, 2)
        rule3[b] = _window_flags(xb > c + s, 5, 4) | _window_flags(xb < c - s, 5, 4)
        rule4[b] = _run_flags(side[b], RUN_LENGTH)

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
    cuts = (
        np.sort(pd.to_datetime(pd.Series(list(splits), dtype="object")).to_numpy())
        if len(list(splits))
        else np.array([], dtype="datetime64[ns]")
    )
    return np.searchsorted(cuts, p, side="right").astype(int)


def phased_limits(values: Any, phases: Any, *, baseline: Any = None) -> list[XmR | None]:
    """XmR limits of each phase from its own points (only points where `baseline` is True, if given); None
    for a phase with fewer than 6 such points. One entry per phase number 0..max."""
    x = _as_float(values)
    ph = np.asarray(phases, dtype=int)
    use = np.ones(x.size, dtype=bool) if baseline is None else np.asarray(baseline, dtype=bool)
    n_phases = int(ph.max()) + 1 if ph.size else 0
    return [xmr_limits(x[(ph == k) & use]) for k in range(n_phases)]


def phased_signals(values: Any, phases: Any, limits: list[XmR | None], positions: Any = None) -> pd.DataFrame:
    """Western Electric flags judged within each phase against that phase's limits (no flags without limits);
    runs and windows never span a phase boundary, nor a gap in `positions` (see :func:`signals`). Columns as
    :func:`signals`."""
    x = _as_float(values)
    pos = None if positions is None else _as_float(positions)
    ph = np.asarray(phases, dtype=int)
    out = pd.DataFrame(
        {
            c: np.zeros(x.size, dtype=bool)
            for c in ("beyond_limits", "two_of_three", "four_of_five", "eight_in_a_row", "any")
        }
    )
    out["side"] = np.zeros(x.size, dtype=int)
    for k, lim in enumerate(limits):
        idx = np.flatnonzero(ph == k)
        if lim is None or not idx.size:
            continue
        flags = signals(x[idx], lim, None if pos is None else pos[idx])
        for c in out.columns:
            out.loc[idx, c] = flags[c].to_numpy()
    return out


def trend(values: Any, times: Any = None) -> Trend | None:
    """Theil–Sen slope (per time unit) with 95% CI and Kendall tau p-value; None under 3 non-NaN points or
    constant time."""
    y = _as_float(values)
    t = np.arange(y.size, dtype=float) if times is None else _as_float(times)
    if t.size != y.size:
        raise ValueError("values and times must have the same length")
    ok = ~np.isnan(y) & ~np.isnan(t)
    y, t = y[ok], t[ok]
    if y.size < 3 or np.ptp(t) == 0:
        return None
    from scipy import stats  # on first use: about a second of CPU that pages showing no trend never pay

    # Rank-based: values equal on paper must tie, so float noise from a roll-up (0.056 vs 0.055999999999999994)
    # is rounded away first (12 significant digits, kpis.formatting.significant).
    y, t = formatting.significant(y), formatting.significant(t)
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


def format_p(p: float, alpha: float = ALPHA) -> str:
    """p-value for display (kpis.formatting.p_value): 'p < 0.001' when tiny, else two significant figures
    ('p = 0.031'), more when two would put it on the other side of, or at, the threshold ('p = 0.0496')."""
    return formatting.p_value(p, alpha)


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
