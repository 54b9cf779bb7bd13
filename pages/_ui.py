"""Shared page plumbing: config, engine, cached loaders keyed on the data version, the user,
and session-state keys. Layout helpers only; computations live in kpis/."""

from __future__ import annotations

import datetime as dt
import os

import pandas as pd
import streamlit as st
from sqlalchemy.exc import DBAPIError

from kpis import catalog, safety
from kpis import series as kpi_series
from kpis.access.signin import ALLOW_NETWORK_ENV, local_mode_problem, signed_in_user
from kpis.access.users import NotAllowed, User, current_user
from kpis.catalog.sync import sync_catalog
from kpis.config import AppConfig, ConfigError, get_config
from kpis.store import repo
from kpis.store.audit import data_version
from kpis.store.engine import (
    current_revision,
    describe_db_error,
    get_engine,
    head_revision,
)

# The actor recorded when the app itself applies an edited config.toml.
SYSTEM = User(name="system (config.toml)", role="admin")

# Session-state keys shared between pages.
TREND_KPI = "trend_kpi"
TREND_SEGMENT = "trend_segment"

STATUS_BADGE = {"green": "green", "amber": "orange", "red": "red", "none": "gray"}
STATUS_ICON = {
    "green": ":material/check_circle:",
    "amber": ":material/warning:",
    "red": ":material/error:",
    "none": ":material/help:",
}

PAGE_OVERVIEW = "pages/overview.py"
PAGE_TRENDS = "pages/kpi_trends.py"
PAGE_DATA = "pages/data.py"
PAGE_CATALOG = "pages/catalog.py"
PAGE_ASSESS = "pages/assess.py"
PAGE_MATURITY = "pages/maturity.py"
PAGE_ACTIONS = "pages/actions.py"
PAGE_MEETINGS = "pages/meetings.py"
PAGE_SCORECARD = "pages/scorecard.py"
PAGE_AUDIT = "pages/audit_log.py"
REGISTER_OWNER = "reg_owner"  # decision register's owner filter (set by the scorecard's landing)


def leave_folder_mode(*, rerun: bool = True) -> None:
    """Leave Streamlit's old folder-based page mode and rerun the same page with st.navigation.

    Streamlit runs the first session of a freshly started server in that mode because app.py sits next to a
    `pages/` folder: it skips app.py, lists every file of pages/ in the sidebar and, for a deep link whose url
    path is not a file name (/kpi-trends), shows "Page not found". Page hashes come from url paths, so the
    rerun lands on the same page (pages/kpi-trends.py and pages/forecast-accuracy.py are aliases for the
    hyphenated paths)."""
    from streamlit.runtime.pages_manager import PagesManager

    first_run = not st.session_state.get("_navigation_ready")
    st.session_state["_navigation_ready"] = True
    if not PagesManager.uses_pages_directory:
        return
    if not rerun:  # app.py itself goes on to call st.navigation, which takes over
        PagesManager.uses_pages_directory = False
    elif first_run:  # only a session's first run: a later one may carry a button click that a rerun would drop
        PagesManager.uses_pages_directory = False
        st.rerun()


def alias_page() -> None:
    """Body of a url-path alias in pages/ (only ever run in the folder mode): hand over to st.navigation and
    rerun, which opens the real page of the same url path."""
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    st.rerun()


def config() -> AppConfig:
    """The validated config, or the list of problems on screen and a stop."""
    leave_folder_mode()
    try:
        return get_config()
    except ConfigError as e:
        st.error(
            "**config.toml has problems, so the app cannot start.** Fix these and reload "
            "(`python -m kpis check-config` lists the same):"
        )
        st.dataframe(pd.DataFrame({"problem": e.problems}), hide_index=True, width="stretch")
        st.stop()


@st.cache_resource(show_spinner=False)
def _engine(url: str):
    return get_engine(url)


