"""How every figure is shown: one rounding rule, one number, percent, change, p-value, day and month format, one
mark for no value (docs/methodology.md, Conventions: numbers on screen).

The rule: a figure is rounded **half to even** on its decimal value (11.45 → 11.4, 11.55 → 11.6, 11.488 → 11.5),
never cut. The decimal value is the float read to 12 significant digits, so float noise from a sum
(0.055999999999999994) does not decide a tie. Half to even keeps complementary figures complementary: a WAPE and
its accuracy (1 − WAPE) always add to 100.0 % as shown, ties included (11.45 % → 11.4 %, 88.55 % → 88.6 %).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd

NO_VALUE = "–"  # the one mark for a figure that has no value (never 'None', 'nan' or an empty cell)
SIGNIFICANT = 12  # digits a float is read to before rounding and before rank-based tests
MINUS = "-"  # the minus sign of a shown number (a metric's delta reads its direction from it)


def missing(v) -> bool:
    """True for None, NaN, NaT and pandas' NA."""
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def significant(values, digits: int = SIGNIFICANT):
    """Values rounded to `digits` significant digits (a scalar or an array; NaN stays NaN): 0.055999999999999994 and
    0.056 become the same number, so rank-based tests see a tie where there is one on paper."""
    x = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where((x == 0) | ~np.isfinite(x), 0, np.floor(np.log10(np.abs(np.where(x == 0, 1, x)))))
    scale = 10.0 ** (digits - 1 - mag)
    out = np.where(np.isfinite(x) & (x != 0), np.round(x * scale) / scale, x)
    return float(out) if out.ndim == 0 else out


def _decimal(x: float) -> Decimal:
    return Decimal(f"{float(x):.{SIGNIFICANT}g}")


def round_half_even(x: float, decimals: int = 0) -> float:
    """x rounded to `decimals` places, half to even on its decimal value (the app's one rounding rule)."""
    if missing(x) or not math.isfinite(float(x)):
        return float(x) if not missing(x) else float("nan")
    r = float(_decimal(x).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN))
    return 0.0 if r == 0 else r  # no negative zero


def fixed(x: float, decimals: int = 1, *, signed: bool = False, grouping: bool = True) -> str:
    """A number with `decimals` places by the one rule: '1,234.5', signed '+2.0'; never '-0.0' (a zero after
    rounding has no sign)."""
    if missing(x):
        return NO_VALUE
    r = round_half_even(x, decimals)
    text = f"{abs(r):{',' if grouping else ''}.{decimals}f}"
    if r < 0:
        return MINUS + text
    return ("+" + text) if signed and r > 0 else text


def number(x: float, decimals: int = 1, unit: str = "", *, signed: bool = False) -> str:
    """A number and its unit: '9.8 days', '412,000 EUR', '87.7 %'."""
    if missing(x):
        return NO_VALUE
    text = fixed(x, decimals, signed=signed)
    return f"{text} {unit}" if unit else text


def pct(fraction: float | None, decimals: int = 1, *, signed: bool = False) -> str:
    """A fraction as the app's percent: '87.7 %' (a space before '%', one decimal), signed '+1.2 %'."""
    if missing(fraction):
        return NO_VALUE
    return number(float(fraction) * 100, decimals, "%", signed=signed)


def pts(delta: float | None, decimals: int = 1) -> str:
    """A difference of two fractions in percentage points: '+2.0 pts', '-4.5 pts', '0.0 pts'."""
    if missing(delta):
        return NO_VALUE
    return number(float(delta) * 100, decimals, "pts", signed=True)


def p_value(p: float | None, alpha: float = 0.05) -> str:
    """A p-value with two significant figures ('p = 0.031', 'p = 0.5'), 'p < 0.001' when tiny. A value on one side
    of the threshold `alpha` is never shown on it or beyond it: 0.0496 is 'p = 0.0496', not 'p = 0.050'."""
    if missing(p) or not math.isfinite(float(p)):
        return "p = n/a"
    p = float(p)
    if p < 0.001:
        return "p < 0.001"
    for digits in (2, 3, 4):
        d = _decimal(p)
        exp = d.adjusted() - digits + 1  # the place of the last significant digit
        shown = d.quantize(Decimal(1).scaleb(exp), rounding=ROUND_HALF_EVEN)
        if (float(shown) < alpha) == (p < alpha):
            return f"p = {float(shown):g}"
    return f"p < {alpha:g}" if p < alpha else f"p ≥ {alpha:g}"


def day(value) -> str:
    """A day as the app writes days: '2026-10-05' (NO_VALUE when missing)."""
    if missing(value):
        return NO_VALUE
    return pd.Timestamp(value).strftime("%Y-%m-%d") if not isinstance(value, dt.date) else f"{value:%Y-%m-%d}"


def moment(value) -> str:
    """A point in time (UTC) as the app writes it: '2026-12-06 03:33' (NO_VALUE when missing, never 'None')."""
    if missing(value):
        return NO_VALUE
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%d %H:%M")


def month(value) -> str:
    """A month as the app writes months, the period label: '2026-10' (NO_VALUE when missing)."""
    if missing(value):
        return NO_VALUE
    ts = pd.Timestamp(value)
    return f"{ts.year:04d}-{ts.month:02d}"


PERCENT_DECIMALS = 1


def percent_table(df: pd.DataFrame, columns) -> pd.DataFrame:
    """A copy of a table of fractions for display: each of `columns` present as a percentage (× 100) rounded by the
    one rule to one decimal, so a table shows what the figures and charts show (11.488 % as 11.5 %, never cut to
    11.4 %). The stored and downloaded fractions stay unrounded."""
    out = df.copy()
    for c in columns:
        if c in out.columns:
            out[c] = [
                np.nan if missing(v) else round_half_even(float(v) * 100, PERCENT_DECIMALS) for v in out[c].to_numpy()
            ]
    return out
