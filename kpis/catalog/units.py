"""How a KPI's values are shown: units, decimals, value, change and target in words."""

from __future__ import annotations

import numpy as np

from kpis import formatting
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


def _missing(v) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and np.isnan(v))


def pct(fraction: float | None, *, decimals: int = 1, signed: bool = False) -> str:
    """A fraction as the app's percent: '87.3 %', signed '+1.2 %'; '–' when missing. The one percent style
    (kpis.formatting.pct: rounded half to even, never '-0.0 %')."""
    return formatting.pct(fraction, decimals, signed=signed)


def count(n: float | None, noun: str = "") -> str:
    """A count with thousands separators and the noun pluralised: '4,320', '1 item', '120 items'."""
    if _missing(n):
        return "–"
    k = round(float(n))
    if not noun:
        return f"{k:,}"
    return f"{k:,} {noun if k == 1 else plural(noun)}"


def plural(noun: str) -> str:
    """English plural of a unit noun (day → days, turn → turns, EUR stays)."""
    if noun.isupper() or noun.endswith("s") or noun in ("%", "pts"):
        return noun
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"


def _unit_word(kpi: KPI, v: float) -> str:
    """The KPI's unit for a shown number: 'day' for exactly 1, else 'days'."""
    unit = kpi.unit
    if unit in ("days", "turns") and abs(v) == 1:
        return unit[:-1]
    return unit


def format_value(kpi: KPI, value: float | None, currency: str = "EUR") -> str:
    """Human display of a stored value: 87.3 %, 34.5 days, 412,000 EUR (kpis.formatting: one rounding rule)."""
    if formatting.missing(value):
        return formatting.NO_VALUE
    v = float(value) * display_scale(kpi)
    d = decimals(kpi)
    if kpi.unit == "%":
        return formatting.number(v, d, "%")
    if kpi.unit == "currency":
        return formatting.number(v, 0, currency)
    if kpi.unit == "count":
        return formatting.fixed(v, 0)
    return formatting.number(v, d, _unit_word(kpi, formatting.round_half_even(v, d)))


def format_change(kpi: KPI, delta: float | None, currency: str = "EUR") -> str:
    """Signed change between two values: +1.2 pts, -3.0 days; an unchanged value has no sign ('0.0 pts'), so a
    metric shows it without an arrow."""
    if formatting.missing(delta):
        return ""
    v = float(delta) * display_scale(kpi)
    d = decimals(kpi)
    unit = "" if kpi.unit == "count" else change_unit(kpi, currency)
    return formatting.number(v, d, unit, signed=True)


def has_direction(change: str) -> bool:
    """True when a formatted change has a sign (a metric draws an arrow only then)."""
    return bool(change) and change.startswith(("+", "-"))


def target_text(kpi: KPI, target: float, currency: str = "EUR") -> str:
    """Target in words: '≥ 95.0 %', '≤ 10 days', '35 ± 5 days'."""
    if np.isnan(target):
        return "no target"
    if kpi.direction == "band":
        return f"{format_value(kpi, target, currency)} ± {format_change(kpi, kpi.band or 0.0, currency).lstrip('+')}"
    sign = "≥" if kpi.direction == "higher" else "≤"
    return f"{sign} {format_value(kpi, target, currency)}"
