"""The commentary of KPI trends: the comments on a KPI's periods (as text, never Markdown) and, for who may
comment (the KPI's owner or an editor, kpis.commentary), the form to write or change the one on a period."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from kpis import commentary, periods, safety
from kpis.access.users import NotAllowed
from kpis.config import KPI, AppConfig
from pages._ui import edits
from pages._ui.database import engine
from pages._ui.signin import user as acting_user

SAVED = "comment_saved"
SHOWN = 12


def section(cfg: AppConfig, kpi: KPI, segment: str, series: pd.DataFrame, found: pd.DataFrame) -> None:
    """The comments, newest first, and the form."""
    st.subheader("Commentary")
    if (note := st.session_state.pop(SAVED, None)) is not None:
        st.success(note, icon=":material/check:")
    newest = found.sort_values("period", ascending=False)
    actions, decisions = commentary.links(engine(), kpi.id)
    if newest.empty:
        st.caption(f"No comment on {safety.md(kpi.name)}{' in ' + safety.md(segment) if segment else ''} yet.")
    for _, c in newest.head(SHOWN).iterrows():
        with st.container(border=True, key=f"comment_{c['id']}"):
            linked = (
                [f"action {safety.md(actions.get(c['action_id'], '#' + str(c['action_id'])))}"]
                if pd.notna(c["action_id"])
                else []
            )
            if pd.notna(c["decision_id"]):
                linked.append(f"decision {safety.md(decisions.get(c['decision_id'], '#' + str(c['decision_id'])))}")
            st.caption(
                f"**{periods.label(c['period'], kpi.cadence)}** · {safety.md(c['author'])}"
                + "".join(f" · {x}" for x in linked)
            )
            st.markdown(safety.md(c["text"]))
    if len(newest) > SHOWN:
        st.caption(f"The {SHOWN} newest of {len(newest)} comments.")
    user = acting_user()
    if not commentary.may_comment(user, cfg, kpi.id):
        return
    starts = sorted(pd.to_datetime(series["period"]).unique(), reverse=True)
    if not starts:
        return
    with st.expander("Write a comment", expanded=False, icon=":material/edit_note:"):
        period = st.selectbox(
            "Period",
            starts,
            key="comment_period",
            format_func=lambda p: periods.label(pd.Timestamp(p), kpi.cadence),
        )
        existing = commentary.comment_at(found, kpi.id, period)
        stamp = hashlib.sha256(f"{kpi.id}|{segment}|{pd.Timestamp(period):%Y-%m-%d}".encode()).hexdigest()[:16]
        text = st.text_area(
            "What happened, why, and what is being done",
            value=existing["text"] if existing else "",
            max_chars=commentary.MAX_TEXT,
            key=f"comment_text_{stamp}",
        )
        none = [None]
        action = st.selectbox(
            "Linked action (optional)",
            none + list(actions),
            index=(none + list(actions)).index(existing["action_id"])
            if existing and existing["action_id"] in actions
            else 0,
            format_func=lambda i: "—" if i is None else actions[i],
            key=f"comment_action_{stamp}",
        )
        decision = st.selectbox(
            "Linked decision (optional)",
            none + list(decisions),
            index=(none + list(decisions)).index(existing["decision_id"])
            if existing and existing["decision_id"] in decisions
            else 0,
            format_func=lambda i: "—" if i is None else decisions[i],
            key=f"comment_decision_{stamp}",
        )
        if not st.button("Save comment", type="primary", icon=":material/save:", key=f"comment_save_{stamp}"):
            return
        saved = edits.save(
            lambda: commentary.save_comment(
                engine(),
                cfg,
                user,
                kpi_id=kpi.id,
                segment=segment,
                period=pd.Timestamp(period),
                text=text,
                action_id=action,
                decision_id=decision,
                expected_version=int(existing["version"]) if existing else None,
            ),
            refused=(commentary.CommentRefused, NotAllowed),
            conflict_text="Not saved: {}. Your text is kept above; reload the page to see the comment as it is now.",
        )
        if saved.ok:
            st.session_state[SAVED] = f"Comment on {periods.label(pd.Timestamp(period), kpi.cadence)} saved."
            st.rerun()
