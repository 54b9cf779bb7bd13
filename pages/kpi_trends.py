"""KPI trends: one KPI's series against its target, with XmR limits, signals and the trend in words."""

import datetime as dt

import pandas as pd
import streamlit as st

from kpis import catalog, commentary, export, periods, safety, shortlist
from kpis.catalog import charts, trends, units
from pages import _ui
from pages._ui import comments as comment_ui

cfg = _ui.config()
_ui.engine()
st.title("KPI trends")
if _ui.totals().empty:
    _ui.empty_state()

ids = [k.id for k in cfg.kpis]
_ui.take_opened_trend()
_ui.seed(_ui.TREND_KPI, ids, ids[0])
c1, c2, c3, c4 = st.columns([2.2, 1.2, 1, 1.4])


def _kpi_changed() -> None:
    """Another KPI: View by returns to that KPI's own cadence."""
    st.session_state["trend_cadence"] = cfg.kpi_by_id[st.session_state[_ui.TREND_KPI]].cadence


def _segment_label(s: str) -> str:
    return s or "Total"


kpi_id = c1.selectbox(
    "KPI",
    ids,
    key=_ui.TREND_KPI,
    bind="query-params",
    format_func=lambda i: cfg.kpi_by_id[i].name,
    on_change=_kpi_changed,
)
kpi = cfg.kpi_by_id[kpi_id]
mine = _ui.detail(kpi_id)
segs = sorted(mine["segment"].unique(), key=lambda s: (s != "", s))
if "" not in segs:
    segs = ["", *segs]
_ui.seed(_ui.TREND_SEGMENT, segs, "")
if len(segs) > shortlist.MAX_OPTIONS:  # thousands of segments: search them, list at most MAX_OPTIONS
    find = c2.text_input(
        "Find a segment",
        key="trend_segment_find",
        placeholder=f"Search {len(segs) - 1:,} segments",
        help=f"Lists at most {shortlist.MAX_OPTIONS} segments whose name contains the text",
    )
    short = shortlist.shortlist(segs, find, keep=["", st.session_state[_ui.TREND_SEGMENT]], label=_segment_label)
    segs = short.options
    if short.cut:
        c2.caption(f"{short.listed} of {short.matched:,} matching segments listed: type more to narrow")
segment = c2.selectbox("Segment", segs, key=_ui.TREND_SEGMENT, bind="query-params", format_func=_segment_label)
choices = trends.rollup_choices(kpi)
_ui.seed("trend_cadence", choices, kpi.cadence)
cadence = c3.selectbox("View by", choices, key="trend_cadence", bind="query-params", format_func=str.capitalize)
baseline = c4.selectbox(
    "Control-limit baseline",
    ["all", "first12", "until"],
    key="trend_baseline",
    bind="query-params",
    format_func={"all": "All points", "first12": "First 12 points", "until": "Points before a period"}.get,
)
until, splits, bad = None, [], []
o1, o2, o3 = st.columns([1.4, 2.2, 1.4]) if baseline == "until" else (None, *st.columns([3.6, 1.4]))
series = mine[mine["segment"] == segment]
if baseline == "until":
    if "trend_until" not in st.session_state and len(series):
        st.session_state["trend_until"] = periods.label(
            periods.shift(series["period"].max().date(), -12, kpi.cadence), kpi.cadence
        )
    text = o1.text_input(
        "Baseline ends before",
        key="trend_until",
        bind="query-params",
        placeholder="e.g. " + periods.label(dt.date(2025, 7, 1), kpi.cadence),
        help="A period (2025-07, 2025-Q3, 2025-W27) or a date; applies on Enter",
    )
    if text.strip():
        try:
            until = periods.parse_from(text, kpi.cadence)
        except periods.PeriodError as e:
            bad.append(str(e))
split_text = o2.text_input(
    "Split the limits at",
    key="trend_splits",
    bind="query-params",
    placeholder="e.g. " + ", ".join(periods.label(d, kpi.cadence) for d in (dt.date(2025, 6, 2), dt.date(2026, 1, 5))),
    help="Periods where the process changed (an action completed): each phase gets its own "
    "centre and limits, and signals are judged within their phase. Applies on Enter.",
)
for part in [p.strip() for p in split_text.split(",") if p.strip()]:
    try:
        splits.append(periods.parse_from(part, kpi.cadence))
    except periods.PeriodError as e:
        bad.append(str(e))
include_partial = o3.toggle(
    "Include partial periods",
    key="trend_partial",
    bind="query-params",
    value=False,
    help="A period missing some of its weeks or months, or a total missing one of its segments, is left out of the "
    "latest value, change, status, limits, signals and trend unless included here.",
    disabled=cadence == kpi.cadence and not ("partial" in series and series["partial"].any()),
)
for b in bad:
    st.warning(safety.md(b), icon=":material/warning:")

