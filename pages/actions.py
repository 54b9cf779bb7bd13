"""Improvement actions: the log with filters, a board, My actions, charts, the create form, and one action's
detail with its status moves and the verdict on its KPI."""

import datetime as dt

import pandas as pd
import streamlit as st

from kpis import catalog, safety, spc
from kpis.catalog import units
from kpis.config import PRACTICES
from kpis.improvement import actions, effect, export, prefill, views
from kpis.improvement import charts as icharts
from kpis.improvement.counts import action_counts
from kpis.store import repo
from pages import _ui
from pages._ui import edits

cfg = _ui.config()
eng = _ui.engine()
user = _ui.user()
can_manage = user.can("manage_actions")
today = dt.date.today()
st.title("Improvement actions")

incoming = st.session_state.pop(prefill.SESSION_KEY, None)
VIEWS = ["List", "Board", "My actions", "Charts"] + (["New action"] if can_manage else [])
FORM_KEYS = (
    "title",
    "description",
    "type",
    "source",
    "review_id",
    "decision_id",
    "source_note",
    "practice",
    "kpi_id",
    "segment",
    "expected_direction",
    "owner",
    "sponsor",
    "priority",
    "due_date",
    "ref",
)


def _seed_form(prefix: str, values: dict) -> None:
    """Put values into the form's widget state (before the widgets are drawn)."""
    for k in FORM_KEYS:
        v = values.get(k)
        st.session_state[f"{prefix}_{k}"] = (
            ("" if v is None else v)
            if k in ("title", "description", "source_note", "segment", "owner", "sponsor", "ref")
            else v
        )


if incoming is not None and can_manage:
    _seed_form("act_new", prefill.form_values(incoming, today=today))
    st.session_state["act_view"] = "New action"
elif incoming is not None:
    st.warning("Your role cannot create actions; ask an editor.")
if "act_new_title" not in st.session_state or st.session_state.pop("act_new_reset", False):
    _seed_form("act_new", prefill.form_values(None, today=today))
if prefill.OPEN_ACTION in st.session_state:
    st.session_state["act_open"] = st.session_state.pop(prefill.OPEN_ACTION)
if "act_open_next" in st.session_state:
    st.session_state["act_open"] = st.session_state.pop("act_open_next")

df = views.load_actions(eng, as_of=today)
kpi_name = {k.id: k.name for k in cfg.kpis}

if df.empty and not can_manage:
    st.info(
        "No improvement actions yet. An editor can create them here, from a review, from a KPI on "
        "KPI trends or from a forecast exception, or import an action log (`python -m kpis import actions FILE`).",
        icon=":material/info:",
    )
    st.stop()

counts = action_counts(df)
m = st.columns(4)
m[0].metric("Open", counts.open, border=True)
m[1].metric("In progress", counts.in_progress, border=True)
m[2].metric(
    "Overdue",
    counts.overdue,
    border=True,
    help="Due date passed and still open or in progress",
)
m[3].metric(
    "Awaiting verification",
    counts.awaiting_verification,
    border=True,
    help="Done; a manager marks them verified or not effective once the KPI shows the effect",
)

if "act_view_next" in st.session_state:
    st.session_state["act_view"] = st.session_state.pop("act_view_next")
if st.session_state.get("act_view") not in VIEWS:
    st.session_state["act_view"] = "List"
view = st.segmented_control("View", VIEWS, key="act_view", label_visibility="collapsed") or "List"


def _fmt_action(i) -> str:
    if i is None:
        return "—"
    row = df[df["id"] == i]
    return f"#{i} {row['title'].iloc[0]}" if len(row) else f"#{i}"


