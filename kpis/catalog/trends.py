"""A KPI's trend as the KPI trends page shows it: rolled up, with target, status, XmR limits,
signals and the trend in words."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpis import catalog, periods, spc
from kpis.config import KPI

_ORDER = {"week": 0, "month": 1, "quarter": 2}


def rollup_choices(kpi: KPI) -> list[str]:
    """Cadences a KPI can be viewed at: its own and every coarser one."""
    return [c for c in periods.CADENCES if _ORDER[c] >= _ORDER[kpi.cadence]]


def roll_up(series: pd.DataFrame, kpi: KPI, cadence: str) -> pd.DataFrame:
    """Aggregate a KPI series (period, value) to a coarser cadence with the KPI's rollup rule."""
    if cadence == kpi.cadence or series.empty:
        out = series[["period", "value"]].reset_index(drop=True)
        return out.assign(points=1, target=catalog.targets_at(kpi, out["period"]) if len(out) else [])
    s = series.sort_values("period").assign(target=catalog.targets_at(kpi, series.sort_values("period")["period"]))
    start, _ = periods.normalise(s["period"].dt.strftime("%Y-%m-%d"), cadence)
    agg = {"sum": "sum", "mean": "mean", "last": "last"}[kpi.rollup]
    # A summed KPI is compared with the sum of its period targets; a mean or last one with the target in force.
    g = s.assign(period=start.to_numpy()).groupby("period")
    out = g.agg(value=("value", agg), points=("value", "size"), target=("target", "last"))
    if agg == "sum":   # a period without a target leaves the summed target undefined, not 0
        out["target"] = g["target"].sum(min_count=1)
    return out.reset_index()


@dataclass
class TrendView:
    """Everything the KPI trends page shows for one KPI and segment."""

    kpi: KPI
    cadence: str
    table: pd.DataFrame          # period, label, value, target, status, centre, ucl, lcl, signal flags
    limits: spc.XmR | None
    trend: spc.Trend | None
    trend_text: str
    baseline_label: str

    @property
    def trend_headline(self) -> str:
        """The trend sentence without its p-value: 'Improving 0.2 pts a month' or 'No clear trend'."""
        return self.trend_text.split(",")[0].split(" (")[0].capitalize()

    @property
    def trend_evidence(self) -> str:
        """The statistical part of the trend sentence: 'p < 0.001', 'p = 0.31'."""
        text = self.trend_text
        if ", " in text:
            return text.split(", ", 1)[1]
        return text[text.find("(") + 1:text.rfind(")")] if "(" in text else text

    @property
    def on_target_share(self) -> float:
        """Share of the shown periods whose status is green (NaN without periods)."""
        return float((self.table["status"] == "green").mean()) if len(self.table) else float("nan")


def trend_view(series: pd.DataFrame, kpi: KPI, *, cadence: str | None = None, baseline: str = "all",
               baseline_until: dt.date | None = None, currency: str = "EUR") -> TrendView:
    """Series with target, status, XmR limits and signals, and the trend in words.

    baseline: 'all' (every point), 'first12' (the first 12 points) or 'until' (points before baseline_until).
    """
    cadence = cadence or kpi.cadence
    s = roll_up(series, kpi, cadence).sort_values("period").reset_index(drop=True)
    s["label"] = periods.labels(s["period"], cadence) if len(s) else pd.Series(dtype=str)
    # A summed roll-up is judged per period (value and target divided by the periods in it), so the
    # amber/red tolerances, which are per period, keep their meaning.
    s["scale"] = s["points"].astype(float) if (kpi.rollup == "sum" and cadence != kpi.cadence and len(s)) else 1.0
    s["status"] = (catalog.status(kpi, (s["value"] / s["scale"]).to_numpy(), (s["target"] / s["scale"]).to_numpy())
                   if len(s) else [])
    if baseline == "first12":
        base = s["value"].iloc[:12]
        label = "first 12 points"
    elif baseline == "until" and baseline_until is not None:
        base = s["value"][s["period"] < pd.Timestamp(baseline_until)]
        label = f"points before {periods.label(baseline_until, cadence)}"
    else:
        base = s["value"]
        label = "all points"
    limits = spc.xmr_limits(base.to_numpy())
    if limits is not None:
        flags = spc.signals(s["value"].to_numpy(), limits)
        s = pd.concat([s, flags.drop(columns=["side"]).set_index(s.index)], axis=1)
        s["centre"], s["ucl"], s["lcl"] = limits.centre, limits.ucl, limits.lcl
    else:
        for c in ("beyond_limits", "two_of_three", "four_of_five", "eight_in_a_row", "any"):
            s[c] = False
        s["centre"] = s["ucl"] = s["lcl"] = np.nan
    t = np.asarray(periods.period_number(s["period"], cadence), dtype=float) if len(s) else np.array([])
    tr = spc.trend(s["value"].to_numpy(), t) if len(s) else None
    text = spc.describe_trend(tr, direction=kpi.direction, unit=catalog.change_unit(kpi, currency),
                              per=periods.per_word(cadence), scale=catalog.display_scale(kpi),
                              decimals=catalog.decimals(kpi))
    return TrendView(kpi=kpi, cadence=cadence, table=s, limits=limits, trend=tr, trend_text=text, baseline_label=label)


SIGNAL_LABELS = {
    "beyond_limits": "Point beyond the control limits",
    "two_of_three": "2 of 3 beyond 2σ",
    "four_of_five": "4 of 5 beyond 1σ",
    "eight_in_a_row": "8 in a row on one side",
}


def signal_summary(view: TrendView) -> list[str]:
    """Sentences naming each signal rule that fired and the periods it fired in."""
    out = []
    for col, text in SIGNAL_LABELS.items():
        if col in view.table and view.table[col].any():
            labs = view.table.loc[view.table[col], "label"].tolist()
            shown = ", ".join(labs[:6]) + (f" and {len(labs) - 6} more" if len(labs) > 6 else "")
            out.append(f"{text}: {shown}")
    return out


def export_table(view: TrendView, currency: str = "EUR") -> pd.DataFrame:
    """The trend table as people read it (period label, value, target, status, limits, signals)."""
    t = view.table
    out = pd.DataFrame({
        "period": t["label"], "value": t["value"], "target": t["target"],
        "status": t["status"].map(catalog.STATUS_LABELS).where(~(t["value"].notna() & t["target"].isna()),
                                                               "No target"),
        "centre": t["centre"], "lower_limit": t["lcl"],
        "upper_limit": t["ucl"],
        "signal": [", ".join(SIGNAL_LABELS[c] for c in SIGNAL_LABELS if c in t and bool(t.at[i, c])) for i in t.index],
    })
    return out
