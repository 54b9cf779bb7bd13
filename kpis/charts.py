"""Plotly figure builders: pure functions from view data to figures (no Streamlit)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from kpis import catalog, safety
from kpis.catalog.trends import SIGNAL_LABELS, TrendView

FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=13)
GRID = "#e6e9ef"
TEXT = "#31333f"
BAND_ALPHA = {"green": "rgba(46,125,50,0.10)", "amber": "rgba(240,162,2,0.13)"}


def _layout(fig: go.Figure, title: str, y_title: str, x_title: str = "Period", height: int = 460) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.0, xanchor="left", font=dict(size=17, color=TEXT)),
        font=FONT, height=height, margin=dict(l=60, r=20, t=60, b=50), plot_bgcolor="white",
        paper_bgcolor="white", hovermode="x unified",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0, font=dict(size=12)),
    )
    fig.update_xaxes(title_text=x_title, showgrid=False, linecolor="#9aa0a6", ticks="outside")
    fig.update_yaxes(title_text=y_title, gridcolor=GRID, zeroline=False, linecolor="#9aa0a6")
    return fig


def axis_title(kpi, currency: str = "EUR") -> str:
    """Y-axis title: the value with its unit."""
    return {"%": "Percent", "currency": f"Value ({currency})", "count": "Count"}.get(kpi.unit, kpi.unit.capitalize())


def trend_figure(view: TrendView, currency: str = "EUR", title: str | None = None, cap_100: bool = False) -> go.Figure:
    """KPI series with stepping target, green/amber bands, XmR centre and limits (per phase), signals marked and
    partial periods hollow; cap_100 stops a percent axis at 100 % (accuracy cannot exceed it)."""
    kpi, t = view.kpi, view.table
    k = catalog.display_scale(kpi)
    x = t["period"]
    fig = go.Figure()
    if len(t) and t["target"].notna().any():
        _add_bands(fig, view, k)
        fig.add_trace(go.Scatter(x=x, y=t["target"] * k, name="Target", mode="lines",
                                 line=dict(color="#1b5e20", width=2, shape="hv"),
                                 hovertemplate="Target %{y:.4g}<extra></extra>"))
    if view.has_limits:
        for col, name in (("ucl", "Upper limit"), ("lcl", "Lower limit")):
            y = t[col].clip(upper=1.0) if cap_100 else t[col]
            fig.add_trace(go.Scatter(x=x, y=y * k, name="Control limits", mode="lines", legendgroup="limits",
                                     showlegend=col == "ucl", line=dict(color="#7b1fa2", width=1.3, dash="dot", shape="hv"),
                                     hovertemplate=f"{name} %{{y:.4g}}<extra></extra>"))
        fig.add_trace(go.Scatter(x=x, y=t["centre"] * k, name="Centre line (mean)", mode="lines",
                                 line=dict(color="#7b1fa2", width=1.3, dash="dash", shape="hv"),
                                 hovertemplate="Centre %{y:.4g}<extra></extra>"))
    for label_, _lim in (view.phases or [])[1:]:
        start = t.loc[t["label"] == label_, "period"]
        if len(start):
            fig.add_vline(x=start.iloc[0], line=dict(color="#7b1fa2", width=1, dash="dot"))
            fig.add_annotation(x=start.iloc[0], y=1.0, yref="paper", text=f"new phase {label_}", showarrow=False,
                               xanchor="left", yanchor="top", font=dict(size=11, color="#7b1fa2"))
    partial = t["partial"].to_numpy(dtype=bool) if "partial" in t and len(t) else np.zeros(len(t), dtype=bool)
    colours = t["status"].map(catalog.STATUS_COLOURS).fillna("#9e9e9e") if len(t) else []
    fig.add_trace(go.Scatter(
        x=x, y=t["value"] * k, name="Actual", mode="lines+markers",
        line=dict(color="#37474f", width=2),
        marker=dict(size=8, color=list(np.where(partial, "white", colours)) if len(t) else [],
                    line=dict(color=list(np.where(partial, "#37474f", "white")) if len(t) else "white",
                              width=list(np.where(partial, 2, 1)) if len(t) else 1)),
        customdata=np.stack([_status_text(t), t["label"]], axis=-1) if len(t) else None,
        hovertemplate="%{customdata[1]}: %{y:.4g} (%{customdata[0]})<extra></extra>"))
    if partial.any():
        pt = t[partial]
        fig.add_trace(go.Scatter(x=pt["period"], y=pt["value"] * k, mode="text", showlegend=False, hoverinfo="skip",
                                 text=["partial" for _ in range(len(pt))], textposition="top center",
                                 textfont=dict(size=11, color="#616161")))
    if "any" in t and t["any"].any():
        sig = t[t["any"]]
        why = [", ".join(SIGNAL_LABELS[c] for c in SIGNAL_LABELS if bool(sig.at[i, c])) for i in sig.index]
        fig.add_trace(go.Scatter(x=sig["period"], y=sig["value"] * k, name="SPC signal", mode="markers",
                                 marker=dict(size=15, symbol="circle-open", color="#c62828", line=dict(width=2)),
                                 customdata=why, hovertemplate="Signal: %{customdata}<extra></extra>"))
    label = title or kpi.name
    if view.limits is not None and view.limits.provisional:
        label += " — provisional limits (fewer than 12 baseline points)"
    fig = _layout(fig, label, axis_title(kpi, currency))
    if kpi.unit == "%":
        fig.update_yaxes(ticksuffix=" %")
    if cap_100 and kpi.unit == "%" and len(t):
        rng = fig.layout.yaxis.range
        lo = rng[0] if rng else min(np.nanmin(t["value"]), np.nanmin(t["lcl"]) if view.has_limits else 1.0) * k - 2
        hi = rng[1] if rng else np.nanmax(t["value"]) * k + 2
        fig.update_yaxes(range=[max(0.0, lo), min(100.0, hi)])
    if len(t) <= 1:
        fig.update_xaxes(type="category", tickvals=list(t["period"]), ticktext=list(t["label"]))
    return fig


def _status_text(t: pd.DataFrame) -> pd.Series:
    """Hover status per point: the status label, or 'partial period' for a partial one."""
    text = t["status"].map(catalog.STATUS_LABELS).fillna("no status")
    if "partial" in t:
        text = text.where(~t["partial"].astype(bool), "partial period")
    return text


def _add_bands(fig: go.Figure, view: TrendView, k: float) -> None:
    """Shade the green and amber zones around the (stepping) target."""
    t = view.table
    kpi = view.kpi
    lo_y = np.nanmin(t["value"]) * k if len(t) else 0
    hi_y = np.nanmax(t["value"]) * k if len(t) else 1
    span = (hi_y - lo_y) or abs(hi_y) or 1.0
    floor, ceil = lo_y - 10 * span, hi_y + 10 * span
    scale = t["scale"] if "scale" in t else pd.Series(1.0, index=t.index)
    # A summed roll-up compares per-period averages, so each zone is the per-period zone times the periods.
    zones = [None if np.isnan(tg) else {z: (lo * sc, hi * sc) for z, (lo, hi) in catalog.bands(kpi, tg / sc).items()}
             for tg, sc in zip(t["target"], scale)]
    for zone in ("amber", "green"):
        for part in ("low", "high") if kpi.direction == "band" or zone == "amber" else ("only",):
            lows, highs = [], []
            for z in zones:
                if z is None:
                    lows.append(np.nan), highs.append(np.nan)
                    continue
                lo, hi = z[zone]
                if zone == "amber" and kpi.direction == "band":
                    g_lo, g_hi = z["green"]
                    lo, hi = (lo, g_lo) if part == "low" else (g_hi, hi)
                elif zone == "amber" and part == "high":
                    continue
                lows.append(max(lo * k, floor)), highs.append(min(hi * k, ceil))
            if not lows:
                continue
            fig.add_trace(go.Scatter(x=t["period"], y=lows, mode="lines", line=dict(width=0, shape="hv"),
                                     hoverinfo="skip", showlegend=False))
            fig.add_trace(go.Scatter(x=t["period"], y=highs, mode="lines", line=dict(width=0, shape="hv"),
                                     fill="tonexty", fillcolor=BAND_ALPHA[zone], hoverinfo="skip",
                                     name="On target" if zone == "green" else "At risk (amber)",
                                     legendgroup=zone, showlegend=part in ("only", "low")))
    # Keep the view on the data, the target and the control limits, not on the shading.
    pad = 0.15 * span
    lows, highs = [lo_y, np.nanmin(t["target"]) * k], [hi_y, np.nanmax(t["target"]) * k]
    if view.has_limits:
        lows.append(np.nanmin(t["lcl"]) * k)
        highs.append(np.nanmax(t["ucl"]) * k)
    fig.update_yaxes(range=[min(lows) - pad, max(highs) + pad])


def status_bar(counts: dict[str, int]) -> go.Figure:
    """A single stacked bar of KPI counts by status in the shared colours."""
    fig = go.Figure()
    for s in catalog.STATUSES:
        if counts.get(s):
            fig.add_trace(go.Bar(x=[counts[s]], y=["KPIs"], orientation="h", name=catalog.STATUS_LABELS[s],
                                 marker_color=catalog.STATUS_COLOURS[s], text=[counts[s]], textposition="inside",
                                 hovertemplate=f"{catalog.STATUS_LABELS[s]}: %{{x}}<extra></extra>"))
    fig.update_layout(barmode="stack", height=90, margin=dict(l=0, r=0, t=0, b=0), showlegend=False,
                      xaxis=dict(visible=False), yaxis=dict(visible=False), plot_bgcolor="white")
    return fig


_ = pd


# --- Forecast accuracy ---------------------------------------------------------------------

WAPE_SCALE = [[0.0, "#2e7d32"], [0.5, "#f0a202"], [1.0, "#c62828"]]   # low error green → high red
ACCURACY_SCALE = [[0.0, "#c62828"], [0.5, "#f0a202"], [1.0, "#2e7d32"]]


def _pct(v: float) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v * 100:.1f} %"


def _window_title(title: str, window: str, note: str = "") -> str:
    """A chart title with its window (and a note) on a smaller second line, so half-width charts never cut it."""
    sub = "<br>".join(x for x in (note, window) if x)
    return f"{title}<br><sup>{sub}</sup>" if sub else title


def lag_waterfall(by_lag: pd.DataFrame, stage: str, window: str = "") -> go.Figure:
    """WAPE per lag, furthest lag first, so the bars step down as the target period approaches."""
    d = by_lag.sort_values("lag", ascending=False)
    x = [f"Lag {int(k)}" for k in d["lag"]]
    fig = go.Figure(go.Bar(
        x=x, y=d["wape"] * 100, marker_color="#1f5fa8", text=[_pct(v) for v in d["wape"]], textposition="outside",
        customdata=np.stack([d["accuracy"] * 100, d["n"]], axis=-1),
        hovertemplate="%{x}: WAPE %{y:.1f} % · accuracy %{customdata[0]:.1f} % · n = %{customdata[1]:,}<extra></extra>"))
    note = "lower is better"
    if len(d) > 1:
        note = (f"WAPE {_pct(d['wape'].iloc[0])} at lag {int(d['lag'].iloc[0])} → "
                f"{_pct(d['wape'].iloc[-1])} at lag {int(d['lag'].iloc[-1])}, lower is better")
    title = _window_title(f"Error by forecast lag — {stage}", window, note)
    fig = _layout(fig, title, "WAPE (%)", "Forecast lag (periods ahead)", height=400)
    top = float(np.nanmax(d["wape"])) * 100 if len(d) else 1
    fig.update_yaxes(ticksuffix=" %", range=[0, top * 1.2])
    fig.update_layout(hovermode="closest", showlegend=False, margin=dict(t=100))
    return fig


def fva_stairstep(fva: pd.DataFrame, window: str = "") -> go.Figure:
    """WAPE of each process step with its FVA; a step that makes the forecast worse is red and says so."""
    d = fva.reset_index(drop=True)
    colours, labels = [], []
    for _, r in d.iterrows():
        step = r["fva_vs_previous"]
        if np.isnan(step):
            colours.append("#78909c"), labels.append(f"<b>{_pct(r['wape'])}</b>")
        elif step < 0:
            colours.append(catalog.STATUS_COLOURS["red"])
            labels.append(f"<b>{_pct(r['wape'])}</b><br>FVA {_pts(step)}<br>destroys value")
        else:
            colours.append(catalog.STATUS_COLOURS["green"])
            labels.append(f"<b>{_pct(r['wape'])}</b><br>FVA {_pts(step)}<br>adds value")
    naive = ["–" if np.isnan(v) else _pts(v) for v in d["fva_vs_naive"]]
    n = [f"{int(v):,}" for v in d["n"]] if "n" in d else ["–"] * len(d)
    fig = go.Figure(go.Bar(
        x=[s.capitalize() for s in d["stage"]], y=d["wape"] * 100, marker_color=colours, text=labels,
        textposition="outside", textfont=dict(size=12, color=TEXT), cliponaxis=False,
        customdata=np.stack([naive, n], axis=-1) if len(d) else None,
        hovertemplate="%{x}: WAPE %{y:.1f} % · FVA vs naive %{customdata[0]} · n = %{customdata[1]}<extra></extra>"))
    title = _window_title("Forecast value added by step", window, "WAPE on the matched sample, lower is better")
    fig = _layout(fig, title, "WAPE (%)", "Process step", height=420)
    top = float(np.nanmax(d["wape"])) * 100 if len(d) and d["wape"].notna().any() else 1
    fig.update_yaxes(ticksuffix=" %", range=[0, top * 1.45])
    fig.update_layout(hovermode="closest", showlegend=False, margin=dict(t=100))
    return fig


def _pts(v: float) -> str:
    """Percentage points with a real minus sign: '+2.1 pts', '−4.0 pts'."""
    return f"{v * 100:+.1f} pts".replace("-", "−")


def wape_heatmap(table: pd.DataFrame, x: str, y: str, window: str = "") -> go.Figure:
    """WAPE for every combination of two attributes, annotated with WAPE and n, on the absolute 0–100 % scale
    the ABC × XYZ matrix uses (a cell has the same colour for WAPE w there as for accuracy 1 − w here)."""
    pv = table.pivot(index=y, columns=x, values="wape")
    n = table.pivot(index=y, columns=x, values="n").reindex_like(pv)
    text = [[("–" if np.isnan(v) else f"{v * 100:.1f} %<br>n={int(c):,}") for v, c in zip(rv, rn)]
            for rv, rn in zip(pv.to_numpy(), n.fillna(0).to_numpy())]
    sx, sy = (safety.plotly(v).replace("%", "%%") for v in (x, y))   # attribute names are imported text
    fig = go.Figure(go.Heatmap(
        z=pv.to_numpy() * 100, x=[safety.plotly(c) for c in pv.columns], y=[safety.plotly(i) for i in pv.index],
        text=text, texttemplate="%{text}", colorscale=WAPE_SCALE, zmin=0, zmax=100, xgap=2, ygap=2,
        colorbar=dict(title="WAPE", ticksuffix=" %", thickness=12),
        hovertemplate=f"{sy} %{{y}} · {sx} %{{x}}: WAPE %{{z:.1f}} %<extra></extra>"))
    fig = _layout(fig, _window_title(f"WAPE by {safety.plotly(x)} × {safety.plotly(y)}", window),
                  safety.plotly(y.capitalize()), safety.plotly(x.capitalize()), height=150 + 56 * max(len(pv.index), 3))
    fig.update_layout(margin=dict(t=80))
    fig.update_layout(hovermode="closest")
    return fig


def abc_xyz_matrix(table: pd.DataFrame, window: str = "") -> go.Figure:
    """Accuracy per ABC (volume) × XYZ (variability) cell, labelled with accuracy and item count."""
    pv = table.pivot(index="abc", columns="xyz", values="accuracy").reindex(index=["A", "B", "C"], columns=["X", "Y", "Z"])
    items = (table.pivot(index="abc", columns="xyz", values="items").reindex_like(pv) if "items" in table
             else pd.DataFrame(np.nan, index=pv.index, columns=pv.columns))
    text = [[("no items" if np.isnan(v) else f"<b>{v * 100:.1f} %</b>" + ("" if np.isnan(i) else f"<br>{int(i)} items"))
             for v, i in zip(rv, ri)] for rv, ri in zip(pv.to_numpy(), items.to_numpy())]
    fig = go.Figure(go.Heatmap(
        z=pv.to_numpy() * 100, x=["X", "Y", "Z"], y=["A", "B", "C"], text=text, texttemplate="%{text}",
        textfont=dict(size=14), colorscale=ACCURACY_SCALE, zmin=0, zmax=100, xgap=3, ygap=3,
        colorbar=dict(title="Accuracy", ticksuffix=" %", thickness=12),
        hovertemplate="%{y}%{x}: accuracy %{z:.1f} %<extra></extra>"))
    fig = _layout(fig, _window_title("Accuracy by ABC × XYZ segment", window), "Volume class (A = top 80 % of volume)",
                  "Variability class (X stable, Y variable, Z erratic)", height=400)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(side="bottom", tickangle=0)
    fig.update_layout(hovermode="closest", plot_bgcolor="#f5f5f5", margin=dict(t=80))
    return fig


def item_figure(series: pd.DataFrame, item: str, stage: str, lag: int | None) -> go.Figure:
    """Actual vs forecast for one item (the planner's check before the demand review)."""
    s = series.sort_values("period")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=s["period"], y=s["actual"], name="Actual", mode="lines+markers",
                             line=dict(color="#37474f", width=2)))
    fig.add_trace(go.Scatter(x=s["period"], y=s["forecast"], name=f"Forecast ({stage}{'' if lag is None else f', lag {lag}'})",
                             mode="lines+markers", line=dict(color="#1f5fa8", width=2, dash="dash")))
    return _layout(fig, f"{safety.plotly(item)}: actual vs forecast", "Units", height=340)
