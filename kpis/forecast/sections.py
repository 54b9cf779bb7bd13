"""What each section of the Forecast accuracy and Exceptions pages shows, figures included.

Every function takes the cube and the app's config first, then the view's arguments (plain values: stage, lag,
period starts, filters, window text; kpis.forecast.filters.ForecastFilters.section_args gives them), and returns
what the section draws. They do not depend on who asks, so the pages compute each once per forecast-data version
and arguments and share the result across sessions (pages._ui.caches.shared). The figures they return are
shared too: callers must not change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kpis.catalog import charts as catalog_charts
from kpis.catalog import trends
from kpis.config import AppConfig
from kpis.forecast import charts, views, windows

if TYPE_CHECKING:
    import plotly.graph_objects as go


def window(cube, config: AppConfig, key: str, custom: tuple[str, str] | None = None) -> windows.Window:
    """The window `key` resolved on the cube's periods."""
    return windows.resolve(cube.periods, cube.cadence, key, custom)


def period_labels(cube, config: AppConfig) -> list[str]:
    """The label of every period of the cube ('2026-W05', '2026-03')."""
    from kpis import periods

    return list(periods.labels(pd.Series(cube.periods), cube.cadence))


def item_count(cube, config: AppConfig, filters: dict | None) -> int:
    """Number of items the attribute filters keep."""
    return len(cube.items_of(filters))


def headline(cube, config: AppConfig, *, stage, lag, period_from, period_to, filters) -> pd.Series | None:
    """The headline figures (accuracy, WAPE, bias, MASE, n) over a window; None when no item-period has both."""
    head = cube.accuracy([], stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=filters)
    if head.empty or int(head["n"].iloc[0]) == 0:
        return None
    return head.iloc[0]


@dataclass(frozen=True)
class Trend:
    """The accuracy trend: figure and the sentence under it."""

    figure: dict  # Vega-Lite spec
    text: str


def trend(cube, config: AppConfig, *, stage, lag, period_from, period_to, filters, title: str) -> Trend:
    """Accuracy per period with its target, control limits and signals, and the trend in words."""
    by_period = cube.accuracy(
        ["period"], stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=filters
    )
    tview = trends.trend_view(views.accuracy_series(by_period), views.accuracy_kpi(config, cube.cadence))
    figure = catalog_charts.trend_figure(tview, title=title, cap_100=True)
    signals = " ".join(trends.signal_summary(tview)[:2])
    if not signals:
        signals = (
            "No control-chart signal: routine variation."
            if tview.has_limits
            else f"Too few periods for control limits ({len(tview.table)}; at least 6 are needed), "
            "so no signals are judged."
        )
    return Trend(figure, f"**Trend:** {tview.trend_text}. {signals}")


def by_lag(
    cube, config: AppConfig, *, stage, period_from, period_to, filters, window_text: str
) -> tuple[pd.DataFrame, dict]:
    """Accuracy per lag and the lag waterfall (Vega-Lite)."""
    lags = cube.by_lag(stage=stage, period_from=period_from, period_to=period_to, filters=filters)
    return lags, charts.lag_waterfall(lags, stage, window=window_text)


@dataclass(frozen=True)
class Fva:
    """The FVA stairstep: table, figure, the matched sample in words and the value-destroying steps."""

    table: pd.DataFrame
    figure: dict  # Vega-Lite spec
    sample_text: str
    destroying: list[str]
    small_sample: str | None = None  # a worse step on too few item-periods to call it


def fva(cube, config: AppConfig, *, lag, period_from, period_to, filters, window_text: str) -> Fva:
    """Forecast value added per stage on the matched sample."""
    table = cube.fva([], lag=lag, period_from=period_from, period_to=period_to, filters=filters)
    return Fva(
        table,
        charts.fva_stairstep(table, window=window_text),
        views.fva_sample_text(table),
        views.value_destroying_steps(table),
        views.fva_small_sample_note(table),
    )


def heat(
    cube, config: AppConfig, x: str, y: str, *, stage, lag, period_from, period_to, filters, window_text: str
) -> tuple[pd.DataFrame, go.Figure]:
    """Accuracy for every x × y attribute combination and its WAPE heat map."""
    table = cube.accuracy([x, y], stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=filters)
    return table, charts.wape_heatmap(table, x, y, window=window_text)


def abc_xyz(
    cube, config: AppConfig, *, stage, lag, period_from, period_to, filters, window_text: str
) -> tuple[pd.DataFrame, go.Figure]:
    """Accuracy per ABC × XYZ cell with its item count, and the matrix."""
    table = views.abc_xyz_table(
        cube, stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=filters
    )
    return table, charts.abc_xyz_matrix(table, window=window_text)


def grouped(cube, config: AppConfig, group: str, *, stage, lag, period_from, period_to, filters) -> pd.DataFrame:
    """The drill-down table: accuracy per value of `group` (per lag over every lag, per stage over every stage)."""
    return cube.accuracy(
        [group],
        stage=None if group == "stage" else stage,
        lag=None if group == "lag" else lag,
        period_from=period_from,
        period_to=period_to,
        filters=filters,
    )


def drill(
    cube, config: AppConfig, group: str, value: str, *, stage, lag, period_from, period_to, filters
) -> pd.DataFrame:
    """The items of one group value, largest share of its error first (views.drill_items)."""
    return views.drill_items(
        cube, group, value, stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=filters
    )


def item_chart(cube, config: AppConfig, item: str, *, stage, lag, period_from, period_to) -> dict:
    """Actual vs forecast for one item (Vega-Lite)."""
    s = cube.item_series([item], stage=stage, lag=lag, period_from=period_from, period_to=period_to)
    # item_series shows the headline lag when no lag is chosen: the legend names the lag drawn.
    return charts.item_figure(s, item, stage, cube.headline_lag if lag is None else lag, cube.cadence)


@dataclass(frozen=True)
class WorkList:
    """One page of the Exceptions page's work list (its rows with small trends, ranks counted over the whole
    list), the whole list's length and its summary counts."""

    table: pd.DataFrame
    summary: dict
    rows: int
    page: int
    whole: pd.DataFrame  # every row without the trends: the CSV download (stays on the server)

    @property
    def pages(self) -> int:
        return -(-self.rows // views.PAGE_ROWS)


def work_list(
    cube, config: AppConfig, *, stage, lag, period_from, period_to, filters, top: int, page: int = 1
) -> WorkList | None:
    """Flagged items and the largest error contributors, ranked by impact (None when there are none), one page of
    views.PAGE_ROWS rows at a time: at full size thousands of items can be flagged, and the browser draws what it
    is sent."""
    exc = cube.exceptions(stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=filters, top=top)
    if exc.empty:
        return None
    pages = -(-len(exc) // views.PAGE_ROWS)
    page = min(max(int(page), 1), pages)
    rows = exc.iloc[(page - 1) * views.PAGE_ROWS : page * views.PAGE_ROWS]
    series = cube.item_series(rows["item"].tolist(), stage=stage, lag=lag, period_from=period_from, period_to=period_to)
    table = views.exception_table(rows, series)
    table["rank"] = np.arange((page - 1) * views.PAGE_ROWS + 1, (page - 1) * views.PAGE_ROWS + len(rows) + 1)
    whole = views.exception_table(exc, series.iloc[:0]).drop(columns=["actual_trend", "forecast_trend"])
    return WorkList(table, views.exception_summary(exc), len(exc), page, whole)
