"""Alias of the KPI trends page's url path (/kpi-trends) for a fresh server's first session
(see pages._ui.nav.leave_folder_mode); it only hands over to the real page and shows nothing itself.

Still needed: that first session runs in Streamlit's folder mode, which knows a url path only as a file name in
pages/, not yet the url_path given to st.navigation; without this file a link to /kpi-trends opened on a fresh
server shows "Page not found" (tests/pages/test_browser.py::test_deep_link_on_a_fresh_server_shows_no_page_not_found).
"""

from pages import _ui

_ui.alias_page()