def _table(frame: pd.DataFrame, key: str):
    shown = frame.assign(
        kpi=frame["kpi_id"].map(kpi_name).fillna(""),
        ref=frame["ref"].fillna(""),
        sponsor=frame["sponsor"].fillna(""),
        verdict=frame["verdict"].fillna(""),
        practice=frame["practice"].map(PRACTICES).fillna(frame["practice"]),
    )
    cols = [
        "id",
        "ref",
        "title",
        "status",
        "owner",
        "sponsor",
        "kpi",
        "segment",
        "practice",
        "priority",
        "due_date",
        "days_overdue",
        "completed_on",
        "verdict",
    ]
    styled = shown[cols].style.apply(
        lambda r: ["background-color: #fdecea" if r["days_overdue"] > 0 else ""] * len(r), axis=1
    )
    return st.dataframe(
        styled,
        hide_index=True,
        width="stretch",
        key=key,
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "id": st.column_config.NumberColumn("#", format="%d"),
            "days_overdue": st.column_config.NumberColumn("Days overdue", format="%d"),
            "due_date": st.column_config.DateColumn("Due"),
            "completed_on": st.column_config.DateColumn("Completed"),
        },
    )


def _pick(event, frame: pd.DataFrame, key: str) -> None:
    """A newly selected table row opens that action."""
    rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
    picked = int(frame.iloc[rows[0]]["id"]) if rows else None
    if picked is not None and st.session_state.get(f"{key}_last") != picked:
        st.session_state["act_open"] = picked
    st.session_state[f"{key}_last"] = picked


def _excel(frame: pd.DataFrame, key: str) -> None:
    data = export.to_excel({"Actions": frame.drop(columns=["description"], errors="ignore")})
    st.download_button(
        "Download Excel",
        data,
        file_name=f"actions_{today:%Y%m%d}.xlsx",
        key=key,
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:",
        type="tertiary",
    )


def _fields_form(prefix: str, *, submit_label: str) -> tuple[bool, dict]:
    """Every action field as form widgets keyed `prefix_<field>`; returns (submitted, values)."""
    reviews_df = _reviews()
    decisions_df = _decisions()
    # A linked review or decision outside the lists (an old decision, someone's draft) stays selectable.
    for frame, key, col in ((reviews_df, "review_id", "initiative"), (decisions_df, "decision_id", "text")):
        current = st.session_state.get(f"{prefix}_{key}")
        if current is not None and current not in frame["id"].tolist():
            frame.loc[len(frame)] = {"id": current, col: "(linked)"}
    with st.form(f"{prefix}_form", border=True):
        c1, c2 = st.columns([2, 1])
        c1.text_input("Title", key=f"{prefix}_title", max_chars=200)
        c2.text_input("Reference (your own action number, optional)", key=f"{prefix}_ref", max_chars=60)
        st.text_area("Description", key=f"{prefix}_description", height=90)
        c1, c2, c3, c4 = st.columns(4)
        c1.selectbox("Type", actions.TYPES, key=f"{prefix}_type", format_func=str.capitalize)
        c2.selectbox("Priority", actions.PRIORITIES, key=f"{prefix}_priority", format_func=str.capitalize)
        c3.selectbox("Practice", list(PRACTICES), key=f"{prefix}_practice", format_func=PRACTICES.get)
        c4.date_input("Due date", key=f"{prefix}_due_date")
        c1, c2, c3 = st.columns(3)
        c1.text_input("Owner", key=f"{prefix}_owner", max_chars=120)
        c2.text_input("Executive sponsor", key=f"{prefix}_sponsor", max_chars=120)
        c3.selectbox("Source", list(actions.SOURCES), key=f"{prefix}_source", format_func=actions.SOURCES.get)
        c1, c2, c3 = st.columns(3)
        c1.selectbox(
            "Review (source)",
            [None, *reviews_df["id"].tolist()],
            key=f"{prefix}_review_id",
            format_func=lambda i: "—" if i is None else f"#{i} " + reviews_df.set_index("id").at[i, "initiative"],
        )
        c2.selectbox(
            "Decision (source)",
            [None, *decisions_df["id"].tolist()],
            key=f"{prefix}_decision_id",
            format_func=lambda i: "—" if i is None else f"#{i} " + str(decisions_df.set_index("id").at[i, "text"])[:60],
        )
        c3.text_input("Source note (e.g. the exception or meeting)", key=f"{prefix}_source_note", max_chars=255)
        c1, c2, c3 = st.columns(3)
        c1.selectbox(
            "KPI it should move",
            [None, *kpi_name],
            key=f"{prefix}_kpi_id",
            format_func=lambda i: "— no KPI —" if i is None else kpi_name[i],
        )
        c2.text_input("Segment (blank = the KPI's total)", key=f"{prefix}_segment", max_chars=80)
        c3.selectbox(
            "Expected direction",
            [None, *actions.DIRECTIONS],
            key=f"{prefix}_expected_direction",
            format_func=lambda d: "—" if d is None else {"higher": "Higher (up)", "lower": "Lower (down)"}[d],
            help="The way the action should move the KPI; the verdict checks that side",
        )
        done = st.form_submit_button(submit_label, type="primary")
    values = {k: st.session_state.get(f"{prefix}_{k}") for k in FORM_KEYS}
    return done, values


