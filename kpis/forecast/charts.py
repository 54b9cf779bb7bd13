"""The forecast-accuracy charts: error by lag, forecast value added by step (Vega-Lite), WAPE and ABC × XYZ
heat maps (Plotly) and one item's actual against its forecast (Vega-Lite). Pure functions, no Streamlit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kpis import catalog, chartstyle, formatting, safety
from kpis.catalog import units

if TYPE_CHECKING:  # plotly is imported by the functions that draw with it: pages without them never load it
    import plotly.graph_objects as go

WAPE_SCALE = [[0.0, "#2e7d32"], [0.5, "#f0a202"], [1.0, "#c62828"]]  # low error green → high red
ACCURACY_SCALE = [[0.0, "#c62828"], [0.5, "#f0a202"], [1.0, "#2e7d32"]]


def _pct(v: float) -> str:
    return formatting.pct(v)


def _window_title(title: str, window: str, note: str = "") -> str:
    """A chart title with its window (and a note) on a smaller second line, so half-width charts never cut it."""
    sub = "<br>".join(x for x in (note, window) if x)
    return f"{title}<br><sup>{sub}</sup>" if sub else title


def _bar_x(field: str, title: str, order: list[str]) -> dict:
    return {"field": field, "type": "nominal", "sort": order, "title": title, "axis": {"labelAngle": 0}}


def lag_waterfall(by_lag: pd.DataFrame, stage: str, window: str = "") -> dict:
    """WAPE per lag, furthest lag first, so the bars step down as the target period approaches (Vega-Lite)."""
    d = by_lag.sort_values("lag", ascending=False)
    bars = pd.DataFrame(
        {
            "lag": [f"Lag {int(k)}" for k in d["lag"]],
            "wape": d["wape"].to_numpy() * 100,
            "label": [_pct(v) for v in d["wape"]],
            "accuracy": [_pct(v) for v in d["accuracy"]],
            "n": [units.count(v) for v in d["n"]],
        }
    )
    note = "lower is better"
    if len(d) > 1:
        note = (
            f"WAPE {_pct(d['wape'].iloc[0])} at lag {int(d['lag'].iloc[0])} → "
            f"{_pct(d['wape'].iloc[-1])} at lag {int(d['lag'].iloc[-1])}, lower is better"
        )
    top = float(np.nanmax(d["wape"])) * 100 if len(d) and d["wape"].notna().any() else 1.0
    x = _bar_x("lag", "Forecast lag (periods ahead)", list(bars["lag"]))
    y = {
        "field": "wape",
        "type": "quantitative",
        "axis": chartstyle.y_axis("WAPE (%)", True),
        "scale": {"domain": [0, top * 1.2]},
    }
    tip = [
        {"field": "lag", "title": "Lag"},
        {"field": "label", "title": "WAPE"},
        {"field": "accuracy", "title": "Accuracy"},
        {"field": "n", "title": "n"},
    ]
    layers = [
        {
            "mark": {"type": "bar", "color": "#1f5fa8", "width": {"band": 0.7}},
            "encoding": {"x": x, "y": y, "tooltip": tip},
        },
        {
            "mark": {"type": "text", "baseline": "bottom", "dy": -4, "fontSize": 12, "color": chartstyle.TEXT},
            "encoding": {"x": x, "y": {"field": "wape", "type": "quantitative"}, "text": {"field": "label"}},
        },
    ]
    spec = chartstyle.spec(
        chartstyle.title(f"Error by forecast lag — {stage}", note, window),
        layers,
        {"bars": bars},
        height=330,
        legend=False,
    )
    spec["data"] = {"name": "bars"}
    return spec


def fva_stairstep(fva: pd.DataFrame, window: str = "") -> dict:
    """WAPE of each process step with its FVA; a step that makes the forecast worse is red and says so, or amber
    and 'too few to judge' on a matched sample under FVA_MIN_N item-periods (Vega-Lite)."""
    from kpis.forecast.metrics import FVA_MIN_N

    d = fva.reset_index(drop=True)
    step = d["fva_vs_previous"].to_numpy(dtype=float)
    first = np.isnan(step)
    few = d["n"].to_numpy(dtype=float) < FVA_MIN_N if "n" in d else np.zeros(len(d), dtype=bool)
    worse = np.where(few, catalog.STATUS_COLOURS["amber"], catalog.STATUS_COLOURS["red"])
    better = np.where(few, "#9e9e9e", catalog.STATUS_COLOURS["green"])
    bars = pd.DataFrame(
        {
            "step": [str(s).capitalize() for s in d["stage"]],
            "wape": d["wape"].to_numpy() * 100,
            "label": [_pct(v) for v in d["wape"]],
            "colour": np.where(first, "#78909c", np.where(step < 0, worse, better)),
            "fva": ["" if np.isnan(v) else f"FVA {_pts(v)}" for v in step],
            "verdict": np.where(
                first,
                "reference",
                np.where(few, "too few to judge", np.where(step < 0, "destroys value", "adds value")),
            ),
            "naive": ["–" if np.isnan(v) else _pts(v) for v in d["fva_vs_naive"]],
            "n": [units.count(v) for v in d["n"]] if "n" in d else "–",
        }
    )
    top = float(np.nanmax(d["wape"])) * 100 if len(d) and d["wape"].notna().any() else 1.0
    x = _bar_x("step", "Process step", list(bars["step"]))
    y = {
        "field": "wape",
        "type": "quantitative",
        "axis": chartstyle.y_axis("WAPE (%)", True),
        "scale": {"domain": [0, top * 1.45]},
    }
    tip = [
        {"field": "step", "title": "Step"},
        {"field": "label", "title": "WAPE"},
        {"field": "fva", "title": "Step's FVA"},
        {"field": "naive", "title": "FVA vs naive"},
        {"field": "n", "title": "n"},
    ]
    on_top = {"x": x, "y": {"field": "wape", "type": "quantitative"}}
    text = {"type": "text", "baseline": "bottom", "fontSize": 12, "color": chartstyle.TEXT}
    layers = [
        {
            "mark": {"type": "bar", "width": {"band": 0.7}},
            "encoding": {
                "x": x,
                "y": y,
                "tooltip": tip,
                "color": {"field": "colour", "type": "nominal", "scale": None},
            },
        },
        {"mark": {**text, "dy": -4}, "encoding": {**on_top, "text": {"field": "verdict"}}},
        {"mark": {**text, "dy": -19}, "encoding": {**on_top, "text": {"field": "fva"}}},
        {
            "mark": {**text, "dy": -34, "fontWeight": "bold", "fontSize": 13},
            "encoding": {**on_top, "text": {"field": "label"}},
        },
    ]
    spec = chartstyle.spec(
        chartstyle.title("Forecast value added by step", "WAPE on the matched sample, lower is better", window),
        layers,
        {"bars": bars},
        height=350,
        legend=False,
    )
    spec["data"] = {"name": "bars"}
    return spec


def _pts(v: float) -> str:
    """Percentage points with a real minus sign: '+2.1 pts', '−4.0 pts'."""
    return f"{v * 100:+.1f} pts".replace("-", "−")


def wape_heatmap(table: pd.DataFrame, x: str, y: str, window: str = "") -> go.Figure:
    """WAPE for every combination of two attributes, annotated with WAPE and n, on the absolute 0–100 % scale
    the ABC × XYZ matrix uses (a cell has the same colour for WAPE w there as for accuracy 1 − w here)."""
    import plotly.graph_objects as go

    pv = table.pivot(index=y, columns=x, values="wape")
    n = table.pivot(index=y, columns=x, values="n").reindex_like(pv)
    text = [
        [("–" if np.isnan(v) else f"{_pct(v)}<br>n={int(c):,}") for v, c in zip(rv, rn)]
        for rv, rn in zip(pv.to_numpy(), n.fillna(0).to_numpy())
    ]
    sx, sy = (safety.plotly(v).replace("%", "%%") for v in (x, y))  # attribute names are imported text
    fig = go.Figure(
        go.Heatmap(
            z=pv.to_numpy() * 100,
            x=[safety.plotly(c) for c in pv.columns],
            y=[safety.plotly(i) for i in pv.index],
            text=text,
            texttemplate="%{text}",
            colorscale=WAPE_SCALE,
            zmin=0,
            zmax=100,
            xgap=2,
            ygap=2,
            colorbar=dict(title="WAPE", ticksuffix=" %", thickness=12),
            hovertemplate=f"{sy} %{{y}} · {sx} %{{x}}: WAPE %{{z:.1f}} %<extra></extra>",
        )
    )
    fig = chartstyle.layout(
        fig,
        _window_title(f"WAPE by {safety.plotly(x)} × {safety.plotly(y)}", window),
        safety.plotly(y.capitalize()),
        safety.plotly(x.capitalize()),
        height=150 + 56 * max(len(pv.index), 3),
    )
    fig.update_layout(margin=dict(t=80))
    fig.update_layout(hovermode="closest")
    return fig


def abc_xyz_matrix(table: pd.DataFrame, window: str = "") -> go.Figure:
    """Accuracy per ABC (volume) × XYZ (variability) cell, labelled with accuracy and item count."""
    import plotly.graph_objects as go

    pv = table.pivot(index="abc", columns="xyz", values="accuracy").reindex(
        index=["A", "B", "C"], columns=["X", "Y", "Z"]
    )
    items = (
        table.pivot(index="abc", columns="xyz", values="items").reindex_like(pv)
        if "items" in table
        else pd.DataFrame(np.nan, index=pv.index, columns=pv.columns)
    )
    text = [
        [
            ("no items" if np.isnan(v) else f"<b>{_pct(v)}</b>" + ("" if np.isnan(i) else f"<br>{int(i)} items"))
            for v, i in zip(rv, ri)
        ]
        for rv, ri in zip(pv.to_numpy(), items.to_numpy())
    ]
    fig = go.Figure(
        go.Heatmap(
            z=pv.to_numpy() * 100,
            x=["X", "Y", "Z"],
            y=["A", "B", "C"],
            text=text,
            texttemplate="%{text}",
            textfont=dict(size=14),
            colorscale=ACCURACY_SCALE,
            zmin=0,
            zmax=100,
            xgap=3,
            ygap=3,
            colorbar=dict(title="Accuracy", ticksuffix=" %", thickness=12),
            hovertemplate="%{y}%{x}: accuracy %{z:.1f} %<extra></extra>",
        )
    )
    fig = chartstyle.layout(
        fig,
        _window_title("Accuracy by ABC × XYZ segment", window),
        "Volume class (A = top 80 % of volume)",
        "Variability class (X stable, Y variable, Z erratic)",
        height=400,
    )
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(side="bottom", tickangle=0)
    fig.update_layout(hovermode="closest", plot_bgcolor="#f5f5f5", margin=dict(t=80))
    return fig


def item_figure(series: pd.DataFrame, item: str, stage: str, lag: int | None, cadence: str | None = None) -> dict:
    """Actual vs forecast for one item (the planner's check before the demand review), as a Vega-Lite spec;
    `cadence` labels the periods as the app does (2026-W05)."""
    from kpis import periods

    s = series.sort_values("period")
    forecast = f"Forecast ({stage}{'' if lag is None else f', lag {lag}'})"
    period = chartstyle.dates(s["period"])
    label = periods.labels(s["period"], cadence).to_numpy() if cadence and len(s) else period.to_numpy()
    long = pd.concat(
        [
            pd.DataFrame({"period": period, "units": s["actual"].to_numpy(), "series": "Actual", "label": label}),
            pd.DataFrame({"period": period, "units": s["forecast"].to_numpy(), "series": forecast, "label": label}),
        ],
        ignore_index=True,
    )
    long["shown"] = [chartstyle.amount(v) for v in long["units"].to_numpy(dtype=float)]
    colour = {
        "field": "series",
        "type": "nominal",
        **chartstyle.series_colour(["Actual", forecast], ["#37474f", "#1f5fa8"]),
    }
    enc = {
        "x": chartstyle.x_period(s["period"], cadence),
        "y": {"field": "units", "type": "quantitative", "axis": chartstyle.y_axis("Units", False)},
        "color": colour,
        "strokeDash": {
            "field": "series",
            "type": "nominal",
            "legend": None,
            "scale": {"domain": ["Actual", forecast], "range": [[1, 0], [6, 4]]},
        },
    }
    tip = [
        {"field": "label", "title": "Period"},
        {"field": "series", "title": "Series"},
        {"field": "shown", "title": "Units"},
    ]
    layers = [
        {"mark": {"type": "line", "strokeWidth": 2}, "encoding": enc},
        {
            "mark": {"type": "point", "filled": True, "size": 36},
            "encoding": {**{k: v for k, v in enc.items() if k != "strokeDash"}, "tooltip": tip},
        },
    ]
    spec = chartstyle.spec(chartstyle.title(f"{item}: actual vs forecast"), layers, {"series": long}, height=320)
    spec["data"] = {"name": "series"}
    return spec
