"""Reporting periods: parse the spellings planners use and normalise them to a cadence.

A period is stored as the date it starts on (Monday of an ISO week, first day of a month
or quarter). Labels are `YYYY-Www`, `YYYY-MM` and `YYYY-Qn`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Literal

import numpy as np

from kpis.lazy import lazy_module

pd = lazy_module("pandas")  # loaded on first use: the CLI's CSV path never needs it

Cadence = Literal["week", "month", "quarter"]
CADENCES: tuple[str, ...] = ("week", "month", "quarter")

_RE_DATE = r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00(?::00)?)?$"
_RE_MONTH = r"^(\d{4})-(\d{1,2})$"
_RE_QUARTER = r"^(\d{4})-?[Qq]([1-4])$"
_RE_WEEK = r"^(\d{4})-?[Ww](\d{1,2})$"

FORMAT_HINT = "an ISO date (2025-03-31), YYYY-MM, YYYY-Qn or YYYY-Www"

# Years a period may lie in unless config [limits] says otherwise (min_period_year, max_period_year), and the
# years any setting must stay within: pandas holds dates from 1677-09-21 to 2262-04-11 only, and a period's
# start, week floor or neighbours must never fall outside that (the OutOfBoundsDatetime of issue 20).
SUPPORTED_YEARS: tuple[int, int] = (1700, 2199)
SAFE_YEARS: tuple[int, int] = (1678, 2261)
_RE_YEAR = re.compile(r"^(\d{4})(?=[-Qq Ww])")


def year_problem(text: str, years: tuple[int, int] = SUPPORTED_YEARS) -> str:
    """'' when a period's (or ISO week's) year lies in `years` or the text is no period at all, else what is
    wrong, worded to follow "period '9999-12' ". Only the leading four digits are read."""
    m = _RE_YEAR.match(str(text).strip())
    if m is None or years[0] <= int(m[1]) <= years[1]:
        return ""
    return _outside(years)


class PeriodError(ValueError):
    """A period that cannot be read, or not at the KPI's cadence."""


def _as_text(values: pd.Series) -> pd.Series:
    """Text form of raw cells; datetimes (from Excel) become ISO dates."""
    s = pd.Series(values, copy=False)
    if pd.api.types.is_datetime64_any_dtype(s):  # years before 1000 keep four digits ('0001-01-01', not '1-01-01')
        return s.dt.strftime("%Y-%m-%d").str.replace(r"^(\d{1,3})-", lambda m: m[1].zfill(4) + "-", regex=True)
    out = s.astype("object")
    is_dt = out.map(lambda v: isinstance(v, (dt.date, pd.Timestamp)))
    if is_dt.any():
        out = out.where(~is_dt, out[is_dt].map(_iso_day))
    return out.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())


def _iso_day(v: dt.date) -> str:
    """'YYYY-MM-DD' of a date, datetime or Timestamp at any year ('' for NaT), without strftime's '1-01-01'."""
    return "" if v is pd.NaT else f"{v.year:04d}-{v.month:02d}-{v.day:02d}"


