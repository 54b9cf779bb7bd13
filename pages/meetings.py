"""Meetings & decisions: log the S&OP cycle's meetings, the decision register, cycle adherence."""

import datetime as dt

import pandas as pd
import streamlit as st

from kpis import safety
from kpis.access import rules
from kpis.access.users import NotAllowed
from kpis.catalog import units
from kpis.sponsorship import cycle
from kpis.sponsorship import decisions as dec
from kpis.sponsorship import meetings as mt
from pages import _ui
from pages._ui import edits

cfg = _ui.config()
eng = _ui.engine()
user = _ui.user()
st.title("S&OP meetings and decisions")
st.caption(
    "The monthly cycle — data review, demand review, supply review, reconciliation, executive S&OP — "
    "who was invited and who came, and the decisions taken. Import many at once on the **Data** page."
)

FLASH = "mt_flash"  # a success message carried over the rerun that refreshes the tables
if FLASH in st.session_state:
    st.success(st.session_state.pop(FLASH))

people = mt.known_people(eng, cfg)
kpi_names = {k.id: k.name for k in cfg.kpis}
can_write = user.can("submit")
today = dt.date.today()


def _problems(title: str, problems: list[str]) -> None:
    st.error(title)
    st.dataframe(pd.DataFrame({"problem": problems}), hide_index=True, width="stretch")


def _not_changed(e: Exception) -> None:
    if isinstance(e, mt.MeetingError):
        _problems("The meeting was not changed:", e.problems)
    else:
        st.error(safety.md(str(e)))


def _decision_label(row) -> str:
    text = str(row["text"])
    age = units.count(row["age_days"], "day")
    return f"#{row['id']} · {text[:70]}{'…' if len(text) > 70 else ''} · {row['owner']} · {age}"


tab_register, tab_log, tab_cycle, tab_list = st.tabs(
    ["Decision register", "Log a meeting", "Cycle adherence", "Meetings"]
)

