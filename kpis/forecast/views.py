"""What the forecast pages show, computed from a ForecastCube: the accuracy KPI for the trend,
the ABC/XYZ table, value-destroying steps and the exception work list."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kpis.config import KPI, AppConfig
from kpis.forecast.metrics import FVA_MIN_N

PAGE_ROWS = 200  # rows of the exception work list sent to the browser at once, each with its small trends
PERCENT_COLUMNS = ("wape", "accuracy", "mape", "bias", "error_share", "share")  # fractions shown as percentages


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """A forecast table as a page shows it: its fractions as percentages rounded by the one rule (kpis.formatting),
    so a row reads what the charts and headline say and WAPE + accuracy = 100.0 % in every row (a browser table
    would cut 11.488 % to 11.4 %). Downloads keep the fractions."""
    from kpis import formatting

    return formatting.percent_table(table, PERCENT_COLUMNS)


def page_label(page: int, rows: int, size: int | None = None) -> str:
    """'201–400 of 2,294': the rows a page of a list holds (pages count from 1; PAGE_ROWS rows a page)."""
    size = size or PAGE_ROWS
    first = (page - 1) * size + 1
    return f"{first:,}–{min(page * size, rows):,} of {rows:,}"


def accuracy_kpi(config: AppConfig, cadence: str) -> KPI:
    """A KPI definition for forecast accuracy at the data's cadence, with the catalog's current target."""
    from kpis import catalog

    base = next((k for k in config.kpis if k.source == "forecast" and k.forecast_metric == "accuracy"), None)
    if base is not None and base.cadence == cadence:
        target = base.target  # same cadence: the catalog's target steps apply as they are
    else:
        target = 0.8 if base is None else float(catalog.targets_at(base, [pd.Timestamp.today()])[0])
    fields = {
        "id": "forecast_accuracy_view",
        "name": "Forecast accuracy",
        "function": "sales",
        "owner": base.owner if base else "Demand planning",
        "unit": "%",
        "direction": "higher",
        "target": target,
        "amber": base.amber if base else 0.0,
        "red": base.red if base else 0.05,
        "cadence": cadence,
        "rollup": "mean",
        "practices": ["evaluation"],
    }
    return KPI.model_validate(fields)


def default_heat_axes(attrs: list[str]) -> tuple[str, str]:
    """Heat-map axes: family × region when the data has them, else the first two attributes (or ABC × XYZ)."""
    x = "family" if "family" in attrs else (attrs[0] if attrs else "abc")
    rest = [a for a in attrs if a != x]
    y = "region" if "region" in rest else (rest[0] if rest else ("xyz" if x != "xyz" else "abc"))
    return x, y


def value_destroying_steps(fva: pd.DataFrame) -> list[str]:
    """Sentences for each stage whose FVA vs the previous stage is negative, on a matched sample of at least
    FVA_MIN_N item-periods (on fewer, a few items decide the sign: fva_small_sample_note says so instead)."""
    bad = fva[(fva["fva_vs_previous"] < 0) & (fva["n"] >= FVA_MIN_N)]
    out = []
    stages = fva["stage"].tolist()
    for _, r in bad.iterrows():
        prev = stages[stages.index(r["stage"]) - 1]
        out.append(
            f"{r['stage']} makes the forecast worse than {prev} by {-r['fva_vs_previous'] * 100:.1f} pts of WAPE"
        )
    return out


def fva_small_sample_note(fva: pd.DataFrame) -> str | None:
    """When a step looks worse than the one before it on fewer than FVA_MIN_N matched item-periods: said, with n,
    as too few to judge (a widened window or fewer filters give more)."""
    worse = fva[(fva["fva_vs_previous"] < 0) & (fva["n"] < FVA_MIN_N)]
    if worse.empty:
        return None
    n = int(worse["n"].max())
    steps = ", ".join(str(s) for s in worse["stage"])
    return (
        f"{steps} looks worse than the step before it, but on only {n:,} matched item-period{'s' * (n != 1)}: "
        f"too few to call it value-destroying (at least {FVA_MIN_N} needed). Widen the window or the filters."
    )


def fva_sample_text(fva: pd.DataFrame) -> str:
    """How the FVA stages were compared: the matched sample size and the rows each stage left out."""
    if fva.empty:
        return "No item-period has a forecast from every stage."
    n = int(fva["n"].max())
    left = [f"{r['stage']} {int(r['left_out']):,}" for _, r in fva.iterrows() if int(r["left_out"]) > 0]
    text = (
        f"Every stage compared on the same {n:,} item-periods "
        "(where all stages have a forecast and the actual is known)."
    )
    return text + (" Rows left out: " + ", ".join(left) + "." if left else " No rows left out.")


def abc_xyz_table(cube, *, stage, lag, period_from, period_to, filters) -> pd.DataFrame:
    """Accuracy per ABC × XYZ cell with the number of items in the cell."""
    cells = cube.accuracy(
        ["abc", "xyz"], stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=filters
    )
    items = cube.attribute_of(cube.items_of(filters))
    counts = items.groupby(["abc", "xyz"]).size().rename("items").reset_index()
    return cells.merge(counts, on=["abc", "xyz"], how="left")


def exception_summary(exc: pd.DataFrame) -> dict:
    """Counts of flagged items by direction and the share of total error the list covers."""
    flagged = exc[exc["flagged"]]
    return {
        "flagged": len(flagged),
        "over": int((flagged["ts"] > 0).sum()),
        "under": int((flagged["ts"] < 0).sum()),
        "share": float(exc["share"].sum()),
        "no_ts": int(exc["ts"].isna().sum()),
        "listed": len(exc),
    }


def tracking_note(window_periods: int, limit: float, summary: dict, tracking_window: int | None = None) -> str | None:
    """Why items have no tracking signal, when some have none: the configured tracking window or the chosen window
    is too short for the signal to pass the limit (|TS| can be at most the number of periods), or some items have
    too few periods with A and F."""
    from kpis.forecast.metrics import tracking_min_periods

    need = tracking_min_periods(limit)
    if tracking_window is not None and tracking_window < need:
        return (
            f"No item can be flagged: the tracking signal is taken over the last {tracking_window} periods "
            f"([forecast] tracking_window), and over that many it can never pass {limit:g} (over n periods it is "
            f"at most n). Set tracking_window to {need} or more, or tracking_limit below {tracking_window}, in "
            "config.toml. This list holds the largest error contributors only."
        )
    if window_periods < need:
        return (
            f"No tracking signal over {window_periods} period{'s' if window_periods != 1 else ''}: it needs "
            f"at least {need} periods with actual and forecast to be able to pass {limit:g} (over n periods it "
            f"is at most n, and over one it is always ±1). This list holds the largest error contributors "
            f"only; choose a window of {need} periods or more to see flagged items."
        )
    if summary.get("no_ts"):
        k = summary["no_ts"]
        return (
            f"{k:,} of the {summary['listed']:,} listed items have no tracking signal (None in the table): "
            f"fewer than {need} periods with actual and forecast in this window, or no error at all."
        )
    return None


def exception_table(exc: pd.DataFrame, series: pd.DataFrame) -> pd.DataFrame:
    """The work list: rank, item, why listed, tracking signal, error volume and share, WAPE, bias, small trends."""
    s = series.sort_values("period")
    actual = s.groupby("item")["actual"].agg(lambda v: [float(x) for x in v])
    forecast = s.groupby("item")["forecast"].agg(lambda v: [float(x) for x in v])
    why = np.where(
        exc["flagged"] & (exc["ts"] > 0),
        "Tracking signal: over-forecast",
        np.where(exc["flagged"], "Tracking signal: under-forecast", "Large error"),
    )
    attrs = [
        c
        for c in exc.columns
        if c
        not in {"item", "ts", "flagged", "abs_error", "share", "rank", "n", "wape", "bias", "mad", "sum_e", "cum_share"}
    ]
    out = pd.DataFrame({"rank": np.arange(1, len(exc) + 1), "item": exc["item"].to_numpy(), "why": why})
    out["actual_trend"] = out["item"].map(actual).map(lambda v: v if isinstance(v, list) else [])
    out["forecast_trend"] = out["item"].map(forecast).map(lambda v: v if isinstance(v, list) else [])
    for col in ("ts", "abs_error", "share", "wape", "bias", *attrs):
        out[col] = exc[col].to_numpy()
    return out


def data_summary(cube) -> str:
    """One line on the forecast data: items, periods covered, stages (derived marked) and lags."""
    from kpis import periods

    first, last = (periods.label(cube.periods[0], cube.cadence), periods.label(cube.periods[-1], cube.cadence))
    stages = ", ".join(s + (" (derived)" if s in cube.derived else "") for s in cube.stages)
    return (
        f"{len(cube.items_of(None)):,} items, {cube.cadence}ly periods {first} to {last}; stages {stages}; "
        f"lags {', '.join(str(k) for k in cube.lags)}."
    )


def accuracy_series(by_period: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per period (period, value) from cube.accuracy(['period']), for the trend view."""
    return pd.DataFrame({"period": pd.to_datetime(by_period["period"]), "value": by_period["accuracy"].to_numpy()})


def drill_items(cube, group: str, value: str, *, stage, lag, period_from, period_to, filters) -> pd.DataFrame:
    """Accuracy per item inside one group value, largest share of the group's absolute error first
    (error_share = the item's Σ|F−A| / the group's), with each item's attributes."""
    drill = {**(filters or {}), group: [value]}
    items = cube.accuracy(["item"], stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=drill)
    abs_error = items["mae"] * items["n"]
    total = abs_error.sum()
    items.insert(1, "error_share", abs_error / total if total else np.nan)
    items = items.sort_values(["error_share", "item"], ascending=[False, True], ignore_index=True)
    return items.merge(cube.attribute_of(items["item"].tolist()), on="item", how="left")