def _reviews() -> pd.DataFrame:
    from kpis.improvement import reviews

    return reviews.list_reviews(eng, user)[["id", "initiative"]]


def _decisions() -> pd.DataFrame:
    from sqlalchemy import select

    from kpis.store.models import Decision

    with eng.connect() as conn:
        rows = conn.execute(select(Decision.id, Decision.text).order_by(Decision.id.desc()).limit(300)).all()
    return pd.DataFrame(rows, columns=["id", "text"])


# ---------------------------------------------------------------- views

if view == "List":
    if df.empty:
        st.info(
            "No improvement actions yet. Create one under **New action**, from a review, from a KPI on KPI "
            "trends or from a forecast exception, or import an action log.",
            icon=":material/info:",
        )
    else:
        c = st.columns([1.2, 1, 1, 1, 1.2])
        f_status = c[0].multiselect("Status", actions.STATUSES, key="act_f_status", placeholder="All statuses")
        f_owner = c[1].multiselect("Owner", sorted(df["owner"].dropna().unique()), key="act_f_owner", placeholder="All")
        f_sponsor = c[2].multiselect(
            "Sponsor", sorted(df["sponsor"].dropna().unique()), key="act_f_sponsor", placeholder="All"
        )
        f_practice = c[3].multiselect(
            "Practice", list(PRACTICES), key="act_f_practice", format_func=PRACTICES.get, placeholder="All"
        )
        f_kpi = c[4].multiselect(
            "KPI",
            sorted(df["kpi_id"].dropna().unique()),
            key="act_f_kpi",
            format_func=lambda k: kpi_name.get(k, k),
            placeholder="All",
        )
        c1, c2 = st.columns([3, 1])
        f_text = c1.text_input("Search title, description and ref", key="act_f_text")
        f_overdue = c2.toggle("Overdue only", key="act_f_overdue")
        shown = views.filter_actions(
            df,
            statuses=f_status,
            owners=f_owner,
            sponsors=f_sponsor,
            practices=f_practice,
            kpis=f_kpi,
            overdue_only=f_overdue,
            text=f_text,
        )
        st.caption(f"{len(shown)} of {len(df)} actions · overdue rows are shaded · select a row to open it")
        _pick(_table(shown, "act_table"), shown, "act_table")
        _excel(shown, "act_excel")
elif view == "Board":
    lanes = views.board(df)
    cols = st.columns(len(lanes))
    for col, (status, lane) in zip(cols, lanes.items()):
        col.markdown(f"**{status.capitalize()}** · {len(lane)}")
        for _, a in lane.sort_values(["overdue", "due_date"], ascending=[False, True]).head(25).iterrows():
            with col.container(border=True):
                st.text(f"#{a['id']} {a['title']}")
                st.caption(f"{export.escape_md(a['owner'])} · due {a['due_date']:%Y-%m-%d}")
                if a["overdue"]:
                    st.badge(
                        f"{units.count(a['days_overdue'], 'day')} overdue", color="red", icon=":material/schedule:"
                    )
                if st.button("Open", key=f"act_board_{a['id']}", type="tertiary"):
                    st.session_state["act_open"] = int(a["id"])
        if len(lane) > 25:
            col.caption(f"… and {len(lane) - 25} more (see List)")
