"""Loaders cached across sessions, keyed on the data version (every write changes it) and, where the result
depends on it, the config file: KPI series, Overview tiles, maturity answers, scorecard inputs, and the
forecast pages' cube and sections."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from kpis import series as kpi_series
from kpis.config import get_config
from kpis.store import repo
from pages._ui.database import engine, engine_for, version
from pages._ui.settings import config


def _computed(eng) -> pd.DataFrame | None:
    """KPI values computed from the forecast data (source = "forecast"), if that module is present."""
    return kpi_series.computed_values(eng, get_config())


def _merge(stored: pd.DataFrame, computed: pd.DataFrame | None) -> pd.DataFrame:
    return kpi_series.merge_computed(stored, computed)


@st.cache_data(show_spinner=False, max_entries=8)
def kpi_totals(url: str, data_version: int) -> pd.DataFrame:
    """One total series per KPI (aggregated in SQL), cached until the data changes."""
    eng = engine_for(url)
    return _merge(repo.kpi_totals(eng, get_config()), _computed(eng))


@st.cache_data(show_spinner=False, max_entries=32)
def kpi_detail(url: str, data_version: int, kpi_id: str) -> pd.DataFrame:
    """One KPI's values for every segment, plus its total series (segment ''), cached until the data changes."""
    eng = engine_for(url)
    segs = repo.load_values(eng, [kpi_id], segment=None)
    segs = segs[segs["segment"] != ""]
    total = kpi_totals(url, data_version)
    total = total[total["kpi_id"] == kpi_id].assign(segment="")
    return pd.concat([total, segs], ignore_index=True)


@st.cache_data(show_spinner=False, max_entries=64)
def _overview_tiles(url: str, data_version: int, config_mtime: float, kpi_ids: tuple[str, ...], as_of) -> pd.DataFrame:
    """The Overview's tiles for the chosen KPIs, shared by every session until the data or the config changes."""
    from kpis.catalog import overview

    cfg = get_config()
    kpis = [cfg.kpi_by_id[k] for k in kpi_ids]
    return overview.overview_tiles(kpi_totals(url, data_version), kpis, cfg, as_of=as_of)


def overview_tiles(kpis: list, as_of) -> pd.DataFrame:
    """kpis.catalog.overview.overview_tiles on the current data for these KPIs and month (cached, see above)."""
    cfg = config()
    return _overview_tiles(cfg.database_url(), version(), cfg.path.stat().st_mtime, tuple(k.id for k in kpis), as_of)


@st.cache_data(show_spinner=False, max_entries=32)
def _late_data(url: str, data_version: int, config_mtime: float, day, kpi_ids: tuple[str, ...] | None) -> pd.DataFrame:
    """Overdue KPI values on a day (kpis.catalog.freshness), shared by every session until the data, the config
    or the day changes."""
    from kpis.catalog import freshness

    cfg = get_config()
    latest = freshness.latest_received(engine_for(url), cfg, kpi_totals(url, data_version))
    return freshness.overdue(latest, cfg, day, None if kpi_ids is None else list(kpi_ids))


def late_data(day, kpi_ids: list[str] | None = None) -> pd.DataFrame:
    """kpis.catalog.freshness.overdue on `day` for some KPIs (None = all), cached (see above)."""
    cfg = config()
    ids = None if kpi_ids is None else tuple(kpi_ids)
    return _late_data(cfg.database_url(), version(), cfg.path.stat().st_mtime, day, ids)


@st.cache_data(show_spinner=False, max_entries=8)
def _as_of_choices(url: str, data_version: int) -> list:
    from kpis.catalog import overview

    return overview.as_of_choices(kpi_totals(url, data_version))


def as_of_choices() -> list:
    """The months the Overview can be seen as of (kpis.catalog.overview.as_of_choices), cached."""
    cfg = config()
    return _as_of_choices(cfg.database_url(), version())


def totals() -> pd.DataFrame:
    cfg = config()
    return kpi_totals(cfg.database_url(), version())


def detail(kpi_id: str) -> pd.DataFrame:
    cfg = config()
    return kpi_detail(cfg.database_url(), version(), kpi_id)


@st.cache_data(show_spinner=False, max_entries=8)
def _assessment_scores(url: str, data_version: int) -> pd.DataFrame:
    from kpis.maturity import assessments

    return assessments.load_scores(engine_for(url))


def assessment_scores() -> pd.DataFrame:
    """Every maturity answer (kpis.maturity.assessments.load_scores), cached until the data changes."""
    return _assessment_scores(config().database_url(), version())


@st.cache_data(show_spinner=False, max_entries=4)
def _sponsorship_inputs(url: str, data_version: int):
    from kpis.sponsorship import scorecard

    return scorecard.load_inputs(engine_for(url), get_config())


def sponsorship_inputs():
    """The scorecard's inputs for the current data version."""
    cfg = config()
    return _sponsorship_inputs(cfg.database_url(), version())


# ---------------------------------------------------------------- the forecast pages

_FORECAST_VERSION = "_forecast_version"  # (id, data version) of the cube forecast_cube() gave (for shared())


def forecast_cube():
    """The forecast-accuracy cube for the current data version (built once, cached in kpis.forecasting)."""
    from kpis import forecast

    eng = engine()
    version = forecast.forecast_version(eng)
    cube = forecast.get_cube(eng, config(), version)
    st.session_state[_FORECAST_VERSION] = (id(cube), version)
    return cube


def shared(fn, cube, /, *args, **kwargs):
    """fn(cube, config, *args, **kwargs), a section of a forecast page (kpis.forecast.sections), computed once per
    forecast-data version, config file and arguments and shared by every session: many people opening the same
    page in the week of the S&OP meeting cost one computation. The result is shared, so it is never changed."""
    cfg = config()
    cube_id, version = st.session_state.get(_FORECAST_VERSION, (None, None))
    if cube_id != id(cube):  # not the cube forecast_cube() gave this run: compute, share nothing
        return fn(cube, cfg, *args, **kwargs)
    return _shared(
        cfg.database_url(),
        version,
        str(cfg.path),
        cfg.path.stat().st_mtime,
        f"{fn.__module__}.{fn.__qualname__}",
        args,
        kwargs,
        _fn=fn,
        _cube=cube,
        _config=cfg,
    )


# A section's tables and figures take 0.2–0.6 MB: 256 of them stay well inside the server's memory budget.
@st.cache_resource(show_spinner=False, max_entries=256, ttl=dt.timedelta(hours=6))
def _shared(
    url: str,
    version: int,
    config_path: str,
    config_mtime: float,
    name: str,
    args: tuple,
    kwargs: dict,
    *,
    _fn,
    _cube,
    _config,
):
    # Keyed on everything the result depends on; the cube and config objects follow from url, version and file.
    # One computation per key even when many sessions ask at once (Streamlit locks each key while it computes).
    return _fn(_cube, _config, *args, **kwargs)
