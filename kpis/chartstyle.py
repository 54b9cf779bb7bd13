"""The charts' shared style: fonts, colours, the Plotly layout and the Vega-Lite building blocks (title, layered
spec, colour scale, value and period axes) every domain's charts use. Pure functions, no Streamlit.

The charts a page draws on every load are Vega-Lite specs (light in the browser); the rest, drawn only when
asked for, are Plotly figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # plotly is imported by the functions that draw with it: pages without them never load it
    import plotly.graph_objects as go

FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=13)
GRID = "#e6e9ef"
TEXT = "#31333f"


def layout(fig: go.Figure, title: str, y_title: str, x_title: str = "Period", height: int = 460) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=17, color=TEXT)),
        font=FONT,
        height=height,
        margin=dict(l=60, r=20, t=60, b=50),
        plot_bgcolor="white",
        paper_bgcolor="white",
        hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0, font=dict(size=12)),
    )
    fig.update_xaxes(title_text=x_title, showgrid=False, linecolor="#9aa0a6", ticks="outside")
    fig.update_yaxes(title_text=y_title, gridcolor=GRID, zeroline=False, linecolor="#9aa0a6")
    return fig


def axis_title(kpi, currency: str = "EUR") -> str:
    """Y-axis title: the value with its unit."""
    return {"%": "Percent", "currency": f"Value ({currency})", "count": "Count"}.get(kpi.unit, kpi.unit.capitalize())


# --- Vega-Lite specs -----------------------------------------------------------------------
# The charts every load of Forecast accuracy, Exceptions and KPI trends draws are Vega-Lite specs (st.vega_lite_chart):
# a browser draws one in a few milliseconds, where Plotly's 4.7 MB library alone costs half a second or more of
# script on every page that shows a Plotly chart. Imported text (item, stage and attribute names) only ever goes
# into data values and titles, which Vega draws as plain text; never into a field name or an expression.


def title(text: str, *sub: str) -> dict:
    """A chart title with its notes (window, sample) as a smaller subtitle, one note per line."""
    lines = [x for x in sub if x]
    return {
        "text": text,
        **({"subtitle": lines} if lines else {}),
        "anchor": "start",
        "fontSize": 17,
        "color": TEXT,
        "subtitleFontSize": 12,
        "subtitleColor": "#5f6368",
        "offset": 12,
    }


def spec(
    title: dict, layers: list[dict], datasets: dict[str, pd.DataFrame], height: int, *, legend: bool = True
) -> dict:
    """A layered Vega-Lite chart that fills its container's width; `datasets` are frames Streamlit sends as Arrow."""
    for layer in layers:  # a layer without its own tooltip shows none (not its raw fields)
        if "tooltip" not in layer.get("encoding", {}) and isinstance(layer["mark"], dict):
            layer["mark"] = {**layer["mark"], "tooltip": False}
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "title": title,
        "height": height,
        "datasets": datasets,
        "layer": layers,
        "config": {
            "font": FONT["family"],
            "axis": {
                "labelFontSize": 12,
                "titleFontSize": 13,
                "gridColor": GRID,
                "domainColor": "#9aa0a6",
                "tickColor": "#9aa0a6",
                "titleColor": TEXT,
                "labelColor": TEXT,
            },
            "legend": {
                "orient": "top",
                "direction": "horizontal",
                "labelFontSize": 12,
                "title": None,
                "disable": not legend,
            },
            "view": {"stroke": None},
        },
    }


def series_colour(names: list[str], colours: list[str]) -> dict:
    """The shared colour scale that gives each named series its colour and one entry in the legend."""
    return {
        "scale": {"domain": names, "range": colours},
        "legend": {"symbolType": "stroke", "symbolStrokeWidth": 3, "symbolOpacity": 1},
    }


def y_axis(title: str, percent: bool) -> dict:
    """A value axis in the app's number format: '92.5 %' for percentages, '1,250' or '0.4' for values, and '25k',
    '1.2M' from ten thousand up."""
    if percent:
        return {"title": title, "format": ",.4~f", "labelExpr": "datum.label + ' %'"}
    return {
        "title": title,
        "labelExpr": "abs(datum.value) >= 10000 ? format(datum.value, ',.3~s') : format(datum.value, ',.4~g')",
    }


def amount(v: float) -> str:
    """A quantity for a tooltip: whole numbers with thousands separators, a fraction to one decimal ('0.4')."""
    if v is None or np.isnan(v):
        return "–"
    return f"{v:,.0f}" if float(v).is_integer() or abs(v) >= 100 else f"{v:,.1f}"


def dates(s: pd.Series) -> pd.Series:
    """Period starts as ISO dates, which the chart reads as UTC days (no shift into the viewer's time zone)."""
    return pd.to_datetime(s).dt.strftime("%Y-%m-%d")


_LABEL_FORMAT = {  # a period start (UTC) written as the app writes periods: 2026-03, 2026-Q1, 2026-W05, 2026
    "month": "%Y-%m",
    "quarter": "%Y-Q%q",
    "week": "%G-W%V",
    "year": "%Y",
}
MAX_TICKS = 12


def x_period(starts: pd.Series, cadence: str | None) -> dict:
    """The time axis: ticks on period starts (every k-th one, at most MAX_TICKS), labelled like the periods."""
    x = {**_X_PERIOD, "axis": dict(_X_PERIOD["axis"])}
    if cadence not in _LABEL_FORMAT or not len(starts):
        return x
    days = pd.to_datetime(pd.Series(starts)).drop_duplicates().sort_values()
    step = -(-len(days) // MAX_TICKS)
    ticks = [{"year": d.year, "month": d.month, "date": d.day, "utc": True} for d in days.iloc[::step]]
    x["axis"].update({"values": ticks, "labelExpr": f"utcFormat(datum.value, '{_LABEL_FORMAT[cadence]}')"})
    return x


_X_PERIOD = {
    "field": "period",
    "type": "temporal",
    "scale": {"type": "utc"},
    "title": "Period",
    "axis": {"grid": False, "labelOverlap": True},
}
