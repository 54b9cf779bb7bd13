"""Post-implementation reviews: the list with search and filters, one review as a document with its follow-up
actions, and the form (save as draft, submit, amend) with KPIs prefilled from their data."""

import datetime as dt

import pandas as pd
import streamlit as st

from kpis import catalog, safety
from kpis.config import PRACTICES
from kpis.improvement import export, prefill, reviews
from pages import _ui
from pages._ui import edits

cfg = _ui.config()
eng = _ui.engine()
user = _ui.user()
can_submit = user.can("submit")
can_manage = user.can("manage_actions")
today = dt.date.today()
kpi_name = {k.id: k.name for k in cfg.kpis}
st.title("Post-implementation reviews")

TEXT = ("initiative", "team", "facilitator", "participants", *reviews.TEXT_FIELDS)
VIEWS = ["Reviews"] + (["Write a review"] if can_submit else [])


def _month(d: dt.date | None) -> dt.date | None:
    return None if d is None else d.replace(day=1)


def _load_form(r: dict | None) -> None:
    """Fill the form's widget state from a review (None = a blank form)."""
    r = r or {}
    for k in TEXT:
        v = r.get(k) or ("" if k != "participants" else [])
        st.session_state[f"rv_{k}"] = "\n".join(v) if k == "participants" else v
    st.session_state["rv_practices"] = list(r.get("practices") or [])
    st.session_state["rv_review_date"] = r.get("review_date") or today
    st.session_state["rv_period"] = r.get("period") or _month(today - dt.timedelta(days=92))
    st.session_state["rv_root_cause_method"] = r.get("root_cause_method") or "5 whys"
    st.session_state["rv_rating"] = int(r.get("rating") or 3)
    kpis = r.get("kpis") or []
    st.session_state["rv_kpis"] = [k["kpi_id"] for k in kpis]
    first = kpis[0] if kpis else {}
    st.session_state["rv_baseline_period"] = first.get("baseline_period") or _month(
        (st.session_state["rv_period"] or today) - dt.timedelta(days=28)
    )
    st.session_state["rv_actual_period"] = first.get("actual_period") or _month(today - dt.timedelta(days=28))
    st.session_state["rv_stored_kpis"] = {k["kpi_id"]: k for k in kpis}
    st.session_state["rv_edit_id"] = r.get("id")
    st.session_state["rv_edit_version"] = r.get("version")  # what the form was opened at
    st.session_state.pop("rv_conflict", None)


if "rv_initiative" not in st.session_state:
    _load_form(None)
# Widget state can only be changed before the widgets are drawn: requests from the last run are applied here.
if "rv_load_next" in st.session_state:
    _load_form(st.session_state.pop("rv_load_next"))
if "rv_view_next" in st.session_state:
    st.session_state["rv_view"] = st.session_state.pop("rv_view_next")
if prefill.OPEN_REVIEW in st.session_state:
    st.session_state["rv_open"] = st.session_state.pop(prefill.OPEN_REVIEW)
    st.session_state["rv_view"] = "Reviews"
if st.session_state.get("rv_view") not in VIEWS:
    st.session_state["rv_view"] = "Reviews"

df = reviews.list_reviews(eng, user)
if df.empty and not can_submit:
    st.info(
        "No reviews yet. Contributors write post-implementation reviews here after a change goes live.",
        icon=":material/info:",
    )
    st.stop()

submitted = df[df["status"] == "submitted"]
m = st.columns(4)
m[0].metric("Submitted reviews", len(submitted), border=True)
m[1].metric("Your drafts", int(((df["status"] == "draft") & df["created_by"].map(user.is_self)).sum()), border=True)
m[2].metric("Average rating", f"{submitted['rating'].mean():.1f} / 5" if len(submitted) else "–", border=True)
m[3].metric(
    "Follow-up actions awaiting verification",
    int(df["awaiting_verification"].sum()),
    border=True,
    help="Follow-up actions that are done; a manager marks them verified or not effective",
)

