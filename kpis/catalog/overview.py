"""The Overview and Data pages' numbers: tiles per KPI against target, counts, data freshness.

Kept free of scipy so the Overview stays light; trends and SPC live in kpis.trends.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kpis import catalog, formatting, periods
from kpis.config import KPI, AppConfig

SPARK_POINTS = 12


def filter_catalog(config: AppConfig, *, functions=(), practices=(), owners=(), search: str = "") -> list[KPI]:
    """KPIs matching every given filter (empty filter = all)."""
    out = []
    words = _words(search)
    for k in config.kpis:
        if functions and k.function not in functions:
            continue
        if practices and not set(k.practices) & set(practices):
            continue
        if owners and k.owner not in owners:
            continue
        if words and not all(w in _words(f"{k.id} {k.name} {k.description} {k.owner}", joined=True) for w in words):
            continue
        out.append(k)
    return out


def _words(text: str, joined: bool = False) -> list[str] | str:
    """Search words: lower case, hyphens and punctuation as spaces ('Stock-out' -> 'stock out')."""
    import re

    parts = re.sub(r"[^0-9a-z%]+", " ", text.lower()).split()
    return " " + " ".join(parts) + " " if joined else parts


def as_of_choices(series: pd.DataFrame) -> list[pd.Timestamp]:
    """Months (first day) an Overview can be seen as of: every month with data, newest first."""
    if series.empty:
        return []
    months = pd.to_datetime(series["period"]).dt.to_period("M").dt.start_time.unique()
    return sorted(months, reverse=True)


def _same_period_last_year(period: pd.Timestamp, cadence: str) -> pd.Timestamp:
    return pd.Timestamp(periods.shift(period.date(), {"week": -52, "month": -12, "quarter": -4}[cadence], cadence))


YTD_METHODS = {"ratio": "ratio of sums", "sum": "sum", "mean": "mean of periods", "last": "last value"}


def _ytd(values: pd.DataFrame, k: KPI, period: pd.Timestamp) -> tuple[float, str]:
    """Year-to-date value up to and including `period`, and its method (docs/methodology.md, Year to date).

    A ratio KPI whose periods carry their denominators (`weight`: the KPIs computed from the forecast data) is
    the ratio of the year's sums, Σ(value × weight) / Σweight, the figure the Forecast accuracy page shows for
    its "Year to date" window; any other KPI by its roll-up (sum, mean of its periods, or the last value)."""
    start = (
        pd.Timestamp(period.year, 1, 1)
        if k.cadence != "week"
        else pd.Timestamp.fromisocalendar(period.isocalendar().year, 1, 1)
    )
    rows = values[(values["period"] >= start) & (values["period"] <= period)]
    v = rows["value"]
    if v.empty:
        return np.nan, ""
    if "weight" in rows and rows["weight"].notna().all() and float(rows["weight"].sum()) > 0:
        w = rows["weight"].astype(float)
        return float((v * w).sum() / w.sum()), YTD_METHODS["ratio"]
    return float({"sum": v.sum(), "mean": v.mean(), "last": v.iloc[-1]}[k.rollup]), YTD_METHODS[k.rollup]


def overview_tiles(
    series: pd.DataFrame, kpis: list[KPI], config: AppConfig, as_of: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per KPI from its total series (kpi_id, period, value): latest value and period (up to the month
    `as_of`, if given), previous value, change, the same period last year and its change, year to date and the
    same span last year, target, status, sparkline, staleness."""
    series = series[series["kpi_id"].isin([k.id for k in kpis])].sort_values(["kpi_id", "period"])
    if as_of is not None:  # periods that start within or before the chosen month
        series = series[series["period"] < pd.Timestamp(as_of) + pd.offsets.MonthBegin(1)]
    # The month the Overview is seen as of: the chosen one, else the newest month with data.
    month = (
        pd.Timestamp(as_of)
        if as_of is not None
        else (series["period"].max().to_period("M").start_time if len(series) else pd.NaT)
    )
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
        target = (
            float(catalog.targets_at(k, [period])[0])
            if has
            else float(catalog.targets_at(k, [pd.Timestamp.today()])[0])
        )
        st = catalog.status(k, np.array([value]), np.array([target]))[0]
        # Stale: the latest value is more than one of its own periods behind the newest data anywhere.
        stale = bool(has and pd.notna(newest) and periods.shift(period.date(), 2, k.cadence) <= newest.date())
        # Not reported yet: no value for the period that holds the first day of the month seen (its last value is
        # shown as such and the tile is counted apart).
        due = pd.Timestamp(periods.start_of(month, k.cadence)) if pd.notna(month) else pd.NaT
        late = bool(has and pd.notna(due) and period < due)
        mine = series[series["kpi_id"] == k.id]
        last_year = ytd = ytd_last = np.nan
        ytd_method = ""
        if has:
            ly = _same_period_last_year(period, k.cadence)
            hit = mine.loc[mine["period"] == ly, "value"]
            last_year = float(hit.iloc[0]) if len(hit) else np.nan
            ytd, ytd_method = _ytd(mine, k, period)
            ytd_last = _ytd(mine, k, ly)[0]
        rows.append(
            {
                "kpi_id": k.id,
                "name": k.name,
                "function": k.function,
                "owner": k.owner,
                "unit": k.unit,
                "practices": k.practices,
                "period": period,
                "period_label": periods.label(period, k.cadence) if has else "",
                "value": value,
                "previous": previous,
                "change": value - previous,
                "target": target,
                "status": st,
                "last_year": last_year,
                "change_vs_last_year": value - last_year,
                "ytd": ytd,
                "ytd_last_year": ytd_last,
                "ytd_method": ytd_method,
                "spark": spark.get(k.id, []),
                "spark_colour": spark_colour(k, spark.get(k.id, [])),
                "stale": stale,
                "late": late,
                "due_label": periods.label(due, k.cadence) if late else "",
            }
        )
    return pd.DataFrame(rows)


