"""A KPI's stored series as every page, the CLI, the action verdicts and the scorecard read it: imported values,
with KPIs computed from the forecast data (source = "forecast") taking their computed values; KPI ids looked up
forgivingly.

The one rule: a KPI's total series is its stored total (or its segments rolled up, repo.kpi_totals); a
computed KPI's series computed from the forecast data replaces it. The forecast data is read only when a
computed KPI is asked for.
"""

from __future__ import annotations

import difflib

import pandas as pd
from sqlalchemy import Engine

from kpis.config import KPI, AppConfig
from kpis.store import repo


def merge_computed(stored: pd.DataFrame, computed: pd.DataFrame | None) -> pd.DataFrame:
    """Stored totals with every computed KPI's series replacing its stored one."""
    if computed is None or computed.empty:
        return stored
    keep = stored[~stored["kpi_id"].isin(computed["kpi_id"].unique())]
    cols = [c for c in [*stored.columns, "weight"] if c in computed.columns]  # weight: a ratio's denominator
    out = pd.concat([keep, computed[cols]], ignore_index=True)
    if "partial" in out:  # a computed value is complete
        out["partial"] = out["partial"].fillna(False).astype(bool)
    return out


def computed_values(engine: Engine, config: AppConfig) -> pd.DataFrame | None:
    """KPI values computed from the forecast data, if the forecast module is present."""
    try:
        from kpis import forecast
    except ImportError:
        return None
    return forecast.computed_kpi_values(engine, config, with_weight=True)


def kpi_totals(engine: Engine, config: AppConfig, kpi_ids: list[str] | None = None) -> pd.DataFrame:
    """Total series (kpi_id, period, value) of some KPIs (None = all), as the Overview reads them."""
    stored = repo.kpi_totals(engine, config, kpi_ids)
    wanted = config.kpis if kpi_ids is None else [config.kpi_by_id[k] for k in kpi_ids if k in config.kpi_by_id]
    if not any(k.source == "forecast" for k in wanted):  # the forecast data is read only when it counts
        return stored
    computed = computed_values(engine, config)
    if computed is not None and kpi_ids is not None:
        computed = computed[computed["kpi_id"].isin(kpi_ids)]
    return merge_computed(stored, computed)


def kpi_series(engine: Engine, config: AppConfig, kpi_id: str, segment: str = "") -> pd.DataFrame:
    """One KPI's series (period, value) for a segment ('' = total), oldest first: the one the KPI trends page shows
    and an action's verdict is judged on; with partial, segments, expected when a total rolled up from segments
    misses one in some period."""
    if segment:
        s = repo.load_values(engine, [kpi_id], segment=segment)
    else:
        s = kpi_totals(engine, config, [kpi_id])
        s = s[s["kpi_id"] == kpi_id]
    partial = "partial" in s.columns and bool(s["partial"].fillna(False).astype(bool).any())
    cols = ["period", "value", *(["partial", "segments", "expected"] if partial else [])]
    out = s[cols].assign(period=lambda d: pd.to_datetime(d["period"]))
    return out.sort_values("period", ignore_index=True)


def resolve_kpi(config: AppConfig, text: str) -> KPI:
    """The KPI named by an id or a name, in any case; ValueError with a did-you-mean otherwise."""
    t = text.strip()
    if t in config.kpi_by_id:
        return config.kpi_by_id[t]
    by_lower = {k.id.lower(): k for k in config.kpis} | {k.name.lower(): k for k in config.kpis}
    if t.lower() in by_lower:
        return by_lower[t.lower()]
    hint = difflib.get_close_matches(t.lower(), list(by_lower), n=1)
    msg = f"unknown KPI {text!r}"
    msg += f"; did you mean {by_lower[hint[0]].id!r}?" if hint else "; `python -m kpis catalog` lists the KPIs"
    raise ValueError(msg)