view = st.segmented_control("View", VIEWS, key="rv_view", label_visibility="collapsed") or "Reviews"


def _kpi_editor() -> list[dict]:
    """KPIs with baseline / target / actual, prefilled from the data for the chosen periods (editable)."""
    c1, c2, c3 = st.columns([2, 1, 1])
    chosen = c1.multiselect("KPIs the review looked at", list(kpi_name), key="rv_kpis", format_func=kpi_name.get)
    bp = c2.date_input("Baseline period", key="rv_baseline_period", help="The KPI value before the change")
    ap = c3.date_input("Actual period", key="rv_actual_period", help="The KPI value after the change")
    if not chosen:
        return []
    stored = st.session_state.get("rv_stored_kpis", {})
    rows = []
    for kid in chosen:
        kpi = cfg.kpi_by_id[kid]
        k = catalog.display_scale(kpi)
        old = stored.get(kid)
        if old and old.get("baseline_period") == bp and old.get("actual_period") == ap:
            base = old
        else:
            base = reviews.kpi_prefill(eng, cfg, kid, baseline_period=bp, actual_period=ap)
        rows.append(
            {
                "kpi_id": kid,
                "KPI": kpi.name,
                "unit": catalog.unit_label(kpi, cfg.app.currency),
                "baseline": None if base["baseline"] is None else base["baseline"] * k,
                "target": None if base["target"] is None else base["target"] * k,
                "actual": None if base["actual"] is None else base["actual"] * k,
            }
        )
    table = pd.DataFrame(rows)
    st.caption(
        "Baseline and actual come from the KPI's data for those periods, the target from the catalog; "
        "overwrite any of them. Percentages are in %."
    )
    edited = st.data_editor(
        table,
        hide_index=True,
        width="stretch",
        disabled=["kpi_id", "KPI", "unit"],
        column_order=["KPI", "unit", "baseline", "target", "actual"],
        key=f"rv_kpi_table_{'_'.join(chosen)}_{bp}_{ap}",
    )
    out = []
    for _, r in edited.iterrows():
        k = catalog.display_scale(cfg.kpi_by_id[r["kpi_id"]])
        out.append(
            {
                "kpi_id": r["kpi_id"],
                "baseline_period": bp,
                "actual_period": ap,
                **{f: None if pd.isna(r[f]) else float(r[f]) / k for f in ("baseline", "target", "actual")},
            }
        )
    return out