def normalise(
    values: pd.Series | list, cadence: str, *, years: tuple[int, int] = SUPPORTED_YEARS
) -> tuple[pd.Series, pd.Series]:
    """Period start dates for raw values at a cadence, plus an error text per value ('' if fine). A period
    whose year lies outside `years` (config [limits] period_years) is an error, never an OutOfBoundsDatetime."""
    if cadence not in CADENCES:
        raise ValueError(f"unknown cadence {cadence!r}")
    _check_years(years)
    text = _as_text(pd.Series(values))
    n = len(text)
    start = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    err = pd.Series("", index=text.index, dtype="object")

    d = text.str.extract(_RE_DATE)
    m = text.str.extract(_RE_MONTH)
    q = text.str.extract(_RE_QUARTER)
    w = text.str.extract(_RE_WEEK)
    is_d, is_m, is_q, is_w = d[0].notna(), m[0].notna(), q[0].notna(), w[0].notna()
    year = pd.to_numeric(d[0].fillna(m[0]).fillna(q[0]).fillna(w[0]), errors="coerce")
    outside = year.notna() & ((year < years[0]) | (year > years[1]))
    if outside.any():  # refused before pandas sees them: their dates may not fit datetime64[ns]
        err[outside[outside].index] = _outside(years)
        is_d, is_m, is_q, is_w = is_d & ~outside, is_m & ~outside, is_q & ~outside, is_w & ~outside

    if is_d.any():
        dates = pd.to_datetime(text[is_d].str[:10], format="%Y-%m-%d", errors="coerce")
        bad = dates.isna()
        err[bad[bad].index] = "not a valid calendar date"
        start[dates.index] = _floor(dates, cadence)
    if is_m.any():
        months = pd.to_datetime(m[0][is_m] + "-" + m[1][is_m].str.zfill(2) + "-01", format="%Y-%m-%d", errors="coerce")
        bad = months.isna()
        err[bad[bad].index] = "month must be 01-12"
        if cadence == "week":
            err[is_m[is_m].index] = "is a month, but this KPI is weekly (use a date or YYYY-Www)"
        else:
            start[months.index] = _floor(months, cadence)
    if is_q.any():
        if cadence != "quarter":
            err[is_q[is_q].index] = f"is a quarter, but this KPI is {_adj(cadence)} (use a date or {_fmt(cadence)})"
        else:
            qs = pd.to_datetime(
                q[0][is_q] + "-" + ((q[1][is_q].astype(int) - 1) * 3 + 1).astype(str).str.zfill(2) + "-01",
                format="%Y-%m-%d",
            )
            start[qs.index] = qs
    if is_w.any():
        if cadence != "week":
            err[is_w[is_w].index] = f"is an ISO week, but this KPI is {_adj(cadence)} (use a date or {_fmt(cadence)})"
        else:
            ws = pd.to_datetime(w[0][is_w] + "-W" + w[1][is_w].str.zfill(2) + "-1", format="%G-W%V-%u", errors="coerce")
            valid = ws.notna() & (ws.dt.isocalendar().week.reindex(ws.index) == w[1][is_w].astype(int))
            err[valid[~valid].index] = "week number does not exist in that year"
            start[ws[valid].index] = ws[valid]
    unknown = ~(is_d | is_m | is_q | is_w | outside)
    empty = text == ""
    err[(unknown & empty)[unknown & empty].index] = "is empty"
    err[(unknown & ~empty)[unknown & ~empty].index] = "is not a period"
    start[err != ""] = pd.NaT
    assert len(start) == n
    return start, err


def _outside(years: tuple[int, int]) -> str:
    return f"is outside the supported years {years[0]} to {years[1]} (config [limits] min_period_year, max_period_year)"


def _check_years(years: tuple[int, int]) -> None:
    if not SAFE_YEARS[0] <= years[0] <= years[1] <= SAFE_YEARS[1]:
        raise ValueError(f"period years {years} must lie within {SAFE_YEARS[0]} to {SAFE_YEARS[1]}")


def _adj(cadence: str) -> str:
    return {"week": "weekly", "month": "monthly", "quarter": "quarterly"}[cadence]


def _fmt(cadence: str) -> str:
    return {"week": "YYYY-Www", "month": "YYYY-MM", "quarter": "YYYY-Qn"}[cadence]


def _floor(dates: pd.Series, cadence: str) -> pd.Series:
    """Start of the period containing each date."""
    if cadence == "week":
        return (dates - pd.to_timedelta(dates.dt.dayofweek, unit="D")).dt.normalize()
    if cadence == "month":
        return dates.dt.to_period("M").dt.start_time
    return dates.dt.to_period("Q").dt.start_time


