"""Chart builders: pure functions from view data to charts (no Streamlit).

The charts a page draws on every load are Vega-Lite specs (light in the browser); the rest, drawn only when
asked for, are Plotly figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kpis import catalog, safety
from kpis.catalog import units
from kpis.catalog.trends import SIGNAL_LABELS, TrendView

if TYPE_CHECKING:  # plotly is imported by the functions that draw with it: pages without them never load it
    import plotly.graph_objects as go

FONT = dict(family="Source Sans Pro, Arial, sans-serif", size=13)
GRID = "#e6e9ef"
TEXT = "#31333f"


def _layout(fig: go.Figure, title: str, y_title: str, x_title: str = "Period", height: int = 460) -> go.Figure:
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


def _title(text: str, *sub: str) -> dict:
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


def _spec(
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


def _series_colour(names: list[str], colours: list[str]) -> dict:
    """The shared colour scale that gives each named series its colour and one entry in the legend."""
    return {
        "scale": {"domain": names, "range": colours},
        "legend": {"symbolType": "stroke", "symbolStrokeWidth": 3, "symbolOpacity": 1},
    }


def _y_axis(title: str, percent: bool) -> dict:
    """A value axis in the app's number format: '92.5 %' for percentages, '1,250' or '0.4' for values, and '25k',
    '1.2M' from ten thousand up."""
    if percent:
        return {"title": title, "format": ",.4~f", "labelExpr": "datum.label + ' %'"}
    return {
        "title": title,
        "labelExpr": "abs(datum.value) >= 10000 ? format(datum.value, ',.3~s') : format(datum.value, ',.4~g')",
    }


def _amount(v: float) -> str:
    """A quantity for a tooltip: whole numbers with thousands separators, a fraction to one decimal ('0.4')."""
    if v is None or np.isnan(v):
        return "–"
    return f"{v:,.0f}" if float(v).is_integer() or abs(v) >= 100 else f"{v:,.1f}"


def _dates(s: pd.Series) -> pd.Series:
    """Period starts as ISO dates, which the chart reads as UTC days (no shift into the viewer's time zone)."""
    return pd.to_datetime(s).dt.strftime("%Y-%m-%d")


_LABEL_FORMAT = {  # a period start (UTC) written as the app writes periods: 2026-03, 2026-Q1, 2026-W05, 2026
    "month": "%Y-%m",
    "quarter": "%Y-Q%q",
    "week": "%G-W%V",
    "year": "%Y",
}
MAX_TICKS = 12


def _x_period(starts: pd.Series, cadence: str | None) -> dict:
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
_X_ONE = {"field": "period", "type": "ordinal", "title": "Period", "axis": {"labelAngle": 0}}
_TREND_SERIES = [
    "Actual",
    "Target",
    "Control limits",
    "Centre line (mean)",
    "On target",
    "At risk (amber)",
    "SPC signal",
    "Completed action",
    "Review",
]
_TREND_COLOURS = ["#37474f", "#1b5e20", "#7b1fa2", "#7b1fa2", "#81c784", "#ffcc80", "#c62828", "#1565c0", "#ef6c00"]
MARK_SHAPES = {
    "action": (
        "Completed action",
        "M0,-1L0.29,-0.4L0.95,-0.31L0.47,0.15L0.59,0.81L0,0.5L-0.59,0.81L-0.47,0.15L-0.95,-0.31L-0.29,-0.4Z",
    ),  # a five-pointed star
    "review": ("Review", "diamond"),
}


def trend_figure(
    view: TrendView,
    currency: str = "EUR",
    title: str | None = None,
    cap_100: bool = False,
    marks: pd.DataFrame | None = None,
) -> dict:
    """KPI series with stepping target, green/amber bands, XmR centre and limits (per phase), signals marked and
    partial periods hollow, as a Vega-Lite spec; cap_100 stops a percent axis at 100 % (accuracy cannot exceed
    it). `marks` (kind 'action' or 'review', date, label) are completed actions and reviews along the top."""
    kpi, t = view.kpi, view.table
    k = catalog.display_scale(kpi)
    percent = kpi.unit == "%"
    # A single period has no time axis to speak of: it is shown as its label on a category axis.
    single = len(t) <= 1
    period = t["label"].astype(str) if single else _dates(t["period"])
    x = _X_ONE if single else _x_period(t["period"], view.cadence)
    colour = {"field": "series", "type": "nominal", **_series_colour(_TREND_SERIES, _TREND_COLOURS)}
    step = {"interpolate": "step-after"}

    def level(**mark) -> dict:
        """A level per period (target, limits): a stepped line, or for a single period a tick across it (a line
        through one point draws nothing)."""
        if single:
            return {"type": "tick", "thickness": mark.get("strokeWidth", 1), "size": 60, "opacity": 1}
        return {"type": "line", **step, "clip": True, **mark}

    datasets: dict[str, pd.DataFrame] = {}
    layers: list[dict] = []
    has_target = bool(len(t) and t["target"].notna().any())
    if has_target:
        datasets["bands"] = _bands(view, k, period)
        zone = (
            {"type": "bar", "opacity": 0.3, "width": 60, "clip": True}
            if single
            else {"type": "area", **step, "clip": True, "opacity": 0.3}
        )
        layers.append(
            {
                "data": {"name": "bands"},
                "mark": zone,
                "encoding": {
                    "x": x,
                    "y": {"field": "low", "type": "quantitative"},
                    "y2": {"field": "high"},
                    "color": colour,
                    "detail": {"field": "part"},
                },
            }
        )
        datasets["target"] = pd.DataFrame({"period": period, "y": t["target"] * k, "series": "Target"})
        layers.append(
            {
                "data": {"name": "target"},
                "mark": level(strokeWidth=2),
                "encoding": {"x": x, "y": {"field": "y", "type": "quantitative"}, "color": colour},
            }
        )
    if view.has_limits:
        ucl = t["ucl"].clip(upper=1.0) if cap_100 else t["ucl"]
        datasets["limits"] = pd.concat(
            [
                pd.DataFrame({"period": period, "y": ucl * k, "line": "ucl", "series": "Control limits"}),
                pd.DataFrame({"period": period, "y": t["lcl"] * k, "line": "lcl", "series": "Control limits"}),
                pd.DataFrame(
                    {"period": period, "y": t["centre"] * k, "line": "centre", "series": "Centre line (mean)"}
                ),
            ],
            ignore_index=True,
        )
        layers.append(
            {
                "data": {"name": "limits"},
                "mark": level(strokeWidth=1.3),
                "encoding": {
                    "x": x,
                    "y": {"field": "y", "type": "quantitative"},
                    "color": colour,
                    "detail": {"field": "line"},
                    "strokeDash": {
                        "field": "line",
                        "type": "nominal",
                        "legend": None,
                        "scale": {"domain": ["ucl", "lcl", "centre"], "range": [[2, 3], [2, 3], [6, 4]]},
                    },
                },
            }
        )
    phases = [(lbl, t.loc[t["label"] == lbl].index) for lbl, _lim in (view.phases or [])[1:]]
    phases = [(lbl, period.loc[idx[0]]) for lbl, idx in phases if len(idx)]
    if phases:
        datasets["phases"] = pd.DataFrame(
            {"period": [p for _, p in phases], "text": [f"new phase {lbl}" for lbl, _ in phases]}
        )
        phase_x = {"data": {"name": "phases"}, "encoding": {"x": x}}
        layers.append({**phase_x, "mark": {"type": "rule", "color": "#7b1fa2", "strokeDash": [2, 3]}})
        layers.append(
            {
                **phase_x,
                "mark": {
                    "type": "text",
                    "color": "#7b1fa2",
                    "align": "left",
                    "baseline": "top",
                    "dx": 4,
                    "y": 2,
                    "fontSize": 11,
                },
                "encoding": {"x": x, "text": {"field": "text"}},
            }
        )
    partial = t["partial"].to_numpy(dtype=bool) if "partial" in t and len(t) else np.zeros(len(t), dtype=bool)
    datasets["actual"] = pd.DataFrame(
        {
            "period": period,
            "y": t["value"] * k,
            "series": "Actual",
            "label": t["label"].astype(str),
            "shown": [units.format_value(kpi, v, currency) for v in t["value"]],
            "status": _status_text(t) if len(t) else [],
            "fill": np.where(partial, "white", t["status"].map(catalog.STATUS_COLOURS).fillna("#9e9e9e"))
            if len(t)
            else [],
            "edge": np.where(partial, "#37474f", "white"),
            "partial": partial,
        }
    )
    y = {"field": "y", "type": "quantitative"}
    tip = [
        {"field": "label", "title": "Period"},
        {"field": "shown", "title": kpi.name},
        {"field": "status", "title": "Status"},
    ]
    layers.append(
        {
            "data": {"name": "actual"},
            "mark": {"type": "line", "strokeWidth": 2},
            "encoding": {"x": x, "y": y, "color": colour},
        }
    )
    layers.append(
        {
            "data": {"name": "actual"},
            "mark": {"type": "point", "filled": True, "size": 70, "strokeWidth": 1.5, "opacity": 1},
            "encoding": {
                "x": x,
                "y": y,
                "fill": {"field": "fill", "type": "nominal", "scale": None},
                "stroke": {"field": "edge", "type": "nominal", "scale": None},
                "tooltip": tip,
            },
        }
    )
    if partial.any():
        layers.append(
            {
                "data": {"name": "actual"},
                "transform": [{"filter": "datum.partial"}],
                "mark": {"type": "text", "dy": -12, "fontSize": 11, "color": "#616161", "text": "partial"},
                "encoding": {"x": x, "y": y},
            }
        )
    if "any" in t and t["any"].any():
        sig = t[t["any"].astype(bool)]
        datasets["signals"] = pd.DataFrame(
            {
                "period": period.loc[sig.index],
                "y": sig["value"] * k,
                "series": "SPC signal",
                "why": [", ".join(SIGNAL_LABELS[c] for c in SIGNAL_LABELS if bool(sig.at[i, c])) for i in sig.index],
            }
        )
        layers.append(
            {
                "data": {"name": "signals"},
                "mark": {"type": "point", "filled": False, "size": 260, "strokeWidth": 2},
                "encoding": {"x": x, "y": y, "color": colour, "tooltip": [{"field": "why", "title": "Signal"}]},
            }
        )
    if marks is not None and not marks.empty and not single:
        datasets["marks"] = _marks(marks)
        # Along the top edge of the plot, actions above reviews, so one on the same date never hides the other.
        for kind, offset in (("action", 9), ("review", 24)):
            layers.append(
                {
                    "data": {"name": "marks"},
                    "transform": [{"filter": {"field": "kind", "equal": kind}}],
                    "mark": {
                        "type": "point",
                        "filled": True,
                        "size": 150,
                        "opacity": 1,
                        "stroke": "white",
                        "strokeWidth": 1,
                        "y": offset,
                    },
                    "encoding": {
                        "x": x,
                        "color": colour,
                        "shape": {"field": "shape", "type": "nominal", "scale": None},
                        "tooltip": [{"field": "label", "title": "Event"}],
                    },
                }
            )
    # The legend names what is drawn (the colour encoding is one object shared by the layers).
    drawn = set().union(*(set(d["series"]) for d in datasets.values() if "series" in d))
    keep = [i for i, name in enumerate(_TREND_SERIES) if name in drawn]
    colour["scale"] = {"domain": [_TREND_SERIES[i] for i in keep], "range": [_TREND_COLOURS[i] for i in keep]}
    note = (
        "provisional limits (fewer than 12 baseline points)"
        if view.limits is not None and view.limits.provisional
        else ""
    )
    domain = _y_domain(view, k, cap_100)
    axis = _y_axis(axis_title(kpi, currency), percent)
    for layer in layers:  # one value axis: the first layer carries its title, format and range
        if "y" in layer["encoding"]:
            layer["encoding"]["y"] = {
                **layer["encoding"]["y"],
                "axis": axis,
                "scale": {"domain": domain} if domain else {"zero": False},
            }
            break
    return _spec(_title(title or kpi.name, note), layers, datasets, height=400)


def _marks(marks: pd.DataFrame) -> pd.DataFrame:
    """Completed actions and reviews by date, shaped and named by kind."""
    m = marks[marks["kind"].isin(list(MARK_SHAPES))]
    return pd.DataFrame(
        {
            "period": _dates(m["date"]),
            "kind": m["kind"].to_numpy(),
            "label": m["label"].astype(str).to_numpy(),
            "series": [MARK_SHAPES[k][0] for k in m["kind"]],
            "shape": [MARK_SHAPES[k][1] for k in m["kind"]],
        }
    )


def _y_domain(view: TrendView, k: float, cap_100: bool) -> list[float] | None:
    """The value axis's range: the data, the target and the control limits with a margin (not the shaded
    zones), within 0–100 % when cap_100."""
    t = view.table
    cols = ["value", "target"] + (["lcl", "ucl"] if view.has_limits else [])
    v = t[cols].to_numpy(dtype=float) * k
    if cap_100 and view.has_limits:
        v[:, cols.index("ucl")] = np.minimum(v[:, cols.index("ucl")], 100.0)
    if not np.isfinite(v).any():
        return None  # nothing to draw: the chart's own scale
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    vals = v[:, 0][np.isfinite(v[:, 0])]
    span = (vals.max() - vals.min() if vals.size else 0.0) or abs(hi) or 1.0
    lo, hi = lo - 0.15 * span, hi + 0.15 * span
    if cap_100 and view.kpi.unit == "%":
        lo, hi = max(0.0, lo), min(100.0, hi)
    return [lo, hi]


def _status_text(t: pd.DataFrame) -> pd.Series:
    """Hover status per point: the status label, or 'partial period' for a partial one."""
    text = t["status"].map(catalog.STATUS_LABELS).fillna("no status")
    if "partial" in t:
        text = text.where(~t["partial"].astype(bool), "partial period")
    return text


def _bands(view: TrendView, k: float, period: pd.Series) -> pd.DataFrame:
    """The green and amber zones around the (stepping) target: one row per period and zone part, bounded a
    little beyond the data so the shading never sets the axis."""
    t = view.table
    kpi = view.kpi
    seen = np.concatenate([t["value"].to_numpy(dtype=float), t["target"].to_numpy(dtype=float)]) * k
    seen = seen[np.isfinite(seen)]  # values, or the target alone when no value is known yet
    lo_y = float(seen.min()) if seen.size else 0.0
    hi_y = float(seen.max()) if seen.size else 1.0
    span = (hi_y - lo_y) or abs(hi_y) or 1.0
    floor, ceil = lo_y - 10 * span, hi_y + 10 * span
    scale = t["scale"] if "scale" in t else pd.Series(1.0, index=t.index)
    # A summed roll-up compares per-period averages, so each zone is the per-period zone times the periods.
    zones = [
        None if np.isnan(tg) else {z: (lo * sc, hi * sc) for z, (lo, hi) in catalog.bands(kpi, tg / sc).items()}
        for tg, sc in zip(t["target"], scale)
    ]
    frames = []
    for zone in ("amber", "green"):
        # A band KPI's amber zone lies on both sides of the green one; every other zone is one stretch.
        for part in ("low", "high") if zone == "amber" and kpi.direction == "band" else ("only",):
            lows, highs = [], []
            for z in zones:
                if z is None:
                    lows.append(np.nan), highs.append(np.nan)
                    continue
                lo, hi = z[zone]
                if zone == "amber" and kpi.direction == "band":
                    g_lo, g_hi = z["green"]
                    lo, hi = (lo, g_lo) if part == "low" else (g_hi, hi)
                lows.append(max(lo * k, floor)), highs.append(min(hi * k, ceil))
            frames.append(
                pd.DataFrame(
                    {
                        "period": period,
                        "low": lows,
                        "high": highs,
                        "part": f"{zone}-{part}",
                        "series": "On target" if zone == "green" else "At risk (amber)",
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def status_bar(counts: dict[str, int]) -> go.Figure:
    """A single stacked bar of KPI counts by status in the shared colours."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for s in catalog.STATUSES:
        if counts.get(s):
            fig.add_trace(
                go.Bar(
                    x=[counts[s]],
                    y=["KPIs"],
                    orientation="h",
                    name=catalog.STATUS_LABELS[s],
                    marker_color=catalog.STATUS_COLOURS[s],
                    text=[counts[s]],
                    textposition="inside",
                    hovertemplate=f"{catalog.STATUS_LABELS[s]}: %{{x}}<extra></extra>",
                )
            )
    fig.update_layout(
        barmode="stack",
        height=90,
        margin=dict(l=0, r=0, t=0, b=0),
        showlegend=False,
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        plot_bgcolor="white",
    )
    return fig


_ = pd


# --- Forecast accuracy ---------------------------------------------------------------------

WAPE_SCALE = [[0.0, "#2e7d32"], [0.5, "#f0a202"], [1.0, "#c62828"]]  # low error green → high red
ACCURACY_SCALE = [[0.0, "#c62828"], [0.5, "#f0a202"], [1.0, "#2e7d32"]]


def _pct(v: float) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v * 100:.1f} %"


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
        "axis": _y_axis("WAPE (%)", True),
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
            "mark": {"type": "text", "baseline": "bottom", "dy": -4, "fontSize": 12, "color": TEXT},
            "encoding": {"x": x, "y": {"field": "wape", "type": "quantitative"}, "text": {"field": "label"}},
        },
    ]
    spec = _spec(
        _title(f"Error by forecast lag — {stage}", note, window), layers, {"bars": bars}, height=330, legend=False
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
        "axis": _y_axis("WAPE (%)", True),
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
    text = {"type": "text", "baseline": "bottom", "fontSize": 12, "color": TEXT}
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
    spec = _spec(
        _title("Forecast value added by step", "WAPE on the matched sample, lower is better", window),
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
        [("–" if np.isnan(v) else f"{v * 100:.1f} %<br>n={int(c):,}") for v, c in zip(rv, rn)]
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
    fig = _layout(
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
            ("no items" if np.isnan(v) else f"<b>{v * 100:.1f} %</b>" + ("" if np.isnan(i) else f"<br>{int(i)} items"))
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
    fig = _layout(
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
    period = _dates(s["period"])
    label = periods.labels(s["period"], cadence).to_numpy() if cadence and len(s) else period.to_numpy()
    long = pd.concat(
        [
            pd.DataFrame({"period": period, "units": s["actual"].to_numpy(), "series": "Actual", "label": label}),
            pd.DataFrame({"period": period, "units": s["forecast"].to_numpy(), "series": forecast, "label": label}),
        ],
        ignore_index=True,
    )
    long["shown"] = [_amount(v) for v in long["units"].to_numpy(dtype=float)]
    colour = {"field": "series", "type": "nominal", **_series_colour(["Actual", forecast], ["#37474f", "#1f5fa8"])}
    enc = {
        "x": _x_period(s["period"], cadence),
        "y": {"field": "units", "type": "quantitative", "axis": _y_axis("Units", False)},
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
    spec = _spec(_title(f"{item}: actual vs forecast"), layers, {"series": long}, height=320)
    spec["data"] = {"name": "series"}
    return spec
