"""Maturity figures (pure functions to Plotly): radar, index over quarters, small multiples, team heat map,
maturity beside a KPI. User text (team names) is escaped so Plotly shows it as text, not markup."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from kpis.chartstyle import FONT, GRID, TEXT, layout
from kpis.config import PRACTICES
from kpis.maturity.aggregate import OVERALL
from kpis.maturity.assessments import quarter_label
from kpis.maturity.rubric import short_name

LATEST, PREVIOUS, TARGET = "#1565c0", "#90a4ae", "#2e7d32"
FIRST = next(iter(PRACTICES))


def safe(text: object) -> str:
    """Text for a Plotly label: '<' and '>' as entities so tags in user text are shown, not interpreted."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def radar(summary: pd.DataFrame, latest, previous, targets: dict[str, int]) -> go.Figure:
    """Practice medians of the latest quarter against the previous quarter and the targets."""
    names = [short_name(p) for p in PRACTICES]
    loop = [*names, names[0]]
    fig = go.Figure()

    def medians(period) -> list[float]:
        rows = summary[(summary["period"] == period) & (summary["practice"] != OVERALL)].set_index("practice")
        vals = [rows["median"].get(p, np.nan) for p in PRACTICES]
        return [*vals, vals[0]]

    fig.add_trace(
        go.Scatterpolar(
            r=[*(targets.get(p, np.nan) for p in PRACTICES), targets.get(FIRST, np.nan)],
            theta=loop,
            name="Target",
            line=dict(color=TARGET, dash="dash", width=2),
            hovertemplate="%{theta}: target %{r}<extra></extra>",
        )
    )
    if previous is not None:
        fig.add_trace(
            go.Scatterpolar(
                r=medians(previous),
                theta=loop,
                name=f"{quarter_label(previous)} (previous)",
                line=dict(color=PREVIOUS, width=2),
                hovertemplate="%{theta}: median %{r}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatterpolar(
            r=medians(latest),
            theta=loop,
            name=f"{quarter_label(latest)} (latest)",
            fill="toself",
            fillcolor="rgba(21,101,192,0.15)",
            line=dict(color=LATEST, width=3),
            hovertemplate="%{theta}: median %{r}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text="Practice medians against target", x=0, font=dict(size=17, color=TEXT)),
        font=FONT,
        height=500,
        margin=dict(l=125, r=125, t=60, b=40),
        paper_bgcolor="white",
        polar=dict(
            radialaxis=dict(range=[0, 5], tickvals=[1, 2, 3, 4, 5], gridcolor=GRID), angularaxis=dict(gridcolor=GRID)
        ),
        legend=dict(orientation="h", yanchor="top", y=-0.05, xanchor="center", x=0.5),
    )
    return fig


def index_figure(index: pd.DataFrame, target: float | None, trend_line: tuple[float, float] | None = None) -> go.Figure:
    """The overall index per quarter with the mean target level and, when there is one, the Theil–Sen line."""
    fig = go.Figure()
    if target is not None and not np.isnan(target):
        fig.add_trace(
            go.Scatter(
                x=index["label"],
                y=[target] * len(index),
                name="Target (mean)",
                mode="lines",
                line=dict(color=TARGET, dash="dash"),
            )
        )
    if trend_line is not None:
        slope, intercept = trend_line
        x = np.array([p.year * 4 + (p.month - 1) // 3 for p in index["period"]], dtype=float)
        fig.add_trace(
            go.Scatter(
                x=index["label"],
                y=intercept + slope * x,
                name="Trend (Theil–Sen)",
                mode="lines",
                line=dict(color="#7b1fa2", dash="dot"),
            )
        )
    fig.add_trace(
        go.Scatter(
            x=index["label"],
            y=index["index"],
            name="Maturity index",
            mode="lines+markers",
            line=dict(color=LATEST, width=3),
            marker=dict(size=9),
            customdata=index["respondents"],
            hovertemplate="%{x}: index %{y:.2f} (%{customdata} respondents)<extra></extra>",
        )
    )
    layout(fig, "Maturity index by quarter", "Level (1–5)", "Quarter", height=500)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="center", x=0.5), margin=dict(b=120))
    fig.update_yaxes(range=[0.8, 5.2], tickvals=[1, 2, 3, 4, 5])
    fig.update_xaxes(type="category")
    return fig


def small_multiples(summary: pd.DataFrame, targets: dict[str, int]) -> go.Figure:
    """Each practice's median over quarters, one small panel per practice, target dashed."""
    fig = make_subplots(
        rows=2,
        cols=5,
        subplot_titles=[short_name(p) for p in PRACTICES],
        shared_yaxes=True,
        vertical_spacing=0.2,
        horizontal_spacing=0.03,
    )
    for i, p in enumerate(PRACTICES):
        r, c = i // 5 + 1, i % 5 + 1
        rows = summary[summary["practice"] == p].sort_values("period")
        labels = [quarter_label(q) for q in rows["period"]]
        if p in targets:
            fig.add_trace(
                go.Scatter(
                    x=labels,
                    y=[targets[p]] * len(labels),
                    mode="lines",
                    showlegend=i == 0,
                    name="Target",
                    line=dict(color=TARGET, dash="dash", width=1.5),
                ),
                row=r,
                col=c,
            )
        flagged = rows["no_consensus"].astype(bool).to_numpy()
        fig.add_trace(
            go.Scatter(
                x=labels,
                y=rows["median"],
                mode="lines+markers",
                showlegend=i == 0,
                name="Median",
                line=dict(color=LATEST, width=2),
                marker=dict(
                    size=7, symbol=np.where(flagged, "x", "circle"), color=np.where(flagged, "#c62828", LATEST)
                ),
                customdata=np.stack([rows["n"], rows["spread"]], axis=-1) if len(rows) else None,
                hovertemplate="%{x}: median %{y} (n %{customdata[0]}, spread %{customdata[1]})<extra></extra>",
            ),
            row=r,
            col=c,
        )
    fig.update_yaxes(range=[0.5, 5.5], tickvals=[1, 2, 3, 4, 5], gridcolor=GRID)
    fig.update_xaxes(type="category", showticklabels=False)
    fig.update_layout(
        font=FONT,
        height=430,
        margin=dict(l=40, r=20, t=70, b=30),
        plot_bgcolor="white",
        paper_bgcolor="white",
        title=dict(
            text="Each practice's median by quarter (red × = no consensus)", x=0, font=dict(size=17, color=TEXT)
        ),
        legend=dict(orientation="h", yanchor="bottom", y=1.08, xanchor="right", x=1),
    )
    fig.update_annotations(font=dict(size=12))
    return fig


def heatmap(team_rows: pd.DataFrame) -> go.Figure:
    """Team × practice medians of one quarter; cells where the team disagrees (spread >= 2) carry a ⚠ and the range."""
    rows = team_rows[team_rows["practice"] != OVERALL]
    teams = sorted(rows["team"].unique())
    grid = rows.pivot(index="team", columns="practice", values="median").reindex(index=teams, columns=list(PRACTICES))
    spread = rows.pivot(index="team", columns="practice", values="no_consensus").reindex(
        index=teams, columns=list(PRACTICES)
    )
    lo = rows.pivot(index="team", columns="practice", values="min").reindex(index=teams, columns=list(PRACTICES))
    hi = rows.pivot(index="team", columns="practice", values="max").reindex(index=teams, columns=list(PRACTICES))
    text = [
        [
            ("–" if np.isnan(grid.iat[i, j]) else f"{grid.iat[i, j]:g}")
            + (f"<br>⚠ {lo.iat[i, j]:g}–{hi.iat[i, j]:g}" if bool(spread.iat[i, j]) else "")
            for j in range(grid.shape[1])
        ]
        for i in range(grid.shape[0])
    ]
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(float),
            x=[short_name(p) for p in PRACTICES],
            y=[safe(t) for t in teams],
            text=text,
            texttemplate="%{text}",
            zmin=1,
            zmax=5,
            colorscale="Blues",
            colorbar=dict(title="Median", tickvals=[1, 2, 3, 4, 5]),
            hovertemplate="%{y} · %{x}: %{text}<extra></extra>",
            xgap=2,
            ygap=2,
        )
    )
    fig.update_layout(
        font=FONT,
        height=max(320, 170 + 42 * len(teams)),
        margin=dict(l=20, r=20, t=50, b=110),
        paper_bgcolor="white",
        plot_bgcolor="white",
        title=dict(
            text="Median by team and practice (⚠ = no consensus, range of answers shown)",
            x=0,
            font=dict(size=17, color=TEXT),
        ),
    )
    fig.update_xaxes(side="bottom", tickangle=-25)
    fig.update_yaxes(autorange="reversed")
    return fig


