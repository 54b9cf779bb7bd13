"""Sponsorship scorecard: one card per executive and quarter, their landing list, the portfolio of all
executives, an Excel export and a print layout (?print=1)."""

import datetime as dt
from urllib.parse import urlencode

import pandas as pd
import plotly.express as px
import streamlit as st

from kpis import catalog, formatting
from kpis.catalog import overview, units
from kpis.sponsorship import decisions as dec
from kpis.sponsorship import scorecard as sc
from kpis.sponsorship.export import portfolio_xlsx
from pages import _ui

RAG_LABEL = {"green": "Green", "amber": "Amber", "red": "Red", "none": "No figure"}
RAG_FILL = {"green": "#c8e6c9", "amber": "#ffe0b2", "red": "#ffcdd2", "none": ""}
# Static stylesheet of the print layout: hides the app's chrome on screen and on paper, one page per card.
PRINT_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stStatusWidget"],
footer { display: none !important; }
[data-testid="stMainBlockContainer"] { padding-top: 1rem !important; max-width: 1100px; }
@media print {
  @page { size: A4 landscape; margin: 10mm; }
  html, body, [data-testid="stApp"], [data-testid="stAppViewContainer"], [data-testid="stMain"] {
    height: auto !important; min-height: 0 !important; overflow: visible !important; position: static !important; }
  [data-testid="stMainBlockContainer"] { zoom: 0.72; padding: 0 !important; max-width: none !important; }
  [data-testid="stPageLink"], [data-testid="stBottom"] { display: none !important; }
  [data-testid="stVerticalBlockBorderWrapper"] { break-inside: avoid; }
}
</style>"""

cfg = _ui.config()
eng = _ui.engine()
today = dt.date.today()

if not cfg.executives:
    st.title("Sponsorship scorecard")
    st.info(
        "No executives are configured. Add `[[executive]]` tables with `name` and `title` to config.toml "
        "(the name as used for KPI owners, meeting attendees, decision owners and action sponsors).",
        icon=":material/info:",
    )
    st.stop()

inputs = _ui.sponsorship_inputs()
names = [e.name for e in cfg.executives]
titles = {e.name: e.title for e in cfg.executives}
if inputs.attendance.empty and inputs.decisions.empty and inputs.actions.empty and inputs.values.empty:
    st.title("Sponsorship scorecard")
    st.info(
        "Nothing to score yet: log the S&OP meetings and decisions, or import them on the Data page "
        "(or load the demo company with `python -m kpis demo`).",
        icon=":material/info:",
    )
    st.page_link(_ui.PAGE_MEETINGS, label="Go to Meetings & decisions", icon=":material/groups:")
    st.stop()

dates = [d for d in (inputs.attendance["meeting_date"].max(), inputs.decisions["raised_on"].max()) if pd.notna(d)]
latest = max(dates).date() if dates else None
first = [
    d
    for d in (
        inputs.attendance["meeting_date"].min(),
        inputs.decisions["raised_on"].min(),
        inputs.values["period"].min(),
    )
    if pd.notna(d)
]
current = sc.quarter_of(today)
default = sc.default_quarter(latest, today)
oldest = sc.quarter_of(min(first).date()) if first else default
quarters = [current]
while quarters[-1] > oldest and len(quarters) < 40:
    quarters.append(quarters[-1].previous())
labels = [q.label for q in quarters]


def _card(person: str, q: sc.Quarter, *, compact: bool = False) -> None:
    """The seven figures of one executive and quarter as tiles."""
    card = sc.card(inputs, cfg, person, q)
    per_row = 4
    for start in range(0, len(card), per_row):
        cols = st.columns(per_row)
        for col, (_, r) in zip(cols, card.iloc[start : start + per_row].iterrows()):
            with col.container(border=True):
                st.badge(RAG_LABEL[r["status"]], color=_ui.STATUS_BADGE[r["status"]], icon=_ui.STATUS_ICON[r["status"]])
                st.metric(
                    r["label"],
                    sc.format_figure(r["figure"], r["value"]),
                    delta=sc.format_change(r["figure"], r["change"]) or None,
                    delta_arrow="auto" if units.has_direction(sc.format_change(r["figure"], r["change"])) else "off",
                    delta_color="off" if r["change"] == 0 else ("normal" if r["better"] == "higher" else "inverse"),
                    help=r["how"],
                )
                st.caption(f"{_ui.plain(r['basis'])} · before: {sc.format_figure(r['figure'], r['previous'])}")
                if not compact:
                    st.caption(r["how"])
    if compact:
        with st.container(border=True):
            for _, r in card.iterrows():
                st.caption(f"**{r['label']}** — {r['how']}")


# ---------------------------------------------------------------- print layout (one clean page)
params = st.query_params
if params.get("print") == "1":
    person = params.get("exec") if params.get("exec") in names else names[0]
    try:
        q = sc.parse_quarter(params.get("quarter", default.label))
    except ValueError:
        q = default
    st.html(PRINT_CSS)
    st.title(f"Sponsorship scorecard · {q.label}")
    st.subheader(f"{_ui.plain(person)} — {_ui.plain(titles[person])}")
    st.caption(
        f"{cfg.app.company} · printed {today} · change against {q.previous().label} · green/amber/red from "
        "config.toml [sponsorship.thresholds]"
    )
    _card(person, q, compact=True)
    st.page_link(
        _ui.PAGE_SCORECARD,
        label="Back to the scorecard (use the browser's Print → Save as PDF)",
        icon=":material/arrow_back:",
    )
    st.stop()

# ---------------------------------------------------------------- the interactive page
st.title("Executive sponsorship scorecard")
c1, c2 = st.columns([1, 2])
q_label = c1.selectbox(
    "Quarter",
    labels,
    index=labels.index(default.label) if default.label in labels else 0,
    key="sc_quarter",
    format_func=lambda s: s + (" (in progress)" if s == current.label else ""),
)
q = sc.parse_quarter(q_label)
person = c2.selectbox("Executive", names, key="sc_exec", format_func=lambda n: f"{n} — {titles[n]}")

VIEWS = ("Scorecard", "To act on", "Portfolio")
view = st.radio("View", VIEWS, key="sc_view", horizontal=True, label_visibility="collapsed")

if view == "Scorecard":
    st.caption(
        f"{formatting.day(q.start)} – {formatting.day(q.end)} · arrows: change against {q.previous().label} · "
        f"one cycle = {cfg.sponsorship.cycle_days} days · hover a figure's (?) for how it is computed"
    )
    _card(person, q)
    st.link_button(
        "Print layout",
        "?" + urlencode({"print": "1", "exec": person, "quarter": q.label}),
        icon=":material/print:",
        type="tertiary",
    )

elif view == "To act on":
    st.caption("What needs this executive now (today, not the selected quarter).")
    owned = [k for k in cfg.kpis if k.owner == person]
    st.subheader("Red KPIs they own")
    tiles = overview.overview_tiles(_ui.totals(), owned, cfg) if owned else pd.DataFrame()
    red = tiles[tiles["status"] == "red"] if len(tiles) else tiles
    if not owned:
        st.info("Owns no KPI in the catalog.")
    elif red.empty:
        st.success(f"None of the {len(owned)} KPIs they own is red.")
    for _, t in red.iterrows():
        kpi = cfg.kpi_by_id[t["kpi_id"]]
        k1, k2 = st.columns([4, 1])
        k1.markdown(
            f"**{_ui.plain(kpi.name)}** · {t['period_label']} · "
            f"{catalog.format_value(kpi, t['value'], cfg.app.currency)} against target "
            f"{catalog.target_text(kpi, t['target'], cfg.app.currency)}"
        )
        if k2.button("Trend", key=f"land_trend_{kpi.id}", icon=":material/show_chart:", type="tertiary"):
            _ui.open_trend(kpi.id)

    st.subheader("Decisions pending")
    reg = dec.register(eng, today=today, owner=person)
    pend = reg[reg["status"] == "pending"]
    if pend.empty:
        st.success("No pending decision.")
    else:
        st.dataframe(
            pend[["age_days", "text", "raised_on", "meeting", "ref"]],
            hide_index=True,
            width="stretch",
            key="land_decisions",
            column_config={
                "age_days": "Age (days)",
                "text": "Decision",
                "raised_on": "Raised",
                "meeting": "Meeting",
                "ref": "Ref",
            },
        )
        if st.button("Open in the decision register", key="land_register", icon=":material/gavel:"):
            st.session_state[_ui.REGISTER_OWNER] = person
            _ui.go(_ui.PAGE_MEETINGS)

    st.subheader("Overdue actions they sponsor")
    overdue = sc.overdue_actions(eng, person, today)
    if overdue.empty:
        st.success("No overdue sponsored action.")
    else:
        st.dataframe(
            overdue,
            hide_index=True,
            width="stretch",
            key="land_actions",
            column_config={
                "id": "#",
                "title": "Action",
                "owner": "Owner",
                "due_date": "Due",
                "status": "Status",
                "days_overdue": "Days overdue",
            },
        )
        if _ui.page_exists(_ui.PAGE_ACTIONS):
            st.page_link(_ui.PAGE_ACTIONS, label="Open the improvement actions", icon=":material/task_alt:")

else:
    frame = sc.portfolio(inputs, cfg, q)
    status = sc.statuses(frame, cfg)
    shown = frame.rename(columns={"executive": "Executive", "title": "Title", **sc.LABELS})

    def _fill(col: pd.Series) -> list[str]:
        key = next((f for f, lab in sc.LABELS.items() if lab == col.name), None)
        if key is None:
            return [""] * len(col)
        return [f"background-color: {RAG_FILL[s]}" if RAG_FILL[s] else "" for s in status[key]]

    fmt = {sc.LABELS[f]: (lambda v, f=f: sc.format_figure(f, v)) for f in sc.FIGURES}
    st.caption(
        f"All executives for {q.label}; click a column header to sort. Cells coloured by their threshold; "
        f"{formatting.NO_VALUE} = no figure (e.g. invited to no executive meeting)."
    )
    st.dataframe(
        shown.style.apply(_fill, axis=0).format(fmt, na_rep=formatting.NO_VALUE),
        hide_index=True,
        width="stretch",
        key="pf_table",
    )
    st.download_button(
        "Download Excel",
        portfolio_xlsx(frame, status, q.label),
        file_name=f"sponsorship_scorecard_{q.label}.xlsx",
        key="pf_xlsx",
        icon=":material/download:",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        type="tertiary",
    )

    st.subheader("Trends")
    figure = st.selectbox("Figure", list(sc.FIGURES), format_func=sc.LABELS.get, key="pf_figure")
    trend = sc.trend(inputs, cfg, sc.quarters_back(q, 8))
    trend = trend[trend["figure"] == figure].assign(executive=lambda d: d["executive"].str.replace("<", "&lt;"))
    fig = px.line(
        trend,
        x="quarter",
        y="value",
        color="executive",
        markers=True,
        labels={"value": sc.LABELS[figure], "quarter": "", "executive": ""},
    )
    if figure in sc.RATES:
        fig.update_yaxes(tickformat=".0%")
    fig.update_layout(height=360, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(fig, key="pf_trend")
    st.caption(sc.how(figure, cfg) + " Gaps = no figure that quarter.")
