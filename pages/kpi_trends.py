"""KPI trends: one KPI's series against its target, with XmR limits, signals and the trend in words."""

import datetime as dt

import pandas as pd
import streamlit as st

from kpis import catalog, charts, periods
from kpis.catalog import trends
from pages import _ui

cfg = _ui.config()
_ui.engine()
st.title("KPI trends")
if _ui.totals().empty:
    _ui.empty_state()

ids = [k.id for k in cfg.kpis]
if st.session_state.get(_ui.TREND_KPI) not in ids:
    st.session_state[_ui.TREND_KPI] = ids[0]
c1, c2, c3, c4 = st.columns([2.2, 1.2, 1, 1.4])
kpi_id = c1.selectbox("KPI", ids, key=_ui.TREND_KPI, format_func=lambda i: cfg.kpi_by_id[i].name)
kpi = cfg.kpi_by_id[kpi_id]
mine = _ui.detail(kpi_id)
segs = sorted(mine["segment"].unique(), key=lambda s: (s != "", s))
if "" not in segs:
    segs = ["", *segs]
if st.session_state.get(_ui.TREND_SEGMENT) not in segs:
    st.session_state[_ui.TREND_SEGMENT] = ""
segment = c2.selectbox("Segment", segs, key=_ui.TREND_SEGMENT, format_func=lambda s: s or "Total")
cadence = c3.selectbox("View by", trends.rollup_choices(kpi), key="trend_cadence", format_func=str.capitalize)
baseline = c4.selectbox("Control-limit baseline", ["all", "first12", "until"], key="trend_baseline",
                        format_func={"all": "All points", "first12": "First 12 points",
                                     "until": "Points before a date"}.get)
until = None
if baseline == "until":
    until = st.date_input("Baseline ends before", value=dt.date.today().replace(day=1) - dt.timedelta(days=365),
                          key="trend_until")

series = mine[mine["segment"] == segment]
view = trends.trend_view(series, kpi, cadence=cadence, baseline=baseline, baseline_until=until,
                         currency=cfg.app.currency)
st.caption(f"{catalog.FUNCTION_LABELS[kpi.function]} · owner {kpi.owner} · {catalog.DIRECTION_LABELS[kpi.direction].lower()}"
           f" · {kpi.cadence}ly, rolled up by {kpi.rollup} · {kpi.description}")

if view.table.empty:
    st.info(f"No values for {kpi.name}{' in ' + segment if segment else ''} yet. Load them on the Data page.")
    st.page_link(_ui.PAGE_DATA, label="Go to the Data page", icon=":material/upload:")
    st.stop()

last = view.table.iloc[-1]
prev = view.table.iloc[-2] if len(view.table) > 1 else None
m1, m2, m3, m4 = st.columns(4)
m1.metric(f"Latest ({last['label']})", catalog.format_value(kpi, last["value"], cfg.app.currency),
          delta=catalog.format_change(kpi, last["value"] - prev["value"], cfg.app.currency) if prev is not None else None,
          delta_color={"higher": "normal", "lower": "inverse", "band": "off"}[kpi.direction], border=True)
m2.metric("Target", catalog.target_text(kpi, last["target"], cfg.app.currency), border=True)
with m3.container(border=True):
    st.caption("Status")
    _ui.status_badge(last["status"])
    st.caption(f"On target in {view.on_target_share:.0%} of {len(view.table)} periods")
with m4.container(border=True):
    st.caption("Trend")
    st.markdown(f"**{view.trend_headline}**")
    st.caption(view.trend_evidence)

title = f"{kpi.name}{' — ' + segment if segment else ''}"
fig = charts.trend_figure(view, cfg.app.currency, title=title)
# Improvement loop: completed actions and reviews on the timeline; open one, or create an action on this KPI.
from kpis.improvement import charts as improvement_charts
from kpis.improvement import prefill
from kpis.improvement import views as improvement_views

marks = improvement_views.timeline_marks(_ui.engine(), kpi_id, segment)
marks = marks[pd.to_datetime(marks["date"]) >= view.table["period"].min() - pd.Timedelta(days=31)]
improvement_charts.add_marks(fig, marks, y=float(view.table["value"].max() * catalog.display_scale(kpi)))
st.plotly_chart(fig, key="trend_chart", width="stretch")
a1, a2, a3 = st.columns([1, 2.2, 0.8])
if _ui.user().can("manage_actions") and a1.button("Create action", key="trend_create_action", icon=":material/add_task:"):
    st.session_state[prefill.SESSION_KEY] = prefill.from_kpi(
        kpi, segment, status=catalog.STATUS_LABELS[last["status"]].lower(), period_label=last["label"])
    st.switch_page(prefill.PAGE_ACTIONS)
if len(marks):
    labels = dict(zip(marks["kind"] + ":" + marks["id"].astype(str), marks["label"]))
    mark = a2.selectbox("Marked on the chart", list(labels), key="trend_mark", format_func=labels.get,
                        label_visibility="collapsed")
    if a3.button("Open", key="trend_open_mark", icon=":material/open_in_new:"):
        kind, _, mid = mark.partition(":")
        st.session_state[prefill.OPEN_ACTION if kind == "action" else prefill.OPEN_REVIEW] = int(mid)
        st.switch_page(prefill.PAGE_ACTIONS if kind == "action" else prefill.PAGE_REVIEWS)

trend_line = f"**Trend:** {view.trend_text} (Theil–Sen slope, Kendall's τ test)."
if view.limits is None:
    limits_line = "Control limits need at least 6 points in the baseline."
else:
    lim = view.limits
    limits_line = (f"**Control limits** from {view.baseline_label} ({lim.n_baseline} points"
                   f"{', provisional' if lim.provisional else ''}): centre "
                   f"{catalog.format_value(kpi, lim.centre, cfg.app.currency)}, limits "
                   f"{catalog.format_value(kpi, lim.lcl, cfg.app.currency)} – {catalog.format_value(kpi, lim.ucl, cfg.app.currency)}.")
st.markdown(trend_line + "  \n" + limits_line)
sig = trends.signal_summary(view)
if sig:
    st.markdown("**Signals** (a real change, not noise):\n" + "\n".join(f"- {s}" for s in sig))
else:
    st.markdown("**Signals:** none — the variation is consistent with routine noise.")

table = trends.export_table(view, cfg.app.currency)
scale = catalog.display_scale(kpi)
shown = table.copy()
for col in ("value", "target", "centre", "lower_limit", "upper_limit"):
    shown[col] = shown[col] * scale
unit = catalog.unit_label(kpi, cfg.app.currency)
fmt = "%.1f" if kpi.unit in ("%", "days", "turns", "score") else "%,.0f"
with st.expander(f"Values ({len(shown)} periods)", expanded=False):
    st.dataframe(
        shown, hide_index=True, width="stretch", key="trend_table",
        column_config={
            "period": "Period",
            "value": st.column_config.NumberColumn(f"Value ({unit})", format=fmt),
            "target": st.column_config.NumberColumn(f"Target ({unit})", format=fmt),
            "status": "Status",
            "centre": st.column_config.NumberColumn("Centre", format=fmt),
            "lower_limit": st.column_config.NumberColumn("Lower limit", format=fmt),
            "upper_limit": st.column_config.NumberColumn("Upper limit", format=fmt),
            "signal": "Signal",
        })
st.download_button("Download CSV", table.to_csv(index=False).encode("utf-8"), icon=":material/download:",
                   file_name=f"{kpi.id}{'_' + segment if segment else ''}_{cadence}.csv", mime="text/csv",
                   key="trend_download")
_ = periods
