"""S&OP Pulse: page config, who is signed in, navigation by audience."""

import streamlit as st

from pages import _ui

st.set_page_config(page_title="S&OP Pulse", page_icon=":material/monitoring:", layout="wide")

_ui.leave_folder_mode(rerun=False)   # a fresh server's first session: use st.navigation from here on
cfg = _ui.config()
user = _ui.user()

pages = {
    "Managers": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/kpi_trends.py", title="KPI trends", icon=":material/show_chart:", url_path="kpi-trends"),
    ],
    "Demand planning": [
        st.Page("pages/forecast_accuracy.py", title="Forecast accuracy", icon=":material/target:",
                url_path="forecast-accuracy"),
        st.Page("pages/exceptions.py", title="Exceptions", icon=":material/priority_high:", url_path="exceptions"),
    ],
    "Data": [
        st.Page("pages/data.py", title="Data", icon=":material/upload_file:", url_path="data"),
        st.Page("pages/catalog.py", title="KPI catalog", icon=":material/menu_book:", url_path="catalog"),
    ],
}
nav = st.navigation(pages)
with st.sidebar:
    st.caption(f"**{cfg.app.company}** · signed in as {user.name} ({user.role})")
nav.run()
