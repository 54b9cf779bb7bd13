"""What the pages show, computed: Overview tiles and a KPI's trend with target, status and SPC.

Pages call these with frames from kpis.store.repo and only lay out the result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpis import catalog, periods, spc
from kpis.config import AppConfig, KPI

SPARK_POINTS = 12
_ORDER = {"week": 0, "month": 1, "quarter": 2}


def filter_catalog(config: AppConfig, *, functions=(), practices=(), owners=(), search: str = "") -> list[KPI]:
    """KPIs matching every given filter (empty filter = all)."""
    out = []
    q = search.strip().lower()
    for k in config.kpis:
        if functions and k.function not in functions:
            continue
        if practices and not set(k.practices) & set(practices):
            continue
        if owners and k.owner not in owners:
            continue
        if q and q not in f"{k.id} {k.name} {k.description} {k.owner}".lower():
            continue
        out.append(k)
    return out


def total_series(values: pd.DataFrame, config: AppConfig) -> pd.DataFrame:
    """One series per KPI: the stored total (segment ''), or the segments rolled up where no total exists."""
    if values.empty:
        return values[["kpi_id", "period", "value"]]
    totals = values[values["segment"] == ""][["kpi_id", "period", "value"]]
    segs = values[(values["segment"] != "") & ~values["kpi_id"].isin(totals["kpi_id"].unique())]
    if segs.empty:
        return totals.reset_index(drop=True)
    how = {k.id: ("sum" if k.rollup == "sum" else "mean") for k in config.kpis}
    parts = [totals]
    for agg in ("sum", "mean"):
        sel = segs[segs["kpi_id"].map(how).eq(agg)]
        if len(sel):
            parts.append(sel.groupby(["kpi_id", "period"], as_index=False)["value"].agg(agg))
    return pd.concat(parts, ignore_index=True)


def overview_tiles(values: pd.DataFrame, kpis: list[KPI], config: AppConfig) -> pd.DataFrame:
    """One row per KPI: latest value and period, previous value, change, target, status, sparkline, staleness."""
    series = total_series(values, config)
    series = series[series["kpi_id"].isin([k.id for k in kpis])].sort_values(["kpi_id", "period"])
    g = series.groupby("kpi_id", sort=False)
    latest = g.tail(1).set_index("kpi_id")
    prev = g.nth(-2).set_index("kpi_id")["value"] if len(series) else pd.Series(dtype=float)
    spark = g.tail(SPARK_POINTS).groupby("kpi_id", sort=False)["value"].agg(list)
    newest = series["period"].max() if len(series) else pd.NaT
    rows = []
    for k in kpis:
        has = k.id in latest.index
        period = latest.at[k.id, "period"] if has else pd.NaT
        value = float(latest.at[k.id, "value"]) if has else np.nan
        previous = float(prev.get(k.id, np.nan)) if has else np.nan
        target = float(catalog.targets_at(k, [period])[0]) if has else float(catalog.targets_at(k, [pd.Timestamp.today()])[0])
        st = catalog.status(k, np.array([value]), np.array([target]))[0]
        # Stale: the latest value is more than one of its own periods behind the newest data anywhere.
        stale = bool(has and pd.notna(newest) and periods.shift(period.date(), 2, k.cadence) <= newest.date())
        rows.append({
            "kpi_id": k.id, "name": k.name, "function": k.function, "owner": k.owner, "unit": k.unit,
            "practices": k.practices, "period": period, "period_label": periods.label(period, k.cadence) if has else "",
            "value": value, "previous": previous, "change": value - previous, "target": target, "status": st,
            "spark": spark.get(k.id, []), "stale": stale,
        })
    return pd.DataFrame(rows)


def status_counts(tiles: pd.DataFrame) -> dict[str, int]:
    """Number of KPIs per status, in the order green, amber, red, none."""
    counts = tiles["status"].value_counts() if len(tiles) else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in catalog.STATUSES}


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
    out = s.assign(period=start.to_numpy()).groupby("period", as_index=False).agg(
        value=("value", agg), points=("value", "size"), target=("target", "sum" if agg == "sum" else "last"))
    return out


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


def trend_view(series: pd.DataFrame, kpi: KPI, *, cadence: str | None = None, baseline: str = "all",
               baseline_until: dt.date | None = None) -> TrendView:
    """Series with target, status, XmR limits and signals, and the trend in words.

    baseline: 'all' (every point), 'first12' (the first 12 points) or 'until' (points before baseline_until).
    """
    cadence = cadence or kpi.cadence
    s = roll_up(series, kpi, cadence).sort_values("period").reset_index(drop=True)
    s["label"] = periods.labels(s["period"], cadence) if len(s) else pd.Series(dtype=str)
    s["status"] = catalog.status(kpi, s["value"].to_numpy(), s["target"].to_numpy()) if len(s) else []
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
    text = spc.describe_trend(tr, direction=kpi.direction, unit=catalog.change_unit(kpi) if kpi.unit != "currency" else "",
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
        "status": t["status"].map(catalog.STATUS_LABELS), "centre": t["centre"], "lower_limit": t["lcl"],
        "upper_limit": t["ucl"],
        "signal": [", ".join(SIGNAL_LABELS[c] for c in SIGNAL_LABELS if c in t and bool(t.at[i, c])) for i in t.index],
    })
    return out


def data_freshness(current: pd.DataFrame, config: AppConfig, computed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per catalog KPI: 'data current through' period label, number of values, segments, last change."""
    cur = current.set_index("kpi_id") if len(current) else pd.DataFrame()
    comp_last = (computed.groupby("kpi_id")["period"].agg(["max", "size"]) if computed is not None and len(computed)
                 else pd.DataFrame())
    rows = []
    for k in config.kpis:
        if k.source == "forecast" and k.id in comp_last.index:
            last, n, segs, changed = comp_last.at[k.id, "max"], int(comp_last.at[k.id, "size"]), 1, None
        elif k.id in cur.index:
            last, n = cur.at[k.id, "last_period"], int(cur.at[k.id, "values"])
            segs, changed = int(cur.at[k.id, "segments"]), cur.at[k.id, "last_change"]
        else:
            last, n, segs, changed = None, 0, 0, None
        rows.append({"KPI": k.name, "Cadence": k.cadence, "Current through": periods.label(last, k.cadence) if last is not None else "no data",
                     "Values": n, "Segments": segs, "Last change (UTC)": changed,
                     "Source": "computed from forecasts" if k.source == "forecast" else "imported", "Import id": k.id})
    return pd.DataFrame(rows)


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """Import history with readable column names."""
    return history.rename(columns={"id": "#", "when": "When (UTC)", "who": "Who", "kind": "Kind", "file": "File",
                                   "rows": "Rows", "inserted": "Inserted", "updated": "Updated",
                                   "unchanged": "Unchanged"})


def problems_table(problems: list) -> pd.DataFrame:
    """Import problems as a table: file, row, column, problem."""
    return pd.DataFrame([{"File": p.file, "Row": p.row, "Column": p.column, "Problem": p.message} for p in problems])
