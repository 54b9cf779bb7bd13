"""Small display helpers shared by pages: status badges, seeded widgets, the empty state, table keys and
column formats, and user text made safe for markdown."""

from __future__ import annotations

import hashlib

import streamlit as st

from kpis import catalog, safety
from pages._ui.nav import PAGE_DATA

STATUS_BADGE = {"green": "green", "amber": "orange", "red": "red", "none": "gray"}
STATUS_ICON = {
    "green": ":material/check_circle:",
    "amber": ":material/warning:",
    "red": ":material/error:",
    "none": ":material/help:",
}


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


def view_key(base: str, *shown) -> str:
    """A key for a selectable table that changes with what the table shows (filters, group, page): a row picked
    in one list must not stay picked, by its position, in another list after a filter change."""
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


def plain(text: object) -> str:
    """User text made safe for st.markdown/captions: every markdown punctuation character escaped, so no
    links, images, emphasis or HTML."""
    return safety.md(text).replace("  \n", " ")