DATABASE_ERRORS = (DBAPIError,)


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
    eng = _engine(cfg.database_url())
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
    return sync_catalog(_engine(url), config(), SYSTEM)


def version() -> int:
    """Current data version (changes with every write)."""
    return data_version(engine())


def auth_configured() -> bool:
    """True when sign-in is configured ([auth] in .streamlit/secrets.toml)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def user() -> User:
    """The acting user: the signed-in person (sign-in configured) or the local user (local mode).
    Stops the page with a sign-in screen, or a clear message when the user is refused."""
    cfg = config()
    if auth_configured():
        if not st.user.is_logged_in:
            st.title("S&OP Pulse")
            st.write(f"Sign in to see {cfg.app.company}'s S&OP figures.")
            st.button("Sign in", on_click=st.login, type="primary", key="sign_in", icon=":material/login:")
            st.stop()
        who = signed_in_user(cfg, st.user.to_dict())
        if who is None:
            st.error(
                "You are signed in, but your account has no role in this app. Ask the S&OP team's "
                "administrator to add you."
            )
            st.button("Sign out", on_click=st.logout, key="sign_out_refused")
            st.stop()
        return who
    problem = local_mode_problem(st.get_option("server.address"), os.environ.get(ALLOW_NETWORK_ENV))
    if problem:
        st.error(problem)
        st.stop()
    try:
        return current_user(cfg)
    except NotAllowed as e:
        st.error(safety.md(str(e)))
        st.stop()


def _computed(eng) -> pd.DataFrame | None:
    """KPI values computed from the forecast data (source = "forecast"), if that module is present."""
    return kpi_series.computed_values(eng, get_config())


def _merge(stored: pd.DataFrame, computed: pd.DataFrame | None) -> pd.DataFrame:
    return kpi_series.merge_computed(stored, computed)


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


def seed(key: str, options: list, default) -> None:
    """Give a widget its value before it is drawn: the session's, else the link's (?key=value), else default."""
    if st.session_state.get(key) in options:
        return
    from_url = st.query_params.get(key)
    match = next((o for o in options if str(o) == from_url), None) if from_url is not None else None
    st.session_state[key] = match if match is not None else default


def empty_state(what: str = "KPI data") -> None:
    """Tell the user what to do when there is nothing to show, then stop."""
    st.info(
        f"No {what} yet. Upload a file on the **Data** page, run `python -m kpis import actuals FILE`, "
        "or load the demo company with `python -m kpis demo`.",
        icon=":material/info:",
    )
    st.page_link(PAGE_DATA, label="Go to the Data page", icon=":material/upload:")
    st.stop()


def status_badge(status: str) -> None:
    st.badge(catalog.STATUS_LABELS[status], icon=STATUS_ICON[status], color=STATUS_BADGE[status])


OPEN_TREND = "_open_trend"


def go(page: str) -> None:
    """Switch to another page. The query parameters of this page's URL-bound widgets stay behind: a plain
    st.switch_page would try to clear them and fail ("bound to widgets")."""
    st.switch_page(page, query_params={})


def open_trend(kpi_id: str, segment: str = "") -> None:
    """Remember a KPI for the trends page and go there (handed over outside the widget keys, which are bound to
    the URL and belong to the trends page)."""
    st.session_state[OPEN_TREND] = (kpi_id, segment)
    go(PAGE_TRENDS)


def take_opened_trend() -> None:
    """On the trends page: apply a KPI handed over by open_trend to its widgets (before they are drawn)."""
    handed = st.session_state.pop(OPEN_TREND, None)
    if handed:
        st.session_state[TREND_KPI], st.session_state[TREND_SEGMENT] = handed
        st.session_state.pop("trend_cadence", None)


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


def forecast_filters(cube, prefix: str, *, default_window: str = "last12", all_lags: bool = True) -> dict:
    """Window, lag, stage and attribute filters for the forecast pages; returns the view arguments.

    all_lags=False leaves "All lags" out (a view defined per snapshot lag, like the tracking signal)."""
    from kpis import forecast
    from kpis.forecast import sections, windows

    labels = shared(sections.period_labels, cube)
    c0, c1, c2, c3 = st.columns([1.3, 1.6, 1, 1.2])
    keys = list(windows.WINDOWS)
    wkey = c0.selectbox(
        "Window",
        keys,
        index=keys.index(default_window),
        key=f"{prefix}_window",
        bind="query-params",
        format_func=windows.WINDOWS.get,
        help="Periods counted, ending at the newest period with data",
    )
    custom = None
    if wkey == "custom":
        custom = c1.select_slider(
            "Periods", options=labels, value=(labels[0], labels[-1]), key=f"{prefix}_periods", bind="query-params"
        )
    win = shared(sections.window, cube, wkey, None if custom is None else tuple(custom))
    if wkey != "custom":
        st.session_state[f"{prefix}_window_text"] = win.text  # a keyed box keeps its first value otherwise
        c1.text_input("Periods", disabled=True, key=f"{prefix}_window_text")
    lag_options = [None, *cube.lags] if all_lags else list(cube.lags)
    default_lag = cube.headline_lag if cube.headline_lag in cube.lags else lag_options[0]
    if st.session_state.get(f"{prefix}_lag", default_lag) not in lag_options:
        st.session_state[f"{prefix}_lag"] = default_lag
    lag = c2.selectbox(
        "Lag",
        lag_options,
        index=lag_options.index(default_lag),
        key=f"{prefix}_lag",
        bind="query-params",
        format_func=lambda k: "All lags" if k is None else f"Lag {k}",
        help="Periods between the forecast snapshot and the target period",
    )
    final = forecast.final_stage(cube)
    stage = c3.selectbox(
        "Stage",
        cube.stages,
        index=cube.stages.index(final),
        key=f"{prefix}_stage",
        bind="query-params",
        format_func=lambda s: s.capitalize() + (" (derived)" if s in cube.derived else ""),
    )
    filters: dict[str, list[str]] = {}
    attrs = [a for a in cube.attributes if a not in ("abc", "xyz")]
    with st.expander("Filter items by attribute", expanded=False):
        cols = st.columns(max(len(attrs) + 2, 1))
        for col, a in zip(cols, [*attrs, "abc", "xyz"]):
            chosen = col.multiselect(
                a.upper() if a in ("abc", "xyz") else safety.md(a.capitalize()),
                cube.attributes[a],
                key=f"{prefix}_attr_{a}",
                bind="query-params",
                placeholder="All",
            )
            if chosen:
                filters[a] = chosen
    return {
        "period_from": win.start,
        "period_to": win.end,
        "window": win,
        "lag": lag,
        "stage": stage,
        "filters": filters or None,
        "labels": (win.first_label, win.last_label),
    }


def csv_button(df: pd.DataFrame, name: str, key: str, view: dict | None = None) -> None:
    """A CSV download of a table (fractions stay fractions, no float noise, cells that a spreadsheet would run as
    formulas neutralised); with `view` (the forecast_filters result) the window, stage, lag and filters become
    leading columns and part of the file name."""
    from kpis.forecast import windows

    if view is not None and "window" in view:
        stage = view.get("stage") if "stage" not in df.columns else None
        lag = view.get("lag", "") if "lag" not in df.columns else ""
        window, filters = view["window"], view.get("filters")
        name = windows.file_name(name, window=window, stage=stage, lag=lag, filters=filters)

        def data() -> bytes:
            return windows.csv_bytes(windows.with_filters(df, window=window, stage=stage, lag=lag, filters=filters))
    else:
        name = f"{name}.csv"

        def data() -> bytes:
            return windows.csv_bytes(df)

    # The file is made when the button is clicked (a callable), not on every run of the page, and the click
    # does not rerun the page.
    st.download_button(
        "Download CSV",
        data,
        file_name=name,
        on_click="ignore",
        mime="text/csv",
        key=key,
        icon=":material/download:",
        type="tertiary",
    )


def view_key(base: str, *shown) -> str:
    """A key for a selectable table that changes with what the table shows (filters, group, page): a row picked
    in one list must not stay picked, by its position, in another list after a filter change."""
    import hashlib

    return f"{base}_{hashlib.sha256(repr(shown).encode()).hexdigest()[:12]}"


def percent_column(label: str, **kw):
    """A table column of percentages with one decimal (20.4 %), as the app writes them everywhere; the table holds
    them already rounded (kpis.forecast.views.shown), so the browser neither cuts nor re-rounds them."""
    return st.column_config.NumberColumn(label, format="%.1f %%", **kw)


METRIC_FORMAT = {
    "n": st.column_config.NumberColumn("n", format="%,.0f", help="Item-periods with both actual and forecast"),
    "error_share": percent_column("Share of error", help="The item's Σ|F−A| as a share of the group's"),
    "left_out": st.column_config.NumberColumn(
        "Left out", format="%d", help="The stage's rows outside the matched sample"
    ),
    "actual": st.column_config.NumberColumn("Actual", format="%,.0f"),
    "forecast": st.column_config.NumberColumn("Forecast", format="%,.0f"),
    "mae": st.column_config.NumberColumn("MAE", format="%,.1f"),
    "rmse": st.column_config.NumberColumn("RMSE", format="%,.1f"),
    "wape": percent_column("WAPE"),
    "accuracy": percent_column("Accuracy"),
    "mape": percent_column("MAPE"),
    "mape_excluded": st.column_config.NumberColumn("Rows with A=0", format="%d", help="Left out of MAPE"),
    "bias": percent_column("Bias", help="Σ(F−A)/ΣA; + over-forecast"),
    "mase": st.column_config.NumberColumn("MASE", format="%.2f"),
}


def download_buttons(df: pd.DataFrame, name: str, key: str) -> None:
    """CSV and Excel downloads of a table, spreadsheet formulas neutralised (kpis.export)."""
    from kpis import export

    c1, c2, _ = st.columns([1, 1, 4])
    # Files are made when a button is clicked, not on every run of the page.
    c1.download_button(
        "CSV",
        lambda: export.csv_bytes(df),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        icon=":material/download:",
        type="tertiary",
        on_click="ignore",
    )
    c2.download_button(
        "Excel",
        lambda: export.excel_bytes(df, name),
        file_name=f"{name}.xlsx",
        key=f"{key}_xlsx",
        on_click="ignore",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:",
        type="tertiary",
    )


@st.cache_data(show_spinner=False, max_entries=8)
def _assessment_scores(url: str, data_version: int) -> pd.DataFrame:
    from kpis.maturity import assessments

    return assessments.load_scores(_engine(url))


def assessment_scores() -> pd.DataFrame:
    """Every maturity answer (kpis.maturity.assessments.load_scores), cached until the data changes."""
    return _assessment_scores(config().database_url(), version())


def plain(text: object) -> str:
    """User text made safe for st.markdown/captions: every markdown punctuation character escaped, so no
    links, images, emphasis or HTML."""
    return safety.md(text).replace("  \n", " ")


@st.cache_data(show_spinner=False, max_entries=4)
def _sponsorship_inputs(url: str, data_version: int):
    from kpis.sponsorship import scorecard

    return scorecard.load_inputs(_engine(url), get_config())


def sponsorship_inputs():
    """The scorecard's inputs for the current data version."""
    cfg = config()
    return _sponsorship_inputs(cfg.database_url(), version())


def page_exists(path: str) -> bool:
    """True when a page file is part of this installation (links to pages other work adds)."""
    from pathlib import Path

    return (Path(__file__).resolve().parent.parent / path).is_file()
