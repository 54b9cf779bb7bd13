"""Plotly figures of the improvement loop: an action's before/after chart, open actions over time, on-time rates.
User text is escaped for Plotly."""

from __future__ import annotations

import datetime as dt
import html

import pandas as pd
import plotly.graph_objects as go

from kpis import formatting
from kpis.catalog import display_scale
from kpis.chartstyle import axis_title, layout
from kpis.config import KPI
from kpis.improvement.effect import Verdict

VERDICT_COLOURS = {
    "improved": "#2e7d32",
    "no clear change": "#607d8b",
    "worse": "#c62828",
    "too little data": "#9e9e9e",
}


def plotly_text(text: object) -> str:
    """User text made inert for Plotly, which reads a subset of HTML in titles, labels and hover text."""
    return html.escape("" if text is None else str(text), quote=True)


def effect_figure(
    series: pd.DataFrame, completed_on: dt.date, verdict: Verdict, kpi: KPI, *, title: str, currency: str = "EUR"
) -> go.Figure:
    """Before points, after points, the frozen baseline centre and limits, and the completion date."""
    k = display_scale(kpi)
    s = series.sort_values("period")
    c = pd.Timestamp(completed_on)
    before, after = s[s["period"] < c], s[s["period"] >= c]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=before["period"],
            y=before["value"] * k,
            name="Before (baseline)",
            mode="lines+markers",
            line={"color": "#90a4ae", "width": 2},
            marker={"size": 7},
            hovertemplate="%{x|%Y-%m-%d}: %{y:.4g}<extra>before</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=after["period"],
            y=after["value"] * k,
            name="After",
            mode="lines+markers",
            line={"color": VERDICT_COLOURS.get(verdict.verdict, "#37474f"), "width": 2.4},
            marker={"size": 8},
            hovertemplate="%{x|%Y-%m-%d}: %{y:.4g}<extra>after</extra>",
        )
    )
    if verdict.centre is not None and len(s):
        x = [s["period"].min(), s["period"].max()]
        for y, name, dash in (
            (verdict.upper_limit, "Baseline limits", "dot"),
            (verdict.lower_limit, None, "dot"),
            (verdict.centre, "Baseline centre", "dash"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[y * k, y * k],
                    mode="lines",
                    name=name or "Baseline limits",
                    showlegend=name is not None,
                    legendgroup=name or "Baseline limits",
                    line={"color": "#7b1fa2", "width": 1.3, "dash": dash},
                    hovertemplate=f"{name or 'Lower limit'} %{{y:.4g}}<extra></extra>",
                )
            )
    fig.add_vline(x=c.to_pydatetime(), line={"color": "#1565c0", "width": 2, "dash": "dash"})
    fig.add_annotation(
        x=c.to_pydatetime(),
        y=1.02,
        yref="paper",
        text=f"completed {completed_on:%Y-%m-%d}",
        showarrow=False,
        font={"color": "#1565c0", "size": 12},
        xanchor="left",
    )
    fig = layout(fig, plotly_text(title), axis_title(kpi, currency), height=420)
    fig.update_layout(hovermode="closest")
    if kpi.unit == "%":
        fig.update_yaxes(ticksuffix=" %")
    return fig


def open_over_time_figure(table: pd.DataFrame) -> go.Figure:
    """Open actions at each month end, with those overdue."""
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=table["month"],
            y=table["open"] - table["overdue"],
            name="Open, on time",
            marker_color="#90caf9",
            hovertemplate="%{x|%b %Y}: %{y} open on time<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            x=table["month"],
            y=table["overdue"],
            name="Overdue",
            marker_color="#e57373",
            hovertemplate="%{x|%b %Y}: %{y} overdue<extra></extra>",
        )
    )
    fig = layout(fig, "Open actions at each month end", "Actions", x_title="Month", height=340)
    fig.update_layout(barmode="stack", hovermode="closest")
    return fig


def on_time_figure(table: pd.DataFrame, by: str) -> go.Figure:
    """Closed-on-time rate per group (n beside each bar)."""
    labels = [plotly_text(g) for g in table["group"]]
    fig = go.Figure(
        go.Bar(
            x=table["rate"] * 100,
            y=labels,
            orientation="h",
            marker_color="#4db6ac",
            text=[f"{formatting.pct(r, 0)} of {n}" for r, n in zip(table["rate"], table["n"])],
            textposition="auto",
            hovertemplate="%{y}: %{x:.0f} %<extra></extra>",
        )
    )
    fig = layout(
        fig,
        f"Closed on time by {by}",
        "",
        x_title="Closed on or before the due date (%)",
        height=max(260, 60 + 34 * len(table)),
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(range=[0, 105])
    fig.update_layout(hovermode="closest")
    return fig