def _parse_simple(text: str, cadence: str) -> dt.date | None:
    """The start of a period written the plain way for its cadence (or as an ISO date), without pandas;
    None for anything else (normalise then decides and explains)."""
    try:
        if m := re.match(_RE_DATE, text):
            d = dt.date(int(m[1]), int(m[2]), int(m[3]))
            if cadence == "week":
                return d - dt.timedelta(days=d.weekday())
            return d.replace(day=1, month=d.month if cadence == "month" else (d.month - 1) // 3 * 3 + 1)
        if cadence != "week" and (m := re.match(_RE_MONTH, text)):  # a month also feeds a quarterly KPI
            month = int(m[2]) if cadence == "month" else (int(m[2]) - 1) // 3 * 3 + 1
            return dt.date(int(m[1]), month, 1) if 1 <= int(m[2]) <= 12 else None
        if cadence == "quarter" and (m := re.match(_RE_QUARTER, text)):
            return dt.date(int(m[1]), (int(m[2]) - 1) * 3 + 1, 1)
        if cadence == "week" and (m := re.match(_RE_WEEK, text)):
            d = dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return d if d.isocalendar()[1] == int(m[2]) else None
    except ValueError:
        return None
    return None


def parse_one(value: str | dt.date, cadence: str, *, years: tuple[int, int] = SUPPORTED_YEARS) -> dt.date:
    """Start date of a single period value; raises PeriodError with the reason (a year outside `years` too)."""
    if isinstance(value, str) and (problem := year_problem(value, years)):
        raise PeriodError(f"{value!r} {problem}")
    if isinstance(value, str) and cadence in CADENCES and (quick := _parse_simple(value.strip(), cadence)):
        return quick
    start, err = normalise([value], cadence, years=years)
    if err.iloc[0]:
        hint = (
            "" if "but this KPI is" in err.iloc[0] or "supported years" in err.iloc[0] else f"; expected {FORMAT_HINT}"
        )
        raise PeriodError(f"{value!r} {err.iloc[0]}{hint}")
    return start.iloc[0].date()


def parse_from(value: str | dt.date, cadence: str) -> dt.date:
    """Start of the period a target takes effect in: any spelling, where a coarser period (a month for a
    weekly KPI, a quarter for a monthly one) counts from its first day."""
    text = str(value).strip()
    q = re.match(_RE_QUARTER, text)
    if q and cadence != "quarter":
        text = f"{q.group(1)}-{(int(q.group(2)) - 1) * 3 + 1:02d}-01"
    elif re.match(_RE_MONTH, text) and cadence == "week":
        y, m = text.split("-")
        if not 1 <= int(m) <= 12:
            return parse_one(text, "month")  # raises, naming the month as it was written ('2025-13')
        text = f"{y}-{int(m):02d}-01"
    return parse_one(text, cadence)


def label(start: dt.date | pd.Timestamp | np.datetime64, cadence: str) -> str:
    """Display label of a period start (2025-03, 2025-Q1, 2025-W05, 2025); no pandas needed."""
    if isinstance(start, np.datetime64):
        start = start.astype("datetime64[D]").item()
    if cadence == "year":
        return f"{start.year}"
    if cadence == "week":
        iso = start.isocalendar()
        return f"{iso[0]}-W{iso[1]:02d}"
    if cadence == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year}-{start.month:02d}"


def labels(starts: pd.Series, cadence: str) -> pd.Series:
    """Vectorised `label` for a series of period starts."""
    s = pd.to_datetime(pd.Series(starts))
    if cadence == "year":
        return s.dt.year.astype(str)
    if cadence == "week":
        iso = s.dt.isocalendar()
        return iso.year.astype(str) + "-W" + iso.week.astype(str).str.zfill(2)
    if cadence == "quarter":
        return s.dt.year.astype(str) + "-Q" + s.dt.quarter.astype(str)
    return s.dt.strftime("%Y-%m")


