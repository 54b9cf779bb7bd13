"""Targets over time, status against target, and the green/amber bands of a KPI."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from kpis.config import KPI

STATUSES = ("green", "amber", "red", "none")
STATUS_COLOURS = {"green": "#2e7d32", "amber": "#f0a202", "red": "#c62828", "none": "#9e9e9e"}
STATUS_LABELS = {"green": "On target", "amber": "At risk", "red": "Off target", "none": "No data"}
DIRECTION_LABELS = {"higher": "Higher is better", "lower": "Lower is better", "band": "Within a band"}
FUNCTION_LABELS = {
    "sales": "Sales",
    "marketing": "Marketing",
    "finance": "Finance",
    "supply": "Supply chain",
    "production": "Production",
    "executive": "Executive",
    "partners": "External partners",
}


def targets_at(kpi: KPI, starts: pd.Series | list) -> np.ndarray:
    """Target in force for each period start (NaN before the first effective-from)."""
    steps = kpi.target_steps()
    eff = np.array([np.datetime64(d if d != dt.date.min else dt.date(1, 1, 1), "D") for d, _ in steps])
    vals = np.array([v for _, v in steps], dtype=float)
    s = pd.to_datetime(pd.Series(starts)).to_numpy().astype("datetime64[D]")
    pos = np.searchsorted(eff, s, side="right") - 1
    out = np.where(pos >= 0, vals[np.clip(pos, 0, None)], np.nan)
    return out.astype(float)


def shortfall(kpi: KPI, values: np.ndarray | pd.Series, targets: np.ndarray) -> np.ndarray:
    """How far each value is worse than its target, in the KPI's unit (≤ 0 = on target)."""
    v = np.asarray(values, dtype=float)
    t = np.asarray(targets, dtype=float)
    if kpi.direction == "higher":
        return t - v
    if kpi.direction == "lower":
        return v - t
    return np.abs(v - t) - (kpi.band or 0.0)


def status(kpi: KPI, values: np.ndarray | pd.Series, targets: np.ndarray) -> np.ndarray:
    """Status per value: green on target (within `amber`), amber up to `red` worse, red beyond; 'none' without data."""
    gap = shortfall(kpi, values, targets)
    # Values stored as binary fractions land a hair off the edges (0.90 − 0.85 − 0.05 = 4e-17):
    # a value exactly on a threshold counts as inside it.
    eps = 1e-9 * np.maximum(1.0, np.abs(np.asarray(targets, dtype=float)))
    out = np.where(gap <= kpi.amber + eps, "green", np.where(gap <= kpi.red + eps, "amber", "red")).astype(object)
    out[np.isnan(gap)] = "none"
    return out


def bands(kpi: KPI, target: float) -> dict[str, tuple[float, float]]:
    """Value intervals of the green and amber zones around one target (for chart shading)."""
    a, r = kpi.amber, kpi.red
    if kpi.direction == "higher":
        return {"green": (target - a, np.inf), "amber": (target - r, target - a)}
    if kpi.direction == "lower":
        return {"green": (-np.inf, target + a), "amber": (target + a, target + r)}
    w = kpi.band or 0.0
    return {"green": (target - w - a, target + w + a), "amber": (target - w - r, target + w + r)}


def improving_sign(kpi: KPI) -> int:
    """+1 when a rising value is good, −1 when falling is good, 0 for a band."""
    return {"higher": 1, "lower": -1, "band": 0}[kpi.direction]