view = trends.trend_view(
    series,
    kpi,
    cadence=cadence,
    baseline=baseline,
    baseline_until=until,
    currency=cfg.app.currency,
    include_partial=include_partial,
    splits=splits,
)
st.caption(
    f"{catalog.FUNCTION_LABELS[kpi.function]} · owner {kpi.owner} · {catalog.DIRECTION_LABELS[kpi.direction].lower()}"
    f" · {kpi.cadence}ly, rolled up by {kpi.rollup} · {kpi.description}"
)

if view.table.empty:
    st.info(
        f"No values for {kpi.name}{' in ' + safety.md(segment) if segment else ''} yet. Load them on the Data page."
    )
    st.page_link(_ui.PAGE_DATA, label="Go to the Data page", icon=":material/upload:")
    st.stop()

last, prev = view.latest, view.previous
if last is None:
    st.info(f"Every {cadence} shown is partial. Choose a finer View by, or include partial periods.")
    st.stop()
m1, m2, m3, m4 = st.columns(4)
change = catalog.format_change(kpi, last["value"] - prev["value"], cfg.app.currency) if prev is not None else None
m1.metric(
    f"Latest ({last['label']}{', partial' if last.get('partial', False) else ''})",
    catalog.format_value(kpi, last["value"], cfg.app.currency),
    delta=change,
    delta_color={"higher": "normal", "lower": "inverse", "band": "off"}[kpi.direction],
    delta_arrow="auto" if units.has_direction(change or "") else "off",  # no arrow on an unchanged value
    border=True,
    help=f"Change against {prev['label']}" if prev is not None else None,
)
m2.metric("Target", catalog.target_text(kpi, last["target"], cfg.app.currency), border=True)
with m3.container(border=True):
    st.caption("Status")
    _ui.status_badge(last["status"])
    st.caption(f"On target in {units.pct(view.on_target_share, decimals=0)} of {len(view.used)} periods")
with m4.container(border=True):
    st.caption("Trend")
    st.markdown(f"**{view.trend_headline}**")
    st.caption(view.trend_evidence)

# Improvement loop: completed actions and reviews on the timeline; open one, or create an action on this KPI.
from kpis.improvement import prefill
from kpis.improvement import views as improvement_views

marks = improvement_views.timeline_marks(_ui.engine(), kpi_id, segment)
marks = marks[pd.to_datetime(marks["date"]) >= view.table["period"].min() - pd.Timedelta(days=31)]
found = commentary.comments(_ui.engine(), [kpi_id], segment)  # the owner's words, marked at their period
drawn = pd.concat([marks, commentary.chart_marks(found, kpi_id)], ignore_index=True)
fig = charts.trend_figure(
    view, cfg.app.currency, title=f"{kpi.name}{' — ' + segment if segment else ''} by {cadence}", marks=drawn
)
st.vega_lite_chart(fig, key="trend_chart", width="stretch")
if view.partial_note:
    st.caption(view.partial_note)
a1, a2, a3 = st.columns([1, 2.2, 0.8])
if _ui.user().can("manage_actions") and a1.button(
    "Create action", key="trend_create_action", icon=":material/add_task:"
):
    st.session_state[prefill.SESSION_KEY] = prefill.from_kpi(
        kpi, segment, status=catalog.STATUS_LABELS[last["status"]].lower(), period_label=last["label"]
    )
    _ui.go(prefill.PAGE_ACTIONS)
if len(marks):
    labels = dict(zip(marks["kind"] + ":" + marks["id"].astype(str), marks["label"]))
    mark = a2.selectbox(
        "Marked on the chart", list(labels), key="trend_mark", format_func=labels.get, label_visibility="collapsed"
    )
    if a3.button("Open", key="trend_open_mark", icon=":material/open_in_new:"):
        kind, _, mid = mark.partition(":")
        st.session_state[prefill.OPEN_ACTION if kind == "action" else prefill.OPEN_REVIEW] = int(mid)
        _ui.go(prefill.PAGE_ACTIONS if kind == "action" else prefill.PAGE_REVIEWS)

comment_ui.section(cfg, kpi, segment, series, found)

st.markdown(trends.limits_text(view, cfg.app.currency))
table = trends.export_table(view, cfg.app.currency)
shown = trends.shown_table(view, cfg.app.currency)
unit = catalog.unit_label(kpi, cfg.app.currency)
fmt = "%.1f" if kpi.unit in ("%", "days", "turns", "score") else "%,.0f"
with st.expander(f"Values ({len(shown)} periods)", expanded=False):
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        key="trend_table",
        column_config={
            "period": "Period",
            "value": st.column_config.NumberColumn(f"Value ({unit})", format=fmt),
            "target": st.column_config.NumberColumn(f"Target ({unit})", format=fmt),
            "status": "Status",
            "centre": st.column_config.NumberColumn("Centre", format=fmt),
            "lower_limit": st.column_config.NumberColumn("Lower limit", format=fmt),
            "upper_limit": st.column_config.NumberColumn("Upper limit", format=fmt),
            "signal": "Signal",
        },
    )
st.download_button(
    "Download CSV",
    export.csv_bytes(table),
    icon=":material/download:",
    file_name=trends.export_name(view, segment),
    mime="text/csv",
    key="trend_download",
)
