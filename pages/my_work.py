"""My work: the acting user's open and overdue actions, draft reviews, this quarter's assessment, pending
decisions, red KPIs, red and amber KPIs still without a comment, and the KPI data they owe, each with a way to act
on it (kpis.mywork)."""

import streamlit as st

from kpis import catalog, formatting, mywork, safety
from kpis.catalog import freshness, units
from kpis.improvement import prefill
from pages import _ui

cfg = _ui.config()
eng = _ui.engine()
user = _ui.user()
st.title("My work")
who = user.display or user.name
work = mywork.my_work(eng, cfg, user, totals=_ui.totals(), late=_ui.late_data(freshness.today()))
c = work.counts()

m = st.columns(7)
m[0].metric("Open actions", c["open_actions"], border=True, help="Actions you own that are open or in progress")
m[1].metric("Overdue", c["overdue_actions"], border=True, help="Of those, due before today")
m[2].metric("Draft reviews", c["draft_reviews"], border=True, help="Reviews you started and have not submitted")
may_answer = user.can("submit")
m[3].metric(
    "Assessment",
    "Due" if work.assessment else ("Done" if may_answer else "–"),
    border=True,
    help="This quarter's maturity assessment: due (not answered yet) or done"
    + ("" if may_answer else " (answering needs the contributor role)"),
)
m[4].metric("Decisions", c["pending_decisions"], border=True, help="Pending decisions you own")
m[5].metric("Red KPIs", c["red_kpis"], border=True, help="KPIs you own whose latest value is off target")
m[6].metric(
    "Data owed",
    len(work.owed_data),
    border=True,
    help="KPI values you deliver (data owner, else owner) that were due and have not arrived",
)
st.caption(f"For {safety.md(who)}. Items are yours when their owner is {mywork.MATCHED_BY}.")

if not work.known:
    st.warning(
        f"No action, decision, KPI, review or assessment names you ({safety.md(', '.join(work.spellings))}). "
        "If you own items under another spelling, ask for the owner names in the data (or the KPI owners in "
        "config.toml) to be written as one of these.",
        icon=":material/person_search:",
    )
if work.empty:
    st.success("Nothing waiting for you.", icon=":material/task_alt:")
    st.stop()


def _open(session_key: str, value, page: str) -> None:
    st.session_state[session_key] = value
    _ui.go(page)


if len(work.actions):
    st.subheader(f"Actions ({c['open_actions']}, {c['overdue_actions']} overdue)")
    for _, a in work.actions.iterrows():
        with st.container(border=True):
            left, right = st.columns([5, 1], vertical_alignment="center")
            due = f"due {a['due_date']:%Y-%m-%d}"
            late = f" · :red[overdue by {units.count(a['days_overdue'], 'day')}]" if a["overdue"] else ""
            ref = f"{a['ref']} · " if a["ref"] else ""
            left.markdown(f"**{safety.md(a['title'])}**  \n{safety.md(ref)}#{a['id']} · {a['status']} · {due}{late}")
            if right.button("Open", key=f"mw_action_{a['id']}", icon=":material/task_alt:"):
                _open(prefill.OPEN_ACTION, int(a["id"]), _ui.PAGE_ACTIONS)

if len(work.drafts):
    st.subheader(f"Reviews in draft ({c['draft_reviews']})")
    for _, r in work.drafts.iterrows():
        with st.container(border=True):
            left, right = st.columns([5, 1], vertical_alignment="center")
            left.markdown(f"**{safety.md(r['initiative'])}**  \n#{r['id']} · review date {r['review_date']:%Y-%m-%d}")
            if right.button("Open", key=f"mw_review_{r['id']}", icon=":material/rate_review:"):
                _open(prefill.OPEN_REVIEW, int(r["id"]), prefill.PAGE_REVIEWS)

if work.assessment is not None:
    a = work.assessment
    st.subheader(f"Maturity assessment {a.quarter}")
    with st.container(border=True):
        left, right = st.columns([5, 1], vertical_alignment="center")
        team = f" {a.team_answered} of your team ({safety.md(a.team)}) answered so far." if a.team else ""
        left.markdown(f"You have not answered {a.quarter} yet.{team}")
        right.page_link(_ui.PAGE_ASSESS, label="Answer", icon=":material/checklist:")

if len(work.decisions):
    st.subheader(f"Pending decisions ({c['pending_decisions']})")
    for _, d in work.decisions.iterrows():
        with st.container(border=True):
            left, right = st.columns([5, 1], vertical_alignment="center")
            ref = f"{d['ref']} · " if d["ref"] else ""
            left.markdown(
                f"**{safety.md(d['text'])}**  \n{safety.md(ref)}#{d['id']} · raised "
                f"{formatting.day(d['raised_on'])} · pending {units.count(d['age_days'], 'day')}"
            )
            if right.button("Open", key=f"mw_decision_{d['id']}", icon=":material/gavel:"):
                st.session_state["reg_decision"] = int(d["id"])
                _open(_ui.REGISTER_OWNER, d["owner"], _ui.PAGE_MEETINGS)

if len(work.uncommented):
    st.subheader(f"To comment before the meeting ({len(work.uncommented)})")
    st.caption("Red and amber KPIs you own with no comment on their latest period: say what happened and why.")
    for _, k in work.uncommented.iterrows():
        with st.container(border=True):
            left, right = st.columns([5, 1], vertical_alignment="center")
            left.markdown(
                f"**{safety.md(k['name'])}** · {catalog.STATUS_LABELS[k['status']].lower()} in "
                f"{safety.md(k['period_label'])}, no comment yet"
            )
            if right.button("Comment", key=f"mw_comment_{k['kpi_id']}", icon=":material/edit_note:"):
                _ui.open_trend(k["kpi_id"])

if len(work.red_kpis):
    st.subheader(f"Red KPIs ({c['red_kpis']})")
    for _, k in work.red_kpis.iterrows():
        with st.container(border=True):
            left, right = st.columns([5, 1], vertical_alignment="center")
            left.markdown(
                f"**{safety.md(k['name'])}** · {safety.md(k['value'])} in {safety.md(k['period_label'])}, "
                f"target {safety.md(k['target'])}"
            )
            if right.button("Trend", key=f"mw_kpi_{k['kpi_id']}", icon=":material/show_chart:"):
                _ui.open_trend(k["kpi_id"])

if len(work.owed_data):
    today = freshness.today()
    st.subheader(f"Data you owe ({len(work.owed_data)})")
    for i, d in work.owed_data.iterrows():
        with st.container(border=True):
            left, right = st.columns([5, 1], vertical_alignment="center")
            segment = f" · {safety.md(d['segment'])}" if d["segment"] else ""
            left.markdown(
                f"**{safety.md(d['name'])}**{segment} · :red[{safety.md(freshness.late_text(d, today))}]  \n"
                f"last received {safety.md(d['last_label'])} · waiting for {safety.md(d['feeds'])}"
            )
            if right.button("Data", key=f"mw_late_{i}", icon=":material/upload:"):
                _ui.go(_ui.PAGE_DATA)