# ---------------------------------------------------------------- decision register
with tab_register:
    c1, c2, c3 = st.columns(3)
    owners = sorted({*people})
    if st.session_state.get(_ui.REGISTER_OWNER) not in [None, *owners]:  # a link naming someone not listed
        st.session_state[_ui.REGISTER_OWNER] = None
    owner = c1.selectbox("Owner", [None, *owners], key=_ui.REGISTER_OWNER, format_func=lambda o: o or "All owners")
    kpi = c2.selectbox("KPI", [None, *kpi_names], key="reg_kpi", format_func=lambda k: kpi_names.get(k, "All KPIs"))
    show = c3.radio("Show", ["Pending", "All"], key="reg_show", horizontal=True)
    reg = dec.register(eng, today=today, owner=owner, kpi_id=kpi)
    pending = reg[reg["status"] == "pending"]
    older = int((pending["age_days"] > cfg.sponsorship.cycle_days).sum()) if len(pending) else 0
    st.caption(
        f"{len(pending)} pending ({older} open longer than one cycle of {cfg.sponsorship.cycle_days} days) · "
        f"{len(reg) - len(pending)} decided · pending first, oldest first; age = days pending, or days it "
        "took to decide."
    )
    shown = pending if show == "Pending" else reg
    if shown.empty:
        st.info(
            "No decisions match."
            if len(reg) or owner or kpi
            else "No decisions yet. Log a meeting with its decisions, raise one below, or import a decisions file."
        )
    else:
        table = shown.assign(
            kpi=shown["kpi_id"].map(kpi_names).fillna(""),
            decided_on=shown["decided_on"].map(lambda d: "" if d is None or pd.isna(d) else str(d)),
            ref=shown["ref"].fillna(""),
        )
        st.dataframe(
            table[["status", "age_days", "text", "owner", "raised_on", "decided_on", "meeting", "kpi", "ref"]],
            hide_index=True,
            width="stretch",
            key="reg_table",
            column_config={
                "status": "Status",
                "age_days": st.column_config.NumberColumn("Age (days)"),
                "text": st.column_config.TextColumn("Decision", width="large"),
                "owner": "Owner",
                "raised_on": "Raised",
                "decided_on": "Decided",
                "meeting": "Meeting",
                "kpi": "KPI",
                "ref": "Ref",
            },
        )
    # Only the decisions this user may decide: editors, or the decision's owner (kpis.access.rules).
    pending = pending[[rules.may(user, "decide", o) for o in pending["owner"]]] if len(pending) else pending
    if can_write and len(pending):
        st.subheader("Act on a pending decision")
        options = list(pending["id"])
        if st.session_state.get("reg_decision") not in options:  # a link to a decision this filter hides
            st.session_state.pop("reg_decision", None)
        labels = {r["id"]: _decision_label(r) for _, r in pending.iterrows()}
        chosen = st.selectbox("Decision", options, format_func=labels.get, key="reg_decision")
        row = pending[pending["id"] == chosen].iloc[0]
        a1, a2, a3 = st.columns([1, 1, 2])
        when = a1.date_input(
            "Decided on", value=max(today, row["raised_on"]), min_value=row["raised_on"], key="reg_decided_on"
        )
        if a2.button("Mark decided", key="reg_decide", type="primary", icon=":material/gavel:"):
            decided = edits.save(
                lambda: dec.decide(eng, decision_id=int(chosen), decided_on=when, user=user, only_if_pending=True),
                refused=(dec.DecisionError, NotAllowed),
                conflict_text="Not marked: {}; reload to see their date.",
            )
            if decided.ok:
                st.session_state[FLASH] = f"Decision #{chosen} marked decided on {when}."
                st.rerun()
        if _ui.page_exists(_ui.PAGE_ACTIONS) and user.can("manage_actions"):
            if a3.button("Create an improvement action", key="reg_spawn", icon=":material/add_task:"):
                st.session_state["action_prefill"] = {
                    "title": str(row["text"])[:200],
                    "description": str(row["text"]),
                    "source": "meeting_decision",
                    "decision_id": int(chosen),
                    "kpi_id": row["kpi_id"],
                    "owner": row["owner"],
                    "sponsor": row["owner"] if row["owner"] in {e.name for e in cfg.executives} else None,
                }
                _ui.go(_ui.PAGE_ACTIONS)
    if can_write:
        with st.expander("Raise a decision outside a meeting"), st.form("raise_form", clear_on_submit=True):
            text = st.text_area("Decision (what is to be decided)", key="raise_text", max_chars=dec.MAX_TEXT)
            r1, r2, r3 = st.columns(3)
            r_owner = r1.selectbox("Owner", people, key="raise_owner", index=None, accept_new_options=True)
            r_kpi = r2.selectbox(
                "KPI (optional)", [None, *kpi_names], key="raise_kpi", format_func=lambda k: kpi_names.get(k, "—")
            )
            r_raised = r3.date_input("Raised on", value=today, key="raise_on")
            if st.form_submit_button("Raise decision", type="primary"):
                d = dec.DecisionInput(text=text or "", raised_on=r_raised, owner=r_owner or "", kpi_id=r_kpi)
                try:
                    did = dec.raise_decision(eng, decision=d, config=cfg, user=user)
                except dec.DecisionError as e:
                    _problems("The decision was not saved:", e.problems)
                except NotAllowed as e:
                    st.error(safety.md(str(e)))
                else:
                    st.session_state[FLASH] = f"Decision #{did} raised; it is pending until marked decided."
                    st.rerun()

