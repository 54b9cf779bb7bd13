"""How a KPI's values are shown: units, decimals, value, change and target in words."""

from __future__ import annotations

import numpy as np

from kpis.config import KPI


def is_percent(kpi: KPI) -> bool:
    return kpi.unit == "%"


def display_scale(kpi: KPI) -> float:
    """Multiplier from stored value to displayed number (fractions shown as percent)."""
    return 100.0 if is_percent(kpi) else 1.0


def unit_label(kpi: KPI, currency: str = "EUR") -> str:
    """Axis label of the KPI's unit."""
    return {"%": "%", "currency": currency}.get(kpi.unit, kpi.unit)


def change_unit(kpi: KPI, currency: str = "EUR") -> str:
    """Unit of a difference between two values ('pts' for percentages)."""
    return "pts" if is_percent(kpi) else unit_label(kpi, currency)


def decimals(kpi: KPI) -> int:
    return {"%": 1, "days": 1, "turns": 1, "count": 0, "score": 1, "currency": 0}[kpi.unit]


def format_value(kpi: KPI, value: float | None, currency: str = "EUR") -> str:
    """Human display of a stored value: 87.3 %, 34.5 days, 412,000 EUR."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    v = value * display_scale(kpi)
    d = decimals(kpi)
    if kpi.unit == "%":
        return f"{v:.{d}f} %"
    if kpi.unit == "currency":
        return f"{v:,.0f} {currency}"
    if kpi.unit == "count":
        return f"{v:,.0f}"
    return f"{v:,.{d}f} {kpi.unit}"


def format_change(kpi: KPI, delta: float | None, currency: str = "EUR") -> str:
    """Signed change between two values: +1.2 pts, −3 days."""
    if delta is None or (isinstance(delta, float) and np.isnan(delta)):
        return ""
    v = delta * display_scale(kpi)
    d = decimals(kpi)
    return f"{v:+,.{d}f} {change_unit(kpi, currency)}"


def target_text(kpi: KPI, target: float, currency: str = "EUR") -> str:
    """Target in words: '≥ 95.0 %', '≤ 10 days', '35 ± 5 days'."""
    if np.isnan(target):
        return "no target"
    if kpi.direction == "band":
        return f"{format_value(kpi, target, currency)} ± {format_change(kpi, kpi.band or 0.0, currency).lstrip('+')}"
    sign = "≥" if kpi.direction == "higher" else "≤"
    return f"{sign} {format_value(kpi, target, currency)}"