elif view == "My actions":
    mine = views.my_actions(df, user.email or user.name)  # the verified e-mail, else the key (login)
    st.caption(
        f"Open, in progress and done actions that **{export.escape_md(user.email or user.name)}** owns or sponsors, "
        "overdue first."
    )
    if mine.empty:
        st.info("You own or sponsor no open action.", icon=":material/task_alt:")
    else:
        _pick(_table(mine, "act_mine"), mine, "act_mine")
elif view == "Charts":
    if df.empty:
        st.info("No actions yet, so nothing to chart.", icon=":material/info:")
    else:
        months = pd.date_range(end=pd.Timestamp(today).replace(day=1), periods=24, freq="MS")
        st.plotly_chart(
            icharts.open_over_time_figure(views.open_over_time(df, months)), key="act_chart_open", width="stretch"
        )
        c1, c2 = st.columns(2)
        by_fn = views.closed_on_time(df, views.kpi_function(df, cfg), as_of=today)
        by_fn["group"] = by_fn["group"].map(lambda g: catalog.FUNCTION_LABELS.get(g, g))
        by_sp = views.closed_on_time(df, df["sponsor"], as_of=today)
        c1.plotly_chart(icharts.on_time_figure(by_fn, "function (of the KPI)"), key="act_chart_fn", width="stretch")
        c2.plotly_chart(icharts.on_time_figure(by_sp, "sponsor"), key="act_chart_sp", width="stretch")
        st.caption(
            "Closed on time = completed on or before the due date, among actions due by today and not "
            "cancelled (n beside each bar)."
        )
elif view == "New action":
    done, values = _fields_form("act_new", submit_label="Create action")
    if done:
        try:
            new_id = actions.create_action(engine=eng, fields=values, user=user, config=cfg)
        except actions.ActionRefused as e:
            st.error(f"The action was not created: {safety.md(str(e))}")
        else:
            st.session_state["act_open_next"] = new_id
            st.session_state["act_new_reset"] = True
            st.session_state["act_view_next"] = "List"
            st.session_state["act_flash"] = f"Action #{new_id} created."
            st.rerun()

# ---------------------------------------------------------------- one action

if st.session_state.get("act_flash"):
    st.success(st.session_state.pop("act_flash"), icon=":material/check_circle:")
ids = df["id"].tolist()
if st.session_state.get("act_open") not in [None, *ids]:
    st.session_state["act_open"] = None
st.divider()
open_id = st.selectbox("Action details", [None, *ids], key="act_open", format_func=_fmt_action)
if open_id is None:
    st.stop()

a = actions.get_action(eng, open_id)
# The version this page showed when a button was clicked is the one of the previous run (this run reloaded it):
# moves name it, so a move on an action someone changed since is refused instead of applied to their change.
shown_before = st.session_state.get("act_shown_version")
opened_version = shown_before[1] if shown_before and shown_before[0] == a["id"] else a["version"]
st.session_state["act_shown_version"] = (a["id"], a["version"])
CONFLICT_TAIL = " — your text is kept in the form above; reload to see their change."


def _moved(msg: str) -> None:
    """After this person's own move: a field form opened at the same version stays valid (one version on)."""
    if st.session_state.get("act_edit_for") == a["id"] and st.session_state.get("act_edit_version") == opened_version:
        st.session_state["act_edit_version"] = opened_version + 1
    st.session_state["act_flash"] = msg
    st.rerun()


st.subheader(export.escape_md(f"#{a['id']} {a['title']}"))
st.badge(
    a["status"].capitalize(),
    color={
        "open": "blue",
        "in progress": "orange",
        "done": "violet",
        "verified": "green",
        "not effective": "red",
        "cancelled": "gray",
    }[a["status"]],
)
overdue = views.add_overdue(df[df["id"] == open_id], today).iloc[0]
if overdue["overdue"]:
    st.error(f"Overdue by {overdue['days_overdue']} days (due {a['due_date']:%Y-%m-%d}).", icon=":material/schedule:")
