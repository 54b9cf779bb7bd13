"""Navigation: the page files, session-state keys that pages hand to each other, switching pages, and leaving
Streamlit's old folder-based page mode for st.navigation."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

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

# Session-state keys shared between pages.
TREND_KPI = "trend_kpi"
TREND_SEGMENT = "trend_segment"
OPEN_TREND = "_open_trend"

ROOT = Path(__file__).resolve().parent.parent.parent  # the folder of app.py


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


def page_exists(path: str) -> bool:
    """True when a page file is part of this installation (links to pages other work adds)."""
    return (ROOT / path).is_file()