def relation_figure(table: pd.DataFrame, measure: str, kpi_name: str, scale: float = 1.0) -> go.Figure:
    """The maturity figure and the KPI per quarter on two axes; quarters left out are shown hollow."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Scatter(
            x=table["label"],
            y=table["maturity"],
            name=safe(measure),
            mode="lines+markers",
            line=dict(color=LATEST, width=3),
        ),
        secondary_y=False,
    )
    used = table["used"].to_numpy(bool)
    fig.add_trace(
        go.Scatter(
            x=table["label"],
            y=table["kpi"] * scale,
            name=safe(kpi_name),
            mode="lines+markers",
            line=dict(color="#ef6c00", width=2),
            marker=dict(size=9, symbol=np.where(used, "circle", "circle-open")),
            hovertemplate="%{x}: %{y:.4g}<extra></extra>",
        ),
        secondary_y=True,
    )
    layout(
        fig,
        f"{safe(measure)} and {safe(kpi_name)} by quarter",
        "Maturity level",
        "Quarter (hollow marker = incomplete KPI quarter, left out)",
        height=380,
    )
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.3, xanchor="center", x=0.5), margin=dict(b=110))
    fig.update_yaxes(
        title_text=safe(kpi_name) + (" (%)" if scale == 100 else ""),
        secondary_y=True,
        showgrid=False,
        tickformat=".1f" if scale == 100 else ".3~g",
    )
    fig.update_xaxes(type="category")
    return fig