facts = pd.DataFrame(
    {
        "field": [
            "Reference",
            "Type",
            "Source",
            "Source note",
            "Practice",
            "KPI",
            "Segment",
            "Expected direction",
            "Owner",
            "Executive sponsor",
            "Priority",
            "Created",
            "Due date",
            "Completed on",
            "Cancelled on",
        ],
        "value": [
            a["ref"] or "",
            a["type"],
            actions.SOURCES.get(a["source"], a["source"]),
            a["source_note"] or "",
            PRACTICES.get(a["practice"], a["practice"]),
            kpi_name.get(a["kpi_id"], a["kpi_id"] or "—"),
            a["segment"] or "Total",
            a["expected_direction"] or "—",
            a["owner"],
            a["sponsor"] or "—",
            a["priority"],
            f"{a['created_at']:%Y-%m-%d} by {a['created_by']}",
            str(a["due_date"]),
            str(a["completed_on"] or "—"),
            str(a["cancelled_on"] or "—"),
        ],
    }
)
c1, c2 = st.columns([1, 1.4])
c1.dataframe(facts, hide_index=True, width="stretch", key="act_facts", height=35 * (len(facts) + 1) + 3)
with c2:
    st.markdown("**Description**")
    st.markdown(export.escape_md(a["description"]) or "—")
    if a["review_id"] and st.button(
        f"Open review #{a['review_id']}", key="act_to_review", icon=":material/rate_review:"
    ):
        st.session_state[prefill.OPEN_REVIEW] = a["review_id"]
        _ui.go(prefill.PAGE_REVIEWS)

# Status moves: only the allowed ones are offered; the core refuses anything else.
moves = actions.allowed_moves(a["status"], user)
if moves and a["status"] != "done":
    st.markdown("**Move to**")
    cols = st.columns(len(moves) + 1)
    when = None
    if "done" in moves:
        created = actions.created_day(a["created_at"]) or today
        when = cols[-1].date_input(
            "Completion date", value=today, min_value=min(created, today), max_value=today, key="act_done_date"
        )
    for col, to in zip(cols, moves):
        if col.button(
            to.capitalize(),
            key=f"act_move_{to.replace(' ', '_')}",
            type="primary" if to in ("in progress", "done") else "secondary",
        ):
            moved = edits.save(
                lambda to=to: actions.move_action(
                    engine=eng,
                    action_id=a["id"],
                    to=to,
                    user=user,
                    config=cfg,
                    completed_on=when if to == "done" else None,
                    expected_status=a["status"],
                    expected_version=opened_version,
                    not_before_created=True,
                ),
                refused=(actions.ActionRefused,),
                conflict_text="Not moved: {}. The page now shows their change; check it and try again.",
            )
            if moved.ok:
                _moved(moved.value)

# Did it work?
st.markdown("#### Did it work?")
if not a["kpi_id"]:
    st.caption("Not linked to a KPI, so there is no verdict from data; a manager judges it when it is done.")
elif a["completed_on"] is None:
    st.caption(
        f"The verdict on {kpi_name.get(a['kpi_id'], a['kpi_id'])} appears once the action is done "
        "(it compares the KPI's points before and after the completion date)."
    )