# ---------------------------------------------------------------- log a meeting
with tab_log:
    if not can_write:
        st.info(
            f"You are signed in as {safety.md(user.display or user.name)} ({user.role}). "
            "Logging meetings needs the contributor role or above."
        )
    else:
        with st.form("meeting_form"):
            f1, f2, f3 = st.columns(3)
            m_type = f1.selectbox("Step", mt.STEPS, index=len(mt.STEPS) - 1, key="mt_type")
            m_date = f2.date_input("Date", value=today, key="mt_date")
            m_chair = f3.selectbox(
                "Chair", people, index=None, key="mt_chair", accept_new_options=True, placeholder="Who chaired"
            )
            execs = [e.name for e in cfg.executives]
            invited = st.multiselect("Invited", people, default=execs, key="mt_invited", accept_new_options=True)
            attended = st.multiselect(
                "Attended (people not invited count as guests or delegates)",
                people,
                key="mt_attended",
                accept_new_options=True,
            )
            notes = st.text_area("Notes", key="mt_notes", max_chars=mt.MAX_NOTES)
            st.markdown(
                "**Decisions taken or raised** (leave a row empty to skip; tick *decided* when it was decided "
                "in the meeting, otherwise it is pending)"
            )
            rows = []
            for i in range(3):
                d1, d2, d3, d4 = st.columns([4, 2, 2, 1])
                rows.append(
                    (
                        d1.text_input(f"Decision {i + 1}", key=f"mt_dec_text_{i}"),
                        d2.selectbox("Owner", people, index=None, key=f"mt_dec_owner_{i}", accept_new_options=True),
                        d3.selectbox(
                            "KPI",
                            [None, *kpi_names],
                            key=f"mt_dec_kpi_{i}",
                            format_func=lambda k: kpi_names.get(k, "—"),
                        ),
                        d4.checkbox("decided", key=f"mt_dec_done_{i}"),
                    )
                )
            submitted = st.form_submit_button("Log meeting", type="primary", icon=":material/save:")
        if submitted:
            decisions = tuple(
                dec.DecisionInput(
                    text=t, raised_on=m_date, owner=o or "", kpi_id=k, decided_on=m_date if done else None
                )
                for t, o, k, done in rows
                if t.strip()
            )
            meeting = mt.MeetingInput(
                type=m_type,
                date=m_date,
                chair=m_chair or "",
                invited=tuple(invited),
                attended=tuple(attended),
                notes=notes or None,
                decisions=decisions,
            )
            try:
                mid = mt.log_meeting(eng, meeting=meeting, config=cfg, user=user)
            except mt.MeetingError as e:
                _problems("The meeting was not saved — nothing was written:", e.problems)
            except NotAllowed as e:
                st.error(safety.md(str(e)))
            else:
                st.session_state[FLASH] = (
                    f"Logged the {m_type} of {m_date} (meeting #{mid}) with {len(decisions)} "
                    f"decision{'s' if len(decisions) != 1 else ''}."
                )
                st.rerun()

# ---------------------------------------------------------------- cycle adherence
with tab_cycle:
    grid = mt.cycle_grid(mt.meeting_dates(eng))
    if grid.empty:
        st.info("No meetings yet: log one, or import a meetings file on the Data page.")
    else:
        share = mt.cycle_share(grid)
        done = int(cycle.complete(grid).sum())
        st.caption(
            f"A cycle is complete when every one of the five steps was held in the month. "
            f"{done} of {len(grid)} months complete."
        )
        st.bar_chart(
            share.assign(**{"Complete cycles (%)": share["share"] * 100}).set_index("quarter")[["Complete cycles (%)"]],
            height=220,
        )
        st.dataframe(cycle.marks(grid.iloc[::-1].head(24)), width="stretch", key="cycle_grid")

