"""A KPI's stored series as the pages and the CLI read it: imported values, with KPIs computed from the
forecast data (source = "forecast") taking their computed values; KPI ids looked up forgivingly."""

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
    return pd.concat([keep, computed[[c for c in stored.columns if c in computed.columns]]], ignore_index=True)


def computed_values(engine: Engine, config: AppConfig) -> pd.DataFrame | None:
    """KPI values computed from the forecast data, if the forecast module is present."""
    try:
        from kpis import forecast
    except ImportError:
        return None
    return forecast.computed_kpi_values(engine, config)


def kpi_series(engine: Engine, config: AppConfig, kpi_id: str, segment: str = "") -> pd.DataFrame:
    """One KPI's series (period, value) for a segment ('' = total), the one the KPI trends page shows."""
    if segment:
        s = repo.load_values(engine, [kpi_id], segment=segment)
    else:
        s = merge_computed(repo.kpi_totals(engine, config, [kpi_id]), computed_values(engine, config))
        s = s[s["kpi_id"] == kpi_id]
    return s[["period", "value"]].assign(period=lambda d: pd.to_datetime(d["period"])).sort_values("period")


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
