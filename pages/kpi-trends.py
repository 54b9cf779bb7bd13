"""Alias of the KPI trends page's url path for a fresh server's first session (see pages._ui.leave_folder_mode);
it only hands over to the real page and shows nothing itself."""

from pages import _ui

_ui.alias_page()
