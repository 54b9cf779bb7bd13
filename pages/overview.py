"""Overview: every KPI against its target, for managers."""

import datetime as dt

import pandas as pd
import streamlit as st

from kpis import catalog, commentary, formatting, safety
from kpis.catalog import freshness, overview, units
from kpis.config import PRACTICES
from pages import _ui

cfg = _ui.config()
_ui.engine()
st.title("S&OP KPI overview")
months = _ui.as_of_choices()
if not months:
    _ui.empty_state()

owners = sorted({k.owner for k in cfg.kpis})
c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1, 0.8])
functions = c1.multiselect(
    "Function",
    list(catalog.FUNCTION_LABELS),
    format_func=catalog.FUNCTION_LABELS.get,
    key="ov_functions",
    placeholder="All functions",
)
practices = c2.multiselect(
    "Practice", list(PRACTICES), format_func=PRACTICES.get, key="ov_practices", placeholder="All practices"
)
owner = c3.multiselect("Owner", owners, key="ov_owners", placeholder="All owners")
order = c4.selectbox("Order", ["Worst status first", "Catalog order"], key="ov_order")
as_of = c5.selectbox(
    "As of",
    months,
    key="ov_as_of",
    format_func=formatting.month,
    help="See every KPI as it stood at the end of a month",
)

kpis = overview.filter_catalog(cfg, functions=functions, practices=practices, owners=owner)
if not kpis:
    st.warning("No KPI matches these filters.")
    st.stop()
tiles = _ui.overview_tiles(kpis, as_of)
counts = overview.status_counts(tiles)
newest = tiles["period"].max()
late_day = freshness.reference_day(as_of, months, freshness.today())
late = _ui.late_data(late_day, [k.id for k in kpis])
late_marks = freshness.tile_marks(late, late_day)

m = st.columns(5)
for col, s in zip(m, catalog.STATUSES):
    col.metric(
        f"{catalog.STATUS_LABELS[s]}",
        counts[s],
        border=True,
        help=f"KPIs whose latest value is {catalog.STATUS_LABELS[s].lower()} "
        "(rules: docs/methodology.md, KPI status against targets)",
    )
if overview.late_count(tiles):  # counted apart, not by the status of their last value
    m[4].metric(
        "Not reported yet",
        overview.late_count(tiles),
        border=True,
        help="KPIs with no value yet for the month seen; their tiles show the last value, marked as such",
    )
latest = f"latest data {formatting.month(newest)}" if pd.notna(newest) else "no data yet for these KPIs"
st.caption(
    f"{len(tiles)} KPIs · {latest} · status of each KPI's latest period against its target "
    "(green on target, amber inside the tolerance, red beyond)."
)
if late_marks:
    st.page_link(
        _ui.PAGE_DATA,
        icon=":material/schedule:",
        label=f"{len(late_marks)} KPI{'s' if len(late_marks) != 1 else ''} with data overdue on "
        f"{freshness.day_text(late_day, dt.date.min)}",
    )

# Improvement loop: done actions waiting for a manager's verdict.
from kpis.improvement import actions as improvement_actions

awaiting = improvement_actions.awaiting_verification(_ui.engine())
if awaiting:
    st.page_link(
        "pages/actions.py",
        icon=":material/fact_check:",
        label=f"{awaiting} done improvement action{'s' if awaiting != 1 else ''} await verification",
    )

tiles = overview.order_tiles(tiles, "worst" if order == "Worst status first" else "catalog")
said = commentary.tile_comments(_ui.engine(), tiles)  # the owner's comment on each tile's period

per_row = 4
for start in range(0, len(tiles), per_row):
    cols = st.columns(per_row)
    for col, (_, t) in zip(cols, tiles.iloc[start : start + per_row].iterrows()):
        kpi = cfg.kpi_by_id[t["kpi_id"]]
        scale = catalog.display_scale(kpi)
        with col.container(border=True, height=570 if said else 450):  # room for a comment's first words
            if t["late"]:
                st.badge("Not reported yet", icon=":material/schedule:", color="gray")
            else:
                _ui.status_badge(t["status"])
            change = catalog.format_change(kpi, t["change"], cfg.app.currency) or None
            st.metric(
                kpi.name,
                catalog.format_value(kpi, t["value"], cfg.app.currency),
                delta=change,
                delta_color=t["spark_colour"],  # what the line shows over the drawn periods, not the last change
                delta_arrow="auto" if change and units.has_direction(change) else "off",
                chart_data=[v * scale for v in t["spark"]] or None,
                chart_type="line",
                help=f"{kpi.description} Change vs the previous period; line = last {overview.SPARK_POINTS} periods, "
                "green when it ends better than it starts, red when worse.",
            )
            stale = " · :orange[not updated recently]" if t["stale"] else ""
            if kpi.id in late_marks:  # late data says more than "not updated recently"
                stale = f" · :red[{safety.md(late_marks[kpi.id])}]"
            st.caption(
                f"Target {catalog.target_text(kpi, t['target'], cfg.app.currency)} · {overview.period_text(t)}"
                f" · {kpi.owner}{stale}"
            )
            st.caption(overview.comparison_text(kpi, t, cfg.app.currency))
            if st.button("Trend", key=f"open_{kpi.id}", icon=":material/show_chart:", type="tertiary"):
                _ui.open_trend(kpi.id)
            if (c := said.get(kpi.id)) is not None:
                st.caption(
                    f":material/chat: {safety.md(commentary.short(c['text'], 70))} — {safety.md(c['author'])}",
                    help=safety.md(c["text"]),
                )