def comparison_text(kpi: KPI, tile: pd.Series, currency: str = "EUR") -> str:
    """'vs last year +1.2 pts · YTD 93.1 %, mean of periods (a year earlier 91.0 %)', or what is missing, for a
    tile: the year to date names its method."""
    if pd.isna(tile["value"]):
        return ""
    parts = []
    if pd.notna(tile.get("last_year", np.nan)):
        parts.append(f"vs last year {catalog.format_change(kpi, tile['change_vs_last_year'], currency)}")
    else:
        parts.append("no value a year earlier")
    if pd.notna(tile.get("ytd", np.nan)):
        ytd = f"YTD {catalog.format_value(kpi, tile['ytd'], currency)}"
        if tile.get("ytd_method"):
            ytd += f", {tile['ytd_method']}"
        if pd.notna(tile.get("ytd_last_year", np.nan)):
            ytd += f" (a year earlier {catalog.format_value(kpi, tile['ytd_last_year'], currency)})"
        parts.append(ytd)
    return " · ".join(parts)


def status_counts(tiles: pd.DataFrame) -> dict[str, int]:
    """Number of KPIs per status, in the order green, amber, red, none; a KPI not reported yet for the month seen
    is counted apart (late_count), not by the status of its last value."""
    if len(tiles) and "late" in tiles:
        tiles = tiles[~tiles["late"].astype(bool)]
    counts = tiles["status"].value_counts() if len(tiles) else pd.Series(dtype=int)
    return {s: int(counts.get(s, 0)) for s in catalog.STATUSES}


def late_count(tiles: pd.DataFrame) -> int:
    """Number of KPIs with a value, but none yet for the month the Overview is seen as of ('not reported yet')."""
    return int(tiles["late"].sum()) if len(tiles) and "late" in tiles else 0


def period_text(tile: pd.Series) -> str:
    """What period a tile's value is for: '2026-10', or '2026-10 (last value; 2026-11 not reported yet)'."""
    if not tile.get("period_label"):
        return "no data"
    if tile.get("late"):
        return f"{tile['period_label']} (last value; {tile['due_label']} not reported yet)"
    return str(tile["period_label"])


def spark_colour(kpi: KPI, spark: list[float]) -> str:
    """Colour of a tile's line by what the drawn line shows for the KPI's direction: 'green' when it ends better
    than it starts, 'red' when worse, 'gray' when level (as shown), for a band KPI or under two points. The last
    change alone does not colour it (a rising good series is never drawn red)."""
    if kpi.direction == "band" or len(spark) < 2:
        return "gray"
    d = catalog.decimals(kpi)
    scale = catalog.display_scale(kpi)
    first, last = (formatting.round_half_even(float(v) * scale, d) for v in (spark[0], spark[-1]))
    if first == last:
        return "gray"
    return "green" if (last > first) == (kpi.direction == "higher") else "red"


