"""KPI catalog: the definitions from config.toml as a searchable table."""

import pandas as pd
import streamlit as st

from kpis import catalog, overview
from kpis.config import PRACTICES
from pages import _ui

cfg = _ui.config()
st.title("KPI catalog")
st.caption("Definitions come from `config.toml`; edit the file and reload to change them "
           "(`python -m kpis check-config` validates it). Target changes are recorded in the audit log.")

c1, c2, c3 = st.columns([2, 1, 1])
search = c1.text_input("Search", key="cat_search", placeholder="Name, description, owner or id")
functions = c2.multiselect("Function", list(catalog.FUNCTION_LABELS), format_func=catalog.FUNCTION_LABELS.get,
                           key="cat_functions", placeholder="All")
practices = c3.multiselect("Practice", list(PRACTICES), format_func=PRACTICES.get, key="cat_practices",
                           placeholder="All")
kpis = overview.filter_catalog(cfg, functions=functions, practices=practices, search=search)
today = pd.Timestamp.today().normalize()
rows = []
for k in kpis:
    target = catalog.targets_at(k, [today])[0]
    steps = k.target_steps()
    rows.append({
        "KPI": k.name, "Function": catalog.FUNCTION_LABELS[k.function], "Owner": k.owner,
        "Unit": catalog.unit_label(k, cfg.app.currency), "Direction": catalog.DIRECTION_LABELS[k.direction],
        "Target now": catalog.target_text(k, target, cfg.app.currency),
        "Target changes": len(steps) - 1,
        "Amber when worse by": catalog.format_change(k, k.amber, cfg.app.currency).lstrip("+") or "0",
        "Red when worse by": catalog.format_change(k, k.red, cfg.app.currency).lstrip("+"),
        "Cadence": k.cadence.capitalize(), "Roll-up": k.rollup, "Source": "forecast data" if k.source == "forecast" else "imported",
        "Practices": ", ".join(PRACTICES[p].split(" and ")[0] for p in k.practices),
        "Description": k.description, "Import id": k.id,
    })
st.caption(f"{len(rows)} of {len(cfg.kpis)} KPIs")
if rows:
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="catalog_table", height=min(38 + 35 * len(rows), 800))
else:
    st.info("No KPI matches the search.")
with st.expander("Practices (DOMAIN §1)"):
    st.dataframe(pd.DataFrame({"Practice": list(PRACTICES.values()),
                               "KPIs": [sum(p in k.practices for k in cfg.kpis) for p in PRACTICES]}),
                 hide_index=True, width="stretch")
