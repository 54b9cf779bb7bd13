"""KPI catalog: the definitions from config.toml as a searchable table."""

import pandas as pd
import streamlit as st

from kpis import catalog
from kpis.catalog import overview
from kpis.config import PRACTICES
from pages import _ui

cfg = _ui.config()
st.title("KPI catalog")
st.caption(
    "Definitions come from `config.toml`; edit the file and reload to change them "
    "(`python -m kpis check-config` validates it). Target changes are recorded in the audit log."
)

c1, c2, c3 = st.columns([2, 1, 1])
search = c1.text_input("Search", key="cat_search", placeholder="Name, description, owner or id")
functions = c2.multiselect(
    "Function",
    list(catalog.FUNCTION_LABELS),
    format_func=catalog.FUNCTION_LABELS.get,
    key="cat_functions",
    placeholder="All",
)
practices = c3.multiselect(
    "Practice", list(PRACTICES), format_func=PRACTICES.get, key="cat_practices", placeholder="All"
)
kpis = overview.filter_catalog(cfg, functions=functions, practices=practices, search=search)
rows = overview.catalog_table(kpis, cfg.app.currency)
st.caption(f"{len(rows)} of {len(cfg.kpis)} KPIs")
if len(rows):
    st.dataframe(rows, hide_index=True, width="stretch", key="catalog_table", height=min(38 + 35 * len(rows), 800))
else:
    st.info("No KPI matches the search.")
with st.expander("Integration practices"):
    st.dataframe(
        pd.DataFrame(
            {"Practice": list(PRACTICES.values()), "KPIs": [sum(p in k.practices for k in cfg.kpis) for p in PRACTICES]}
        ),
        hide_index=True,
        width="stretch",
    )