def data_freshness(current: pd.DataFrame, config: AppConfig, computed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per catalog KPI: 'data current through' period label, number of values, segments, last change."""
    cur = current.set_index("kpi_id") if len(current) else pd.DataFrame()
    comp_last = (
        computed.groupby("kpi_id")["period"].agg(["max", "size"])
        if computed is not None and len(computed)
        else pd.DataFrame()
    )
    rows = []
    for k in config.kpis:
        if k.source != "import" and k.id in comp_last.index:
            last, n, segs, changed = comp_last.at[k.id, "max"], int(comp_last.at[k.id, "size"]), 1, pd.NaT
        elif k.id in cur.index and k.source != "records":  # a records KPI's stored values (an old import) are unused
            last, n = cur.at[k.id, "last_period"], int(cur.at[k.id, "values"])
            segs, changed = int(cur.at[k.id, "segments"]), cur.at[k.id, "last_change"]
        else:
            last, n, segs, changed = None, 0, 0, pd.NaT
        rows.append(
            {
                "KPI": k.name,
                "Cadence": k.cadence,
                "Current through": periods.label(last, k.cadence) if last is not None else "no data",
                "Values": n,
                "Segments": segs,
                "Last change (UTC)": formatting.moment(changed),  # '–' for a computed KPI, never 'None'
                "Source": "imported" if k.source == "import" else f"computed from the {k.source_label}",
                "Import id": k.id,
            }
        )
    return pd.DataFrame(rows)


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """Import history with readable column names."""
    return history.rename(
        columns={
            "id": "#",
            "when": "When (UTC)",
            "who": "Who",
            "kind": "Kind",
            "file": "File",
            "rows": "Rows",
            "inserted": "Inserted",
            "updated": "Updated",
            "unchanged": "Unchanged",
        }
    )


def problems_table(problems: list) -> pd.DataFrame:
    """Import problems as a table, identical ones merged: file, rows (the first few and how many more), column,
    problem, count; an empty cell (never 'None') where a problem has no row or column."""
    from kpis.imports.problems import group_problems

    out = []
    for g in group_problems(problems):
        rows = ", ".join(str(r) for r in g.rows[:5]) + (f" and {g.count - 5} more" if g.count > 5 else "")
        out.append({"File": g.file, "Rows": rows, "Column": g.column or "", "Problem": g.message, "Count": g.count})
    return pd.DataFrame(out, columns=["File", "Rows", "Column", "Problem", "Count"])


_SEVERITY = {"red": 0, "amber": 1, "none": 2, "green": 3}


def order_tiles(tiles: pd.DataFrame, order: str) -> pd.DataFrame:
    """Tiles worst status first (red, amber, no data, green; by function within), or in catalog order."""
    if order != "worst" or tiles.empty:
        return tiles
    return (
        tiles.assign(_r=tiles["status"].map(_SEVERITY))
        .sort_values(["_r", "function"], kind="stable")
        .drop(columns="_r")
    )


def catalog_table(kpis: list[KPI], currency: str = "EUR", today: pd.Timestamp | None = None) -> pd.DataFrame:
    """The KPI definitions as people read them: names, not ids (the id is shown as the import key)."""
    from kpis.config import PRACTICES

    today = pd.Timestamp.today().normalize() if today is None else today
    rows = []
    for k in kpis:
        target = catalog.targets_at(k, [today])[0]
        rows.append(
            {
                "KPI": k.name,
                "Function": catalog.FUNCTION_LABELS[k.function],
                "Owner": k.owner,
                "Unit": catalog.unit_label(k, currency),
                "Direction": catalog.DIRECTION_LABELS[k.direction],
                "Target now": catalog.target_text(k, target, currency),
                "Target changes": len(k.target_steps()) - 1,
                "Amber when worse by": catalog.format_change(k, k.amber, currency).lstrip("+") or "0",
                "Red when worse by": catalog.format_change(k, k.red, currency).lstrip("+"),
                "Cadence": k.cadence.capitalize(),
                "Roll-up": k.rollup,
                "Source": k.source_label if k.source == "import" else f"computed from the {k.source_label}",
                "Practices": ", ".join(PRACTICES[p].split(" and ")[0] for p in k.practices),
                "Description": k.description,
            }
        )
        rows[-1] = {"KPI": rows[-1].pop("KPI"), "Import id": k.id, **rows[-1]}  # the id next to the name
    return pd.DataFrame(rows)
