"""Time windows for the forecast pages (last period, last 3/6/12, year to date, all, custom) and the names
that go with them in headlines, chart titles, CSV columns and file names."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from kpis import periods as _periods

WINDOWS: dict[str, str] = {
    "last1": "Last period",
    "last3": "Last 3 periods",
    "last6": "Last 6 periods",
    "last12": "Last 12 periods",
    "ytd": "Year to date",
    "all": "All periods",
    "custom": "Custom range",
}
HEADLINE_DEFAULT = "last1"
TREND_DEFAULT = "last12"


@dataclass(frozen=True)
class Window:
    """A resolved window: first and last period start, labels, and its name in words."""

    key: str
    start: pd.Timestamp
    end: pd.Timestamp
    first_label: str
    last_label: str
    count: int  # periods in the window
    unit: str = "period"  # week, month, quarter

    @property
    def text(self) -> str:
        """'last 12 months (2025-11 to 2026-10)', 'last month (2026-10)', 'year to date (2026-01 to 2026-10)'."""
        span = self.first_label if self.first_label == self.last_label else f"{self.first_label} to {self.last_label}"
        return f"{self.name} ({span})"

    @property
    def name(self) -> str:
        unit = self.unit
        if self.key == "last1":
            return f"last {unit}"
        if self.key.startswith("last"):
            return f"last {self.count} {unit}s"
        return {"ytd": "year to date", "all": "all periods", "custom": "chosen periods"}[self.key]

    @property
    def slug(self) -> str:
        """For file names: 'last12_2025-11_2026-10'."""
        span = self.first_label if self.first_label == self.last_label else f"{self.first_label}_{self.last_label}"
        return f"{self.key}_{span}"


def resolve(period_starts: pd.DatetimeIndex, cadence: str, key: str, custom: tuple[str, str] | None = None) -> Window:
    """The window `key` over the periods with data (ending at the newest one; custom = (first, last) labels)."""
    if key not in WINDOWS:
        raise ValueError(f"unknown window {key!r}; choose from {', '.join(WINDOWS)}")
    starts = pd.DatetimeIndex(period_starts).sort_values()
    if not len(starts):
        raise ValueError("no periods with data")
    labels = list(_periods.labels(pd.Series(starts), cadence))
    hi = len(starts) - 1
    if key.startswith("last"):
        lo = max(0, hi - int(key[4:]) + 1)
    elif key == "ytd":
        year = starts[hi].year
        lo = next(i for i, s in enumerate(starts) if s.year == year)
    elif key == "custom" and custom is not None:
        lo, hi = labels.index(custom[0]), labels.index(custom[1])
        lo, hi = min(lo, hi), max(lo, hi)
    else:
        lo = 0
    unit = {"week": "week", "month": "month", "quarter": "quarter"}.get(cadence, "period")
    return Window(
        key=key,
        start=starts[lo],
        end=starts[hi],
        first_label=labels[lo],
        last_label=labels[hi],
        count=hi - lo + 1,
        unit=unit,
    )


def with_filters(
    df: pd.DataFrame,
    *,
    window: Window,
    stage: str | None = None,
    lag: int | str | None = "",
    filters: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """A table for download with the view it was made with as leading columns (window, stage, lag, filters)."""
    out = df.copy()
    lead = {"window": window.text}
    if stage is not None:
        lead["stage"] = stage
    if lag != "":
        lead["lag"] = "all" if lag is None else str(lag)
    for name, values in (filters or {}).items():
        lead[f"filter_{name}"] = "|".join(map(str, values))
    for i, (c, v) in enumerate(lead.items()):
        if c in out.columns:
            continue
        out.insert(i, c, v)
    return out


def file_name(
    base: str,
    *,
    window: Window,
    stage: str | None = None,
    lag: int | str | None = "",
    filters: dict[str, list[str]] | None = None,
) -> str:
    """'fva_stairstep_consensus_lag1_last12_2025-11_2026-10.csv' (filters named, values counted)."""
    parts = [base]
    if stage:
        parts.append(stage)
    if lag != "":
        parts.append("all-lags" if lag is None else f"lag{lag}")
    parts.append(window.slug)
    for name, values in (filters or {}).items():
        parts.append(f"{name}-{values[0]}" if len(values) == 1 else f"{name}-{len(values)}")
    raw = "_".join(str(p) for p in parts)
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in raw) + ".csv"


def csv_bytes(df: pd.DataFrame) -> bytes:
    """CSV text of a table: floats without noise (15 significant digits), text cells and column names that a
    spreadsheet would run as a formula prefixed with an apostrophe (kpis.export.neutralise)."""
    from kpis.export import csv_bytes as neutralised_csv

    return neutralised_csv(df, float_format="%.15g")