if view == "Write a review":
    editing = st.session_state.get("rv_edit_id")
    if editing:
        st.info(
            f"Amending review #{editing}. Saving records who changed what, with before and after.",
            icon=":material/edit:",
        )
    c1, c2 = st.columns([2, 1])
    c1.text_input("Initiative (what was changed)", key="rv_initiative", max_chars=200)
    c2.multiselect("Practices", list(PRACTICES), key="rv_practices", format_func=PRACTICES.get)
    c1, c2, c3, c4 = st.columns(4)
    c1.date_input("Review date", key="rv_review_date")
    c2.date_input("Period reviewed", key="rv_period", help="When the change went live (first day of the period)")
    c3.text_input("Team", key="rv_team", max_chars=120)
    c4.text_input("Facilitator", key="rv_facilitator", max_chars=120)
    st.text_area("Participants (one per line)", key="rv_participants", height=80)
    st.text_area("Objectives", key="rv_objectives", height=80)
    c1, c2 = st.columns(2)
    c1.text_area("What was planned", key="rv_planned", height=110)
    c2.text_area("What happened", key="rv_happened", height=110)
    c1, c2 = st.columns([3, 1])
    c1.text_area("Why they differ (root cause)", key="rv_root_cause", height=90)
    c2.selectbox("Method", reviews.METHODS, key="rv_root_cause_method")
    c1, c2 = st.columns(2)
    c1.text_area("What went well", key="rv_went_well", height=90)
    c2.text_area("What to improve", key="rv_to_improve", height=90)
    c1, c2 = st.columns(2)
    c1.text_area("Lessons learned", key="rv_lessons", height=90)
    c2.text_area("Benefits realised", key="rv_benefits", height=90)
    st.slider("Overall rating", 1, 5, key="rv_rating", help="1 = failed, 5 = fully achieved its objectives")
    kpi_rows = _kpi_editor()
    fields = {
        k: st.session_state.get(f"rv_{k}")
        for k in (
            "initiative",
            "practices",
            "review_date",
            "period",
            "team",
            "facilitator",
            "root_cause_method",
            "rating",
            *reviews.TEXT_FIELDS,
        )
    }
    fields["participants"] = [p for p in str(st.session_state.get("rv_participants") or "").splitlines() if p.strip()]
    c1, c2, c3, _ = st.columns([1, 1, 1, 3])
    is_submitted = editing and df.set_index("id").get("status", pd.Series()).get(editing) == "submitted"
    draft = None if is_submitted else c1.button("Save draft", key="rv_save_draft")
    send = c2.button("Amend review" if is_submitted else "Submit review", key="rv_submit", type="primary")
    if c3.button("Start over", key="rv_reset", type="tertiary"):
        st.session_state["rv_load_next"] = None
        st.rerun()
    if draft or send:
        saved = edits.save(
            lambda: reviews.save_review(
                engine=eng,
                fields=fields,
                kpis=kpi_rows,
                user=user,
                config=cfg,
                submit=bool(send),
                review_id=editing,
                expected_version=st.session_state.get("rv_edit_version") if editing else None,
            ),
            refused=(reviews.ReviewRefused,),
            conflict_key="rv_conflict",  # the typed text stays in the widgets above
            refused_text="Not saved: {}",
        )
        if saved.ok:
            rid = saved.value
            st.session_state["rv_load_next"] = None
            st.session_state["rv_open"] = rid
            st.session_state["rv_view_next"] = "Reviews"
            st.session_state["rv_flash"] = f"Review #{rid} " + (
                "amended." if is_submitted else "submitted." if send else "saved as a draft."
            )
            st.rerun()
    if st.session_state.get("rv_conflict"):
        st.error(
            f"Not saved: {safety.md(st.session_state['rv_conflict'])} — your text is kept in the form above; "
            "reload to see their change.",
            icon=":material/sync_problem:",
        )
        if st.button("Reload the review (discards your changes)", key="rv_reload", icon=":material/refresh:"):
            st.session_state["rv_load_next"] = reviews.get_review(eng, editing, user)
            st.rerun()
    st.stop()

# ---------------------------------------------------------------- list and one review

if st.session_state.get("rv_flash"):
    st.success(st.session_state.pop("rv_flash"), icon=":material/check_circle:")
if df.empty:
    st.info(
        "No reviews yet. Write the first one under **Write a review** after a change has gone live.",
        icon=":material/info:",
    )
    st.stop()

c = st.columns([2, 1.3, 1, 1, 1.4])
f_text = c[0].text_input("Search the text", key="rv_f_text")
f_practice = c[1].multiselect(
    "Practice", list(PRACTICES), key="rv_f_practice", format_func=PRACTICES.get, placeholder="All"
)
f_team = c[2].multiselect("Team", sorted(df["team"].dropna().unique()), key="rv_f_team", placeholder="All")
f_rating = c[3].multiselect("Rating", [1, 2, 3, 4, 5], key="rv_f_rating", placeholder="All")
span = c[4].date_input("Period", value=(), key="rv_f_period")
p_from = span[0] if len(span) > 0 else None
p_to = span[1] if len(span) > 1 else None
shown = reviews.search_reviews(
    df, text=f_text, practices=f_practice, teams=f_team, ratings=f_rating, period_from=p_from, period_to=p_to
)
table = shown.assign(
    practices=shown["practices"].apply(lambda ps: ", ".join(PRACTICES.get(p, p) for p in ps)),
    kpis=shown["kpis"].apply(lambda ks: ", ".join(kpi_name.get(k, k) for k in ks)),
)
cols = [
    "id",
    "initiative",
    "status",
    "review_date",
    "period",
    "team",
    "practices",
    "rating",
    "kpis",
    "actions",
    "awaiting_verification",
]
st.caption(f"{len(shown)} of {len(df)} reviews · select a row to read it")
event = st.dataframe(
    table[cols],
    hide_index=True,
    width="stretch",
    key="rv_table",
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        "id": st.column_config.NumberColumn("#", format="%d"),
        "review_date": st.column_config.DateColumn("Review date"),
        "period": st.column_config.DateColumn("Period", format="YYYY-MM"),
        "actions": st.column_config.NumberColumn("Actions", format="%d"),
        "awaiting_verification": st.column_config.NumberColumn("Awaiting verification", format="%d"),
    },
)
rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
picked = int(table.iloc[rows[0]]["id"]) if rows else None
if picked is not None and st.session_state.get("rv_table_last") != picked:
    st.session_state["rv_open"] = picked
