"""What a forecast page is cut by (window, snapshot lag, stage, item attributes) as one frozen value.

The Forecast accuracy and Exceptions pages build a ForecastFilters from their filter widgets and hand it on
whole: to the sections (`section_args`), to CSV downloads, and to links (`to_query` / `from_query`, the same
parameter names as the pages' URL-bound widgets: `<prefix>_window`, `<prefix>_periods`, `<prefix>_lag`,
`<prefix>_stage`, `<prefix>_attr_<attribute>`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import pandas as pd

from kpis.forecast.windows import WINDOWS, Window

ALL_LAGS = "all"  # the query value of "All lags" (lag None)


@dataclass(frozen=True)
class ForecastFilters:
    """The resolved window, the stage, the lag (None: every lag) and the chosen values of each item attribute
    (only attributes with a choice, in the order chosen; no choice means every item)."""

    window: Window
    stage: str
    lag: int | None = None
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def period_from(self) -> pd.Timestamp:
        return self.window.start

    @property
    def period_to(self) -> pd.Timestamp:
        return self.window.end

    @property
    def lag_text(self) -> str:
        """'all lags' or 'lag 2', as headlines and captions say it."""
        return "all lags" if self.lag is None else f"lag {self.lag}"

    def attribute_filters(self) -> dict[str, list[str]] | None:
        """The attribute filters as kpis.forecast.sections and views take them; None when nothing is filtered."""
        return {a: list(values) for a, values in self.attributes} or None

    def with_window(self, window: Window) -> ForecastFilters:
        """The same filters over another window (the headline's)."""
        return replace(self, window=window)

    def section_args(self, *, stage: bool = True, lag: bool = True, filters: bool = True) -> dict:
        """Keyword arguments for a section of kpis.forecast.sections: stage, lag, period_from, period_to and
        filters, less those the section does not take."""
        out: dict = {}
        if stage:
            out["stage"] = self.stage
        if lag:
            out["lag"] = self.lag
        out["period_from"] = self.period_from
        out["period_to"] = self.period_to
        if filters:
            out["filters"] = self.attribute_filters()
        return out

    def to_query(self, prefix: str) -> dict[str, str | list[str]]:
        """The filters as URL query parameters (a custom window names its first and last period)."""
        out: dict[str, str | list[str]] = {f"{prefix}_window": self.window.key}
        if self.window.key == "custom":
            out[f"{prefix}_periods"] = [self.window.first_label, self.window.last_label]
        out[f"{prefix}_lag"] = ALL_LAGS if self.lag is None else str(self.lag)
        out[f"{prefix}_stage"] = self.stage
        for a, values in self.attributes:
            out[f"{prefix}_attr_{a}"] = list(values)
        return out

    @classmethod
    def from_query(
        cls,
        params: Mapping[str, str | list[str]],
        prefix: str,
        *,
        resolve: Callable[[str, tuple[str, str] | None], Window],
        stages: tuple[str, ...] | list[str],
        lags: tuple[int, ...] | list[int],
        attributes: Mapping[str, list[str]],
        default_stage: str,
        default_lag: int | None = None,
        default_window: str = "last12",
    ) -> ForecastFilters:
        """Filters from URL query parameters; a value the data does not offer (an unknown window, stage, lag or
        attribute value) falls back to the default, as the pages' widgets do. `resolve(key, custom)` turns a
        window key (and a custom window's first and last period) into a Window over the data's periods."""

        def one(name: str) -> str | None:
            value = params.get(f"{prefix}_{name}")
            if isinstance(value, list):
                return value[0] if value else None
            return value

        key = one("window")
        key = key if key in WINDOWS else default_window
        custom = None
        if key == "custom":
            periods = params.get(f"{prefix}_periods")
            custom = (periods[0], periods[-1]) if isinstance(periods, list) and periods else None
        try:
            window = resolve(key, custom)
        except ValueError:  # a custom period the data does not have
            window = resolve(default_window, None)
        stage = one("stage")
        stage = stage if stage in stages else default_stage
        raw_lag = one("lag")
        lag = default_lag
        if raw_lag == ALL_LAGS:
            lag = None
        elif raw_lag is not None and raw_lag.lstrip("-").isdigit() and int(raw_lag) in lags:
            lag = int(raw_lag)
        chosen = []
        for a, offered in attributes.items():
            values = params.get(f"{prefix}_attr_{a}")
            values = [values] if isinstance(values, str) else list(values or [])
            kept = tuple(v for v in values if v in offered)
            if kept:
                chosen.append((a, kept))
        return cls(window=window, stage=stage, lag=lag, attributes=tuple(chosen))
