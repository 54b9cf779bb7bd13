"""S&OP Pulse: page config, who is signed in, navigation by audience."""

import streamlit as st

from pages import _ui

st.set_page_config(page_title="S&OP Pulse", page_icon=":material/monitoring:", layout="wide")

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
    "Teams": [
        st.Page("pages/reviews.py", title="Reviews", icon=":material/rate_review:", url_path="reviews"),
        st.Page("pages/actions.py", title="Actions", icon=":material/task_alt:", url_path="actions"),
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