st.session_state["rv_table_last"] = picked
st.download_button(
    "Download Excel",
    export.to_excel({"Reviews": table.drop(columns=["kpis"]).assign(kpis=table["kpis"])}),
    file_name=f"reviews_{today:%Y%m%d}.xlsx",
    key="rv_excel",
    icon=":material/download:",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    type="tertiary",
)

ids = df["id"].tolist()
if st.session_state.get("rv_open") not in [None, *ids]:
    st.session_state["rv_open"] = None
st.divider()
titles = df.set_index("id")["initiative"]
open_id = st.selectbox(
    "Read a review", [None, *ids], key="rv_open", format_func=lambda i: "—" if i is None else f"#{i} {titles[i]}"
)
if open_id is None:
    st.stop()
r = reviews.get_review(eng, open_id, user)
if r is None:
    st.warning("That review is not available.")
    st.stop()

b1, b2, b3, _ = st.columns([1.3, 1, 1, 2])
if (
    can_manage
    and r["status"] == "submitted"
    and b1.button("Create follow-up action", key="rv_follow_up", icon=":material/add_task:", type="primary")
):
    st.session_state[prefill.SESSION_KEY] = prefill.from_review(r, cfg.kpi_by_id)
    _ui.go(prefill.PAGE_ACTIONS)
may_edit = can_submit and (user.is_self(r["created_by"]) or (r["status"] == "submitted" and can_manage))
if may_edit and b2.button(
    "Amend" if r["status"] == "submitted" else "Edit draft", key="rv_amend", icon=":material/edit:"
):
    st.session_state["rv_load_next"] = r
    st.session_state["rv_view_next"] = "Write a review"
    st.rerun()


def _value(kid: str, v: float) -> str:
    return catalog.format_value(cfg.kpi_by_id[kid], v, cfg.app.currency) if kid in cfg.kpi_by_id else f"{v:g}"


b3.download_button(
    "Markdown",
    export.review_markdown(r, kpi_names=kpi_name, value_format=_value).encode("utf-8"),
    file_name=f"review_{r['id']}.md",
    mime="text/markdown",
    key="rv_md",
    icon=":material/download:",
)

with st.container(border=True):
    st.markdown(export.review_markdown(r, kpi_names=kpi_name, value_format=_value, top=3))
if r["follow_up"]:
    fu = pd.DataFrame(r["follow_up"])
    pick = st.selectbox(
        "Open a follow-up action",
        [None, *fu["id"].tolist()],
        key="rv_open_action",
        format_func=lambda i: (
            "—" if i is None else f"#{i} {fu.set_index('id').at[i, 'title']} ({fu.set_index('id').at[i, 'status']})"
        ),
    )
    if pick is not None and st.button("Open action", key="rv_go_action", icon=":material/open_in_new:"):
        st.session_state[prefill.OPEN_ACTION] = int(pick)
        _ui.go(prefill.PAGE_ACTIONS)