else:
    frozen = a["verdict_figures"] is not None
    v = (
        effect.Verdict.from_figures(a["verdict_figures"])
        if frozen
        else effect.current_verdict(
            eng,
            cfg,
            kpi_id=a["kpi_id"],
            segment=a["segment"],
            direction=a["expected_direction"],
            completed_on=a["completed_on"],
        )
    )
    if v is None:
        st.warning("Set the expected direction (higher or lower) to get a verdict.")
    else:
        colour = {"improved": "green", "worse": "red", "no clear change": "gray", "too little data": "gray"}[v.verdict]
        st.badge(f"Verdict: {v.verdict}", color=colour, icon=":material/analytics:")
        st.markdown(v.explanation.replace("$", "\\$"))  # our own words and figures, no user text
        if frozen:
            st.caption(
                f"Frozen when {export.escape_md(a['verified_by'])} marked the action "
                f"'{a['status']}' on {a['verified_at']:%Y-%m-%d %H:%M} UTC; later data does not change it."
            )
        else:
            st.caption("On today's data; it is frozen when a manager marks the action verified or not effective.")
        kpi = cfg.kpi_by_id.get(a["kpi_id"])
        series = effect.kpi_series(eng, cfg, a["kpi_id"], a["segment"])
        if kpi is not None and len(series):
            title = f"{kpi.name}{' — ' + a['segment'] if a['segment'] else ''}: before and after action #{a['id']}"
            st.plotly_chart(
                icharts.effect_figure(series, a["completed_on"], v, kpi, title=title, currency=cfg.app.currency),
                key="act_effect_chart",
                width="stretch",
            )
        mm = st.columns(5)
        mm[0].metric("Points before / after", f"{v.n_before} / {v.n_after}")
        shift = (
            "–"
            if v.median_shift is None
            else (
                catalog.format_change(kpi, v.median_shift, cfg.app.currency)
                if kpi is not None
                else f"{v.median_shift:+.4g}"
            )
        )
        mm[1].metric("Median shift", shift, help="Median of the after points minus median of the before points")
        mm[2].metric("p (improving side)", "–" if v.p_good is None else spc.format_p(v.p_good))
        mm[3].metric("p (worsening side)", "–" if v.p_bad is None else spc.format_p(v.p_bad))
        mm[4].metric("Signal", "improving" if v.signal_improving else ("worsening" if v.signal_worsening else "none"))
if a["status"] == "done" and moves:
    st.markdown("**Decide** (frozen with the verdict and its figures)")
    c1, c2, _ = st.columns([1, 1, 3])
    for col, to, kind in ((c1, "verified", "primary"), (c2, "not effective", "secondary")):
        if col.button(f"Mark {to}", key=f"act_move_{to.replace(' ', '_')}", type=kind):
            marked = edits.save(
                lambda to=to: actions.move_action(
                    engine=eng,
                    action_id=a["id"],
                    to=to,
                    user=user,
                    config=cfg,
                    expected_status="done",
                    expected_version=opened_version,
                ),
                refused=(actions.ActionRefused,),
                conflict_text="Not marked: {}. The page now shows their change; check it and try again.",
            )
            if marked.ok:
                _moved(marked.value)

if can_manage and a["status"] not in actions.DECIDED_STATES and a["status"] != "cancelled":
    with st.expander("Edit fields", expanded=False):
        if st.session_state.get("act_edit_for") != a["id"]:
            _seed_form("act_edit", a)
            st.session_state["act_edit_for"] = a["id"]
            st.session_state["act_edit_version"] = a["version"]  # what the form was opened at
            st.session_state.pop("act_edit_conflict", None)
        saved, values = _fields_form("act_edit", submit_label="Save changes")
        if saved:
            updated = edits.save(
                lambda: actions.update_action(
                    engine=eng,
                    action_id=a["id"],
                    fields=values,
                    user=user,
                    config=cfg,
                    expected_version=st.session_state.get("act_edit_version"),
                ),
                refused=(actions.ActionRefused,),
                conflict_key="act_edit_conflict",  # the typed values stay in the form's widgets
                refused_text="Not saved: {}",
            )
            if updated.ok:
                changed = updated.value
                st.session_state["act_flash"] = f"Saved: {', '.join(changed)}." if changed else "Nothing changed."
                st.session_state.pop("act_edit_for", None)
                st.rerun()
        if st.session_state.get("act_edit_conflict"):
            st.error(
                f"Not saved: {safety.md(st.session_state['act_edit_conflict'])}{CONFLICT_TAIL}",
                icon=":material/sync_problem:",
            )
            if st.button("Reload the action (discards your changes)", key="act_edit_reload", icon=":material/refresh:"):
                st.session_state.pop("act_edit_for", None)
                st.rerun()

with st.expander("History", expanded=False):
    log = repo.audit_log(eng, limit=500, entity="action")
    log = log[log["entity_id"] == str(a["id"])]
    st.dataframe(
        log.assign(details=log["details"].astype(str))[["at", "actor", "action", "details"]],
        hide_index=True,
        width="stretch",
        key="act_history",
    )
