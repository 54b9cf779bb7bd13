"""Shared page plumbing, one module per concern; layout helpers only, computations live in kpis/.

* nav: page files, keys handed between pages, switching pages, leaving Streamlit's folder mode;
* settings: the validated config; database: the engine, schema check, data version, "database down";
* signin: who is using the app; caches: loaders cached on the data version, the forecast cube and sections;
* forecast_filters: the forecast pages' filter widgets; downloads: CSV/Excel buttons;
* widgets: badges, seeded widgets, the empty state, table keys and formats; edits: saving against edit conflicts.

Pages use the names below as `_ui.name` (`from pages import _ui`).
"""

from pages._ui.caches import (
    as_of_choices,
    assessment_scores,
    detail,
    forecast_cube,
    kpi_detail,
    kpi_totals,
    late_data,
    overview_tiles,
    shared,
    sponsorship_inputs,
    totals,
)
from pages._ui.database import DATABASE_ERRORS, SYSTEM, database_down, engine, engine_for, version
from pages._ui.downloads import csv_button, download_buttons
from pages._ui.forecast_filters import forecast_filters
from pages._ui.nav import (
    OPEN_TREND,
    PAGE_ACTIONS,
    PAGE_ASSESS,
    PAGE_AUDIT,
    PAGE_CATALOG,
    PAGE_DATA,
    PAGE_MATURITY,
    PAGE_MEETINGS,
    PAGE_OVERVIEW,
    PAGE_SCORECARD,
    PAGE_TRENDS,
    REGISTER_OWNER,
    TREND_KPI,
    TREND_SEGMENT,
    alias_page,
    go,
    leave_folder_mode,
    open_trend,
    page_exists,
    take_opened_trend,
)
from pages._ui.settings import config
from pages._ui.signin import auth_configured, user
from pages._ui.widgets import (
    METRIC_FORMAT,
    STATUS_BADGE,
    STATUS_ICON,
    empty_state,
    percent_column,
    plain,
    seed,
    status_badge,
    view_key,
)

__all__ = [
    "DATABASE_ERRORS",
    "METRIC_FORMAT",
    "OPEN_TREND",
    "PAGE_ACTIONS",
    "PAGE_ASSESS",
    "PAGE_AUDIT",
    "PAGE_CATALOG",
    "PAGE_DATA",
    "PAGE_MATURITY",
    "PAGE_MEETINGS",
    "PAGE_OVERVIEW",
    "PAGE_SCORECARD",
    "PAGE_TRENDS",
    "REGISTER_OWNER",
    "STATUS_BADGE",
    "STATUS_ICON",
    "SYSTEM",
    "TREND_KPI",
    "TREND_SEGMENT",
    "alias_page",
    "as_of_choices",
    "assessment_scores",
    "auth_configured",
    "config",
    "csv_button",
    "database_down",
    "detail",
    "download_buttons",
    "empty_state",
    "engine",
    "engine_for",
    "forecast_cube",
    "forecast_filters",
    "go",
    "kpi_detail",
    "kpi_totals",
    "late_data",
    "leave_folder_mode",
    "open_trend",
    "overview_tiles",
    "page_exists",
    "percent_column",
    "plain",
    "seed",
    "shared",
    "sponsorship_inputs",
    "status_badge",
    "take_opened_trend",
    "totals",
    "user",
    "version",
    "view_key",
]
