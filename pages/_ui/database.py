"""The database: the shared engine, its schema checked, the catalog synced, the data version, and what the user
sees when the database cannot be reached."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import DBAPIError

from kpis import safety
from kpis.access.users import User
from kpis.catalog.sync import sync_catalog
from kpis.store.audit import data_version
from kpis.store.engine import (
    current_revision,
    describe_db_error,
    get_engine,
    head_revision,
)
from pages._ui.settings import config

# The actor recorded when the app itself applies an edited config.toml.
SYSTEM = User(name="system (config.toml)", role="admin")

DATABASE_ERRORS = (DBAPIError,)


@st.cache_resource(show_spinner=False)
def engine_for(url: str):
    """The engine of a database URL, one per server (cached loaders reach the database through it)."""
    return get_engine(url)


def database_down(exc: BaseException) -> None:
    """Tell the user the database cannot be reached (the reason's first line, no SQL, no parameters), then stop."""
    st.error(
        f"The database cannot be reached right now ({safety.md(describe_db_error(exc))}). Nothing was changed; "
        "try again in a moment. If it persists, check `DATABASE_URL` or `[database] url`.",
        icon=":material/cloud_off:",
    )
    st.stop()


def engine():
    """The shared engine; stops with instructions when the database is not migrated."""
    cfg = config()
    eng = engine_for(cfg.database_url())
    if not st.session_state.get("_schema_ok"):
        try:
            rev = current_revision(eng)
        except Exception as exc:  # unreachable database
            database_down(exc)
        if rev is None:
            st.error("The database has no tables yet. Run `python -m kpis db upgrade` (or `make run`).")
            st.stop()
        if rev != _head():
            st.error(
                f"The database schema is at revision {rev}, this version of the app needs {_head()}. "
                "Run `python -m kpis db upgrade` (migrations keep your data)."
            )
            st.stop()
        st.session_state["_schema_ok"] = True
    try:
        _synced(cfg.database_url(), str(cfg.path), cfg.path.stat().st_mtime)
    except DATABASE_ERRORS as exc:  # the database went away since the schema was checked
        database_down(exc)
    return eng


@st.cache_resource(show_spinner=False)
def _head() -> str:
    return head_revision()


@st.cache_resource(show_spinner=False)
def _synced(url: str, path: str, mtime: float) -> list[str]:
    """Sync the catalog into the database once per config file version; target changes get audited."""
    return sync_catalog(engine_for(url), config(), SYSTEM)


def version() -> int:
    """Current data version (changes with every write)."""
    return data_version(engine())
