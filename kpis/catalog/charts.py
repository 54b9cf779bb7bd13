"""The KPI catalog's charts: a KPI's trend (target, zones, control limits, signals, action and review marks)
as a Vega-Lite spec, and the status bar of the Overview (Plotly). Pure functions, no Streamlit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kpis import catalog, chartstyle
from kpis.catalog import units
from kpis.catalog.trends import SIGNAL_LABELS, TrendView

if TYPE_CHECKING:  # plotly is imported by the functions that draw with it: pages without them never load it
    import plotly.graph_objects as go

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
    "Comment",
]
_TREND_COLOURS = [
    "#37474f",
    "#1b5e20",
    "#7b1fa2",
    "#7b1fa2",
    "#81c784",
    "#ffcc80",
    "#c62828",
    "#1565c0",
    "#ef6c00",
    "#00838f",
]
MARK_SHAPES = {
    "action": (
        "Completed action",
        "M0,-1L0.29,-0.4L0.95,-0.31L0.47,0.15L0.59,0.81L0,0.5L-0.59,0.81L-0.47,0.15L-0.95,-0.31L-0.29,-0.4Z",
    ),  # a five-pointed star
    "review": ("Review", "diamond"),
    "comment": ("Comment", "square"),  # the owner's commentary on the period (kpis.commentary)
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
    it). `marks` (kind 'action', 'review' or 'comment', date, label) are completed actions, reviews and comments
    along the top."""
    kpi, t = view.kpi, view.table
    k = catalog.display_scale(kpi)
    percent = kpi.unit == "%"
    # A single period has no time axis to speak of: it is shown as its label on a category axis.
    single = len(t) <= 1
    period = t["label"].astype(str) if single else chartstyle.dates(t["period"])
    x = _X_ONE if single else chartstyle.x_period(t["period"], view.cadence)
    colour = {"field": "series", "type": "nominal", **chartstyle.series_colour(_TREND_SERIES, _TREND_COLOURS)}
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
        # Along the top edge of the plot, actions above reviews above comments, so one never hides another.
        for kind, offset in (("action", 9), ("review", 24), ("comment", 39)):
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
    axis = chartstyle.y_axis(chartstyle.axis_title(kpi, currency), percent)
    for layer in layers:  # one value axis: the first layer carries its title, format and range
        if "y" in layer["encoding"]:
            layer["encoding"]["y"] = {
                **layer["encoding"]["y"],
                "axis": axis,
                "scale": {"domain": domain} if domain else {"zero": False},
            }
            break
    return chartstyle.spec(chartstyle.title(title or kpi.name, note), layers, datasets, height=400)


def _marks(marks: pd.DataFrame) -> pd.DataFrame:
    """Completed actions, reviews and comments by date, shaped and named by kind."""
    m = marks[marks["kind"].isin(list(MARK_SHAPES))]
    return pd.DataFrame(
        {
            "period": chartstyle.dates(m["date"]),
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