# ---------------------------------------------------------------- meetings
with tab_list:
    meetings = mt.list_meetings(eng)
    if meetings.empty:
        st.info("No meetings yet.")
    else:
        st.dataframe(
            meetings.drop(columns=["id", "version"]),
            hide_index=True,
            width="stretch",
            key="mt_list",
            column_config={"notes": st.column_config.TextColumn("Notes", width="large")},
        )
        labels = {r["id"]: f"{r['date']} · {r['type']} · chair {r['chair']}" for _, r in meetings.head(200).iterrows()}
        chosen = st.selectbox("Meeting", list(labels), format_func=labels.get, key="mt_pick")
        p1, p2 = st.columns(2)
        with p1:
            st.markdown("**People**")
            st.dataframe(mt.people(eng, chosen), hide_index=True, width="stretch", key="mt_people")
        with p2:
            st.markdown("**Decisions**")
            st.dataframe(dec.meeting_decisions(eng, chosen), hide_index=True, width="stretch", key="mt_decisions")
        chair = meetings.loc[meetings["id"] == chosen, "chair"].iloc[0]
        if rules.may(user, "edit meeting", chair):  # editors, or the meeting's chair (kpis.access.rules)
            m = meetings[meetings["id"] == chosen].iloc[0]
            ppl = mt.people(eng, chosen)
            with st.expander("Correct this meeting (step, date, chair, people, notes)"):
                # The form is seeded once per meeting with the version it shows; a save names that version, so a
                # correction someone saved since is not overwritten (the typed values stay in the form).
                seed = f"ed_seeded_{chosen}"
                if st.session_state.get(seed) is None:
                    st.session_state.update(
                        {
                            seed: int(m["version"]),
                            f"ed_type_{chosen}": m["type"],
                            f"ed_date_{chosen}": m["date"],
                            f"ed_chair_{chosen}": m["chair"],
                            f"ed_inv_{chosen}": list(ppl.loc[ppl["invited"], "person"]),
                            f"ed_att_{chosen}": list(ppl.loc[ppl["attended"], "person"]),
                            f"ed_notes_{chosen}": mt.notes_text(m["notes"]),
                        }
                    )
                    st.session_state.pop(f"ed_conflict_{chosen}", None)
                with st.form(f"edit_form_{chosen}"):
                    e1, e2, e3 = st.columns(3)
                    e_type = e1.selectbox("Step", mt.STEPS, key=f"ed_type_{chosen}")
                    e_date = e2.date_input("Date", key=f"ed_date_{chosen}")
                    options = sorted(
                        {
                            *people,
                            *ppl["person"],
                            m["chair"],
                            st.session_state[f"ed_chair_{chosen}"],
                            *st.session_state[f"ed_inv_{chosen}"],
                            *st.session_state[f"ed_att_{chosen}"],
                        }
                    )
                    e_chair = e3.selectbox("Chair", options, key=f"ed_chair_{chosen}", accept_new_options=True)
                    e_inv = st.multiselect("Invited", options, key=f"ed_inv_{chosen}", accept_new_options=True)
                    e_att = st.multiselect("Attended", options, key=f"ed_att_{chosen}", accept_new_options=True)
                    e_notes = st.text_area("Notes", key=f"ed_notes_{chosen}", max_chars=mt.MAX_NOTES)
                    if st.form_submit_button("Save changes", type="primary"):
                        changed = mt.MeetingInput(
                            type=e_type,
                            date=e_date,
                            chair=e_chair or "",
                            invited=tuple(e_inv),
                            attended=tuple(e_att),
                            notes=e_notes or None,
                        )
                        updated = edits.save(
                            lambda: mt.update_meeting(
                                eng,
                                meeting_id=int(chosen),
                                meeting=changed,
                                config=cfg,
                                user=user,
                                expected_version=st.session_state[seed],
                            ),
                            refused=(mt.MeetingError, NotAllowed),
                            conflict_key=f"ed_conflict_{chosen}",
                            show_refused=_not_changed,
                        )
                        if updated.ok:
                            st.session_state.pop(seed, None)
                            st.session_state[FLASH] = f"Meeting #{chosen} updated."
                            st.rerun()
                if st.session_state.get(f"ed_conflict_{chosen}"):
                    st.error(
                        f"Not saved: {safety.md(st.session_state[f'ed_conflict_{chosen}'])} — your text is kept "
                        "in the form above; reload to see their change.",
                        icon=":material/sync_problem:",
                    )
                    if st.button(
                        "Reload the meeting (discards your changes)",
                        key=f"ed_reload_{chosen}",
                        icon=":material/refresh:",
                    ):
                        st.session_state.pop(seed, None)
                        st.rerun()
