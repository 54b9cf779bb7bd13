"""Shared page plumbing: config, engine, cached loaders keyed on the data version, the user,
and session-state keys. Layout helpers only; computations live in kpis/."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from kpis import catalog
from kpis.config import AppConfig, ConfigError, get_config
from kpis.store import repo
from kpis.store.audit import data_version
from kpis.store.engine import current_revision, get_engine
from kpis.users import User, current_user

# The actor recorded when the app itself applies an edited config.toml.
SYSTEM = User(name="system (config.toml)", role="admin")

# Session-state keys shared between pages.
TREND_KPI = "trend_kpi"
TREND_SEGMENT = "trend_segment"

STATUS_BADGE = {"green": "green", "amber": "orange", "red": "red", "none": "gray"}
STATUS_ICON = {"green": ":material/check_circle:", "amber": ":material/warning:", "red": ":material/error:",
               "none": ":material/help:"}

PAGE_OVERVIEW = "pages/overview.py"
PAGE_TRENDS = "pages/kpi_trends.py"
PAGE_DATA = "pages/data.py"
PAGE_CATALOG = "pages/catalog.py"


def config() -> AppConfig:
    """The validated config, or the list of problems on screen and a stop."""
    try:
        return get_config()
    except ConfigError as e:
        st.error("**config.toml has problems, so the app cannot start.** Fix these and reload "
                 "(`python -m kpis check-config` lists the same):")
        st.dataframe(pd.DataFrame({"problem": e.problems}), hide_index=True, width="stretch")
        st.stop()


@st.cache_resource(show_spinner=False)
def _engine(url: str):
    return get_engine(url)


def engine():
    """The shared engine; stops with instructions when the database is not migrated."""
    cfg = config()
    eng = _engine(cfg.database_url())
    if not st.session_state.get("_schema_ok"):
        try:
            rev = current_revision(eng)
        except Exception as exc:  # unreachable database
            st.error(f"Cannot reach the database: {type(exc).__name__}. Check `DATABASE_URL` or [database] url.")
            st.stop()
        if rev is None:
            st.error("The database has no tables yet. Run `python -m kpis db upgrade` (or `make run`).")
            st.stop()
        st.session_state["_schema_ok"] = True
    _synced(cfg.database_url(), str(cfg.path), cfg.path.stat().st_mtime)
    return eng


@st.cache_resource(show_spinner=False)
def _synced(url: str, path: str, mtime: float) -> list[str]:
    """Sync the catalog into the database once per config file version; target changes get audited."""
    return repo.sync_catalog(_engine(url), config(), SYSTEM)


def version() -> int:
    """Current data version (changes with every write)."""
    return data_version(engine())


def user() -> User:
    return current_user(config())


def _computed(eng) -> pd.DataFrame | None:
    """KPI values computed from the forecast data (source = "forecast"), if that module is present."""
    try:
        from kpis import forecasting
    except ImportError:
        return None
    return forecasting.computed_kpi_values(eng, get_config())


def _merge(stored: pd.DataFrame, computed: pd.DataFrame | None) -> pd.DataFrame:
    if computed is None or computed.empty:
        return stored
    keep = stored[~stored["kpi_id"].isin(computed["kpi_id"].unique())]
    return pd.concat([keep, computed[[c for c in stored.columns if c in computed.columns]]], ignore_index=True)


@st.cache_data(show_spinner=False, max_entries=8)
def kpi_totals(url: str, data_version: int) -> pd.DataFrame:
    """One total series per KPI (aggregated in SQL), cached until the data changes."""
    eng = _engine(url)
    return _merge(repo.kpi_totals(eng, get_config()), _computed(eng))


@st.cache_data(show_spinner=False, max_entries=32)
def kpi_detail(url: str, data_version: int, kpi_id: str) -> pd.DataFrame:
    """One KPI's values for every segment, plus its total series (segment ''), cached until the data changes."""
    eng = _engine(url)
    segs = repo.load_values(eng, [kpi_id], segment=None)
    segs = segs[segs["segment"] != ""]
    total = kpi_totals(url, data_version)
    total = total[total["kpi_id"] == kpi_id].assign(segment="")
    return pd.concat([total, segs], ignore_index=True)


def totals() -> pd.DataFrame:
    cfg = config()
    return kpi_totals(cfg.database_url(), version())


def detail(kpi_id: str) -> pd.DataFrame:
    cfg = config()
    return kpi_detail(cfg.database_url(), version(), kpi_id)


def empty_state(what: str = "KPI data") -> None:
    """Tell the user what to do when there is nothing to show, then stop."""
    st.info(f"No {what} yet. Upload a file on the **Data** page, run `python -m kpis import actuals FILE`, "
            "or load the demo company with `python -m kpis demo`.", icon=":material/info:")
    st.page_link(PAGE_DATA, label="Go to the Data page", icon=":material/upload:")
    st.stop()


def status_badge(status: str) -> None:
    st.badge(catalog.STATUS_LABELS[status], icon=STATUS_ICON[status], color=STATUS_BADGE[status])


def open_trend(kpi_id: str, segment: str = "") -> None:
    """Remember a KPI for the trends page and go there."""
    st.session_state[TREND_KPI] = kpi_id
    st.session_state[TREND_SEGMENT] = segment
    st.switch_page(PAGE_TRENDS)
