"""A KPI's stored series as every page, the CLI, the action verdicts and the scorecard read it: imported values,
with computed KPIs taking their computed values: those computed from the forecast data (source = "forecast") and
those the app's own records define (source = "records": meetings, decisions, actions, assessments; kpis.records);
KPI ids looked up forgivingly.

The one rule: a KPI's total series is its stored total (or its segments rolled up, repo.kpi_totals); a
computed KPI's series computed from its data replaces it (a records KPI never shows stored values, even where an
older database holds some). The forecast data and the records are read only when a KPI computed from them is
asked for.
"""

from __future__ import annotations

import difflib

import pandas as pd
from sqlalchemy import Engine

from kpis.config import KPI, AppConfig
from kpis.store import repo

COMPUTED = ("forecast", "records")  # the sources whose values are computed, never imported


def merge_computed(stored: pd.DataFrame, computed: pd.DataFrame | None) -> pd.DataFrame:
    """Stored totals with every computed KPI's series replacing its stored one (computed.attrs["kpi_ids"], where
    set, names KPIs whose stored values go even when nothing was computed for them)."""
    if computed is None:
        return stored
    gone = set(computed["kpi_id"].unique()) | set(computed.attrs.get("kpi_ids", ()))
    if not gone:
        return stored
    keep = stored[~stored["kpi_id"].isin(gone)]
    if computed.empty:
        return keep.reset_index(drop=True)
    cols = [c for c in [*stored.columns, "weight"] if c in computed.columns]  # weight: a ratio's denominator
    out = pd.concat([keep, computed[cols]], ignore_index=True)
    if "partial" in out:  # a computed value is complete
        out["partial"] = out["partial"].fillna(False).astype(bool)
    return out


def computed_values(engine: Engine, config: AppConfig, kpi_ids: list[str] | None = None) -> pd.DataFrame | None:
    """KPI values computed from the forecast data (if the forecast module is present) and from the records, of
    kpi_ids (None = all); attrs["kpi_ids"] lists every records KPI asked for. None when nothing is computed."""
    wanted = config.kpis if kpi_ids is None else [config.kpi_by_id[k] for k in kpi_ids if k in config.kpi_by_id]
    frames = []
    if any(k.source == "forecast" for k in wanted):  # the forecast data is read only when it counts
        try:
            from kpis import forecast
        except ImportError:
            forecast = None
        if forecast is not None:
            f = forecast.computed_kpi_values(engine, config, with_weight=True)
            frames.append(f if kpi_ids is None else f[f["kpi_id"].isin(kpi_ids)])
    records_ids = [k.id for k in wanted if k.source == "records"]
    if records_ids:
        from kpis import records  # not at module level: kpis.sponsorship reads this module

        frames.append(records.kpi_values(engine, config, records_ids))
    if not frames:
        return None
    filled = [f for f in frames if len(f)]
    out = pd.concat(filled, ignore_index=True) if len(filled) > 1 else (filled or frames)[0].copy()
    out.attrs["kpi_ids"] = records_ids
    return out


def kpi_totals(engine: Engine, config: AppConfig, kpi_ids: list[str] | None = None) -> pd.DataFrame:
    """Total series (kpi_id, period, value) of some KPIs (None = all), as the Overview reads them."""
    stored = repo.kpi_totals(engine, config, kpi_ids)
    return merge_computed(stored, computed_values(engine, config, kpi_ids))


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
