"""Did an improvement action work? The verdict on the KPI it should move, and freezing it.

Rule (docs/methodology.md, "Did an improvement action work?"):

* *before* = the KPI's points whose period starts before the completion date, *after* = the rest
  (a period starting on the completion date is after); fewer than 6 on either side: ``too little data``.
* XmR limits are frozen on the before points (:func:`kpis.spc.xmr_limits`). An after point beyond a
  baseline limit, or 8 after points in a row on one side of the baseline centre, is a signal; it is on
  the improving side when it lies on the side the action should move the KPI.
* One-sided Mann–Whitney U of after against before toward the improving side (``p_good``) and toward
  the worsening side (``p_bad``); α = 0.05. Median shift = median(after) − median(before).
* ``improved`` = improving-side signal and p_good < α; else ``worse`` = no improving-side signal and
  (a worsening-side signal or p_bad < α); else ``no clear change``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from kpis import formatting, spc
from kpis.series import kpi_series  # the KPI series an action is judged on (pages call effect.kpi_series)

MIN_POINTS = spc.MIN_POINTS
ALPHA = spc.ALPHA
RUN_LENGTH = spc.RUN_LENGTH
VERDICTS = ("improved", "no clear change", "worse", "too little data")
DIRECTIONS = ("higher", "lower")


@dataclass(frozen=True)
class Verdict:
    """The verdict on one action and every figure it rests on."""

    verdict: str
    n_before: int
    n_after: int
    centre: float | None
    lower_limit: float | None
    upper_limit: float | None
    signal_improving: bool
    signal_worsening: bool
    p_good: float | None
    p_bad: float | None
    median_shift: float | None
    explanation: str
    provisional: bool = False  # fewer than 12 baseline points

    def figures(self) -> dict[str, Any]:
        """The verdict as a JSON-safe dict (NaN becomes None), as frozen in the database."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_figures(cls, figures: dict[str, Any]) -> Verdict:
        """A verdict read back from its frozen figures."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in figures.items() if k in known})


def split(values: Any, periods: Any, completion: Any) -> tuple[np.ndarray, np.ndarray]:
    """(before, after) values around the completion date; NaN values and missing periods dropped."""
    y = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="raise").to_numpy(dtype=float, na_value=np.nan)
    p = pd.to_datetime(pd.Series(list(periods), dtype="object"))
    if len(p) != y.size:
        raise ValueError("values and periods must have the same length")
    c = pd.Timestamp(completion)
    keep = p.notna().to_numpy() & ~np.isnan(y)
    before = keep & (p < c).to_numpy()
    return y[before], y[keep & ~before]


def _after_positions(values: Any, periods: Any, completion: Any, cadence: str | None) -> np.ndarray | None:
    """Period numbers of the after points (as `split` keeps them), so a run stops at a gap; None without a cadence."""
    if cadence is None:
        return None
    from kpis.periods import period_number

    y = pd.to_numeric(pd.Series(list(values), dtype="object"), errors="raise").to_numpy(dtype=float, na_value=np.nan)
    p = pd.to_datetime(pd.Series(list(periods), dtype="object"))
    keep = p.notna().to_numpy() & ~np.isnan(y) & (p >= pd.Timestamp(completion)).to_numpy()
    return np.asarray(period_number(p[keep], cadence), dtype=float)


def _fmt(x: float) -> str:
    """A number for explanations (3 significant digits, signed)."""
    return "0" if x == 0 else f"{x:+.3g}"


def _signal_words(beyond: bool, run: bool, side: str) -> str:
    parts = []
    if beyond:
        parts.append(f"a point {side} the {'upper' if side == 'above' else 'lower'} baseline limit")
    if run:
        parts.append(f"{RUN_LENGTH} points in a row {side} the baseline centre")
    return " and ".join(parts)


def judge(
    values: Any,
    periods: Any,
    completion: Any,
    *,
    direction: str,
    change_text: Callable[[float], str] | None = None,
    cadence: str | None = None,
) -> Verdict:
    """The verdict for a KPI series (values by period start) and an action completed on `completion`.

    `change_text` writes the median shift in the KPI's own unit (kpis.catalog.format_change: '-4.5 pts'), as the
    page's figures show it; without it the shift is a plain number. With the KPI's `cadence` a run of after
    points stops at a missing period (kpis.spc.signals positions)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"the expected direction must be 'higher' or 'lower', got {direction!r}")
    before, after = split(values, periods, completion)
    # Rank-based test: values equal on paper must tie (float noise from a roll-up rounded away).
    before, after = np.atleast_1d(formatting.significant(before)), np.atleast_1d(formatting.significant(after))
    nb, na = int(before.size), int(after.size)
    limits = spc.xmr_limits(before)
    lims = (limits.centre, limits.lcl, limits.ucl) if limits else (None, None, None)
    if nb < MIN_POINTS or na < MIN_POINTS:
        return Verdict(
            "too little data",
            nb,
            na,
            *lims,
            False,
            False,
            None,
            None,
            None,
            f"Too little data to judge: {nb} point{'s' * (nb != 1)} before and {na} after the completion "
            f"date; at least {MIN_POINTS} are needed on each side.",
            provisional=bool(limits and limits.provisional),
        )
    good = 1 if direction == "higher" else -1
    flags = spc.signals(after, limits, _after_positions(values, periods, completion, cadence))
    side = flags["side"].to_numpy()
    beyond, run = flags["beyond_limits"].to_numpy(), flags["eight_in_a_row"].to_numpy()
    beyond_good, beyond_bad = bool((beyond & (side == good)).any()), bool((beyond & (side == -good)).any())
    run_good, run_bad = bool((run & (side == good)).any()), bool((run & (side == -good)).any())
    sig_good, sig_bad = beyond_good or run_good, beyond_bad or run_bad
    alt_good, alt_bad = ("greater", "less") if good == 1 else ("less", "greater")
    from scipy import stats  # on first use: about a second of CPU that pages showing no verdict never pay

    p_good = float(stats.mannwhitneyu(after, before, alternative=alt_good).pvalue)
    p_bad = float(stats.mannwhitneyu(after, before, alternative=alt_bad).pvalue)
    shift = float(np.median(after) - np.median(before))
    good_side, bad_side = ("above", "below") if good == 1 else ("below", "above")
    test_good = f"the after values are better than the before values (one-sided Mann–Whitney {spc.format_p(p_good)})"
    test_bad = f"the after values are worse than the before values (one-sided Mann–Whitney {spc.format_p(p_bad)})"
    tail = f" Median {(change_text or _fmt)(shift)} ({nb} points before, {na} after)."
    if limits.provisional:
        tail += f" The baseline limits are provisional (under {spc.PROVISIONAL_BELOW} points)."

    if sig_good and p_good < ALPHA:
        verdict = "improved"
        why = f"Improved: {_signal_words(beyond_good, run_good, good_side)} after completion, and {test_good}."
    elif not sig_good and (sig_bad or p_bad < ALPHA):
        verdict = "worse"
        evidence = []
        if sig_bad:
            evidence.append(f"{_signal_words(beyond_bad, run_bad, bad_side)} after completion")
        if p_bad < ALPHA:
            evidence.append(test_bad)
        why = f"Worse: {' and '.join(evidence)}."
    else:
        verdict = "no clear change"
        if sig_good:
            why = (
                f"No clear change: {_signal_words(beyond_good, run_good, good_side)} after completion, but the "
                f"before/after difference is not significant (one-sided Mann–Whitney {spc.format_p(p_good)})."
            )
            if sig_bad:
                why += " There are worsening signals too, so the evidence is mixed."
        elif p_good < ALPHA:
            why = (
                f"No clear change: {test_good}, but no point lies beyond the baseline limits and there is no run "
                f"of {RUN_LENGTH} on the improving side; this may be a drift rather than a step."
            )
        else:
            why = (
                "No clear change: no point beyond the baseline limits, no run of "
                f"{RUN_LENGTH} on one side, and no significant difference (one-sided Mann–Whitney "
                f"{spc.format_p(p_good)}); the after values look like routine variation."
            )
    return Verdict(
        verdict, nb, na, *lims, sig_good, sig_bad, p_good, p_bad, shift, why + tail, provisional=limits.provisional
    )


def current_verdict(
    engine, config, *, kpi_id: str | None, segment: str, direction: str | None, completed_on: dt.date | None
) -> Verdict | None:
    """The verdict on today's data; None when the action has no KPI, direction or completion date."""
    if not kpi_id or direction not in DIRECTIONS or completed_on is None:
        return None
    s = kpi_series(engine, config, kpi_id, segment or "")
    kpi = config.kpi_by_id.get(kpi_id)
    return judge(
        s["value"],
        s["period"],
        completed_on,
        direction=direction,
        change_text=change_text(config, kpi_id),
        cadence=kpi.cadence if kpi is not None else None,
    )


def change_text(config, kpi_id: str) -> Callable[[float], str] | None:
    """The KPI's change format ('-4.5 pts', '+2.0 days') for a verdict's median shift; None for an unknown KPI."""
    kpi = config.kpi_by_id.get(kpi_id)
    if kpi is None:
        return None
    from kpis.catalog.units import format_change

    return lambda d: format_change(kpi, d, config.app.currency)