def shift(start: dt.date, n: int, cadence: str) -> dt.date:
    """The period start n periods after (or before, n < 0) a period start."""
    ts = pd.Timestamp(start)
    if cadence == "week":
        return (ts + pd.Timedelta(weeks=n)).date()
    months = n * {"quarter": 3, "year": 12}.get(cadence, 1)
    return (ts + pd.DateOffset(months=months)).date()


def per_word(cadence: str) -> str:
    """'a week', 'a month', 'a quarter', 'a year' for trend sentences."""
    return {"week": "week", "month": "month", "quarter": "quarter", "year": "year"}[cadence]


ROLLUP_CADENCES: tuple[str, ...] = ("week", "month", "quarter", "year")
_SUB_UNITS = {"week": "weeks", "month": "months", "quarter": "quarters"}


def coarse_start(starts: pd.Series, source: str, target: str) -> pd.Series:
    """Start of the coarser period (month, quarter, year) each source period belongs to; a week belongs to the
    period holding its Thursday, as ISO weeks do."""
    s = pd.to_datetime(pd.Series(starts)).reset_index(drop=True)
    if source == target:
        return s
    if source == "week":
        s = s + pd.Timedelta(days=3)
    freq = {"month": "M", "quarter": "Q", "year": "Y"}[target]
    return s.dt.to_period(freq).dt.start_time


def start_of(day: dt.date | pd.Timestamp, cadence: str) -> dt.date:
    """Start of the period (week, month, quarter, year) that contains a day."""
    ts = pd.Timestamp(day).normalize()
    if cadence == "week":
        return (ts - pd.Timedelta(days=ts.day_of_week)).date()
    return ts.to_period({"month": "M", "quarter": "Q", "year": "Y"}[cadence]).start_time.date()


def sub_periods(coarse: pd.Series, source: str, target: str) -> np.ndarray:
    """How many source periods a complete coarser period holds (4 or 5 weeks a month, 13 or 14 a quarter,
    52 or 53 a year; 3 months a quarter, 12 a year)."""
    c = pd.to_datetime(pd.Series(coarse)).reset_index(drop=True)
    if source == target:
        return np.ones(len(c), dtype=int)
    months = {"month": 1, "quarter": 3, "year": 12}[target]
    if source != "week":
        return np.full(len(c), months // {"month": 1, "quarter": 3}[source], dtype=int)
    end = c + pd.DateOffset(months=months)

    # Thursdays in [start, end): count days to the first Thursday on/after each bound
    def first_thu(d: pd.Series) -> pd.Series:
        return d + pd.to_timedelta((3 - d.dt.day_of_week) % 7, unit="D")

    return ((first_thu(end) - first_thu(c)).dt.days // 7).to_numpy(dtype=int)


def sub_unit(cadence: str) -> str:
    """'weeks', 'months', 'quarters' for partial-period notes."""
    return _SUB_UNITS[cadence]


def period_number(starts: pd.Series, cadence: str) -> np.ndarray:
    """Integer period index (consecutive periods differ by 1), for trends and lags."""
    s = pd.to_datetime(pd.Series(starts))
    if cadence == "week":
        return ((s - pd.Timestamp("1970-01-05")).dt.days // 7).to_numpy()
    months = (s.dt.year * 12 + s.dt.month - 1).to_numpy()
    if cadence == "year":
        return s.dt.year.to_numpy()
    return months // 3 if cadence == "quarter" else months


_MONTH_RE = re.compile(_RE_MONTH)


def today() -> dt.date:
    """The app's today: the real date, or SOP_PULSE_TODAY (an ISO date) when set, so that a demo or a test frozen at
    one month shows the same late data, and the same KPI values computed from the records, on every later day."""
    fixed = os.environ.get("SOP_PULSE_TODAY", "").strip()
    if fixed:
        try:
            return dt.date.fromisoformat(fixed)
        except ValueError:
            pass
    return dt.date.today()
