"""Assess: score the ten integration practices for a quarter against the rubric (one form per person and quarter)."""

import streamlit as st

from kpis import safety
from kpis.access.users import NotAllowed
from kpis.config import FUNCTIONS, PRACTICES
from kpis.maturity import assessments, rubric
from kpis.maturity.assessments import Answers, quarter_label
from pages import _ui

cfg = _ui.config()
eng = _ui.engine()
user = _ui.user()
rub = rubric.rubric(cfg)
DONT_KNOW = "dk"
FLASH = "assess_flash"

st.title("Assess integration maturity")
st.caption(
    "Each quarter, score how your organisation works today on each of the ten S&OP integration practices. "
    'Pick the level whose description fits best, or "Don\'t know". Your answers are combined with everyone '
    "else's on the Maturity page."
)

if not user.can("submit"):
    st.info(
        f"You are signed in as {safety.md(user.display or user.name)} ({user.role}). "
        "Answering the assessment needs the contributor role or higher; ask an admin. You can still see the results.",
        icon=":material/lock:",
    )
    st.page_link(_ui.PAGE_MATURITY, label="See the maturity results", icon=":material/radar:")
    st.stop()

if FLASH in st.session_state:
    st.success(st.session_state.pop(FLASH), icon=":material/check_circle:")
    st.page_link(_ui.PAGE_MATURITY, label="See the maturity results", icon=":material/radar:")

this_q = assessments.current_quarter()
choices = [assessments.shift_quarter(this_q, -i) for i in range(4)]
period = st.selectbox(
    "Quarter",
    choices,
    format_func=lambda q: quarter_label(q) + (" (this quarter)" if q == this_q else ""),
    key="assess_period",
)
label = quarter_label(period)
mine = assessments.answers_of(eng, user.known_as, period)
before = assessments.last_answers(eng, user.known_as, period)
known_teams = assessments.teams(_ui.assessment_scores())

if mine is not None:
    st.info(
        f"You already answered {label}. Your answers are filled in below; submitting again replaces them "
        "(the earlier answers stay in the audit log).",
        icon=":material/edit_note:",
    )
if before is not None:
    st.caption(f"Your last answers ({quarter_label(before.period)}) are shown beside each practice for reference.")

source = mine or before
with st.form(f"assess_form_{label}", border=False):
    c1, c2 = st.columns(2)
    team_options = sorted(set(known_teams) | ({source.team} if source else set()))
    team = c1.selectbox(
        "Your team",
        team_options,
        index=team_options.index(source.team) if source else None,
        key=f"assess_team_{label}",
        accept_new_options=True,
        placeholder="Choose or type your team",
        help="Type a new name if your team is not listed",
    )
    function = c2.selectbox(
        "Your function",
        FUNCTIONS,
        key=f"assess_function_{label}",
        index=FUNCTIONS.index(source.function) if source and source.function in FUNCTIONS else None,
        format_func=str.capitalize,
        placeholder="Choose your function",
    )
    options = [1, 2, 3, 4, 5, DONT_KNOW]
    picked: dict[str, object] = {}
    notes: dict[str, str] = {}
    for i, p in enumerate(PRACTICES, 1):
        with st.container(border=True):
            st.subheader(f"{i}. {rubric.practice_name(p)}", anchor=False)
            left, right = st.columns([3, 2])
            current = None
            if mine is not None:
                current = DONT_KNOW if mine.scores.get(p) is None else mine.scores[p]
            picked[p] = left.radio(
                "Level",
                options,
                index=options.index(current) if current is not None else None,
                key=f"assess_score_{p}_{label}",
                label_visibility="collapsed",
                format_func=lambda v, p=p: (
                    "Don't know"
                    if v == DONT_KNOW
                    else f"**{rub.level_name(v)}** — {rub.text(p, v) or '(no rubric text in config.toml)'}"
                ),
            )
            target = rub.target(p)
            if target:
                right.caption(f"Target level: {rub.level_name(target)}")
            if before is not None:
                last = before.scores.get(p)
                right.caption(
                    f"Your answer in {quarter_label(before.period)}: "
                    + ("don't know" if last is None else rub.level_name(last))
                )
                if before.comments.get(p):
                    right.text(f"Your comment then: {before.comments[p]}")
            notes[p] = right.text_area(
                "Comment (optional)",
                value=(mine.comments.get(p, "") if mine else ""),
                key=f"assess_comment_{p}_{label}",
                max_chars=assessments.MAX_COMMENT,
                height=80,
                placeholder="Why this level? What would move it up?",
            )
    overall = st.text_area(
        "Anything else? (optional)",
        value=mine.comment if mine else "",
        key=f"assess_overall_{label}",
        max_chars=assessments.MAX_COMMENT,
    )
    sent = st.form_submit_button(
        "Replace my answers" if mine else "Submit my assessment",
        type="primary",
        key="assess_submit",
        icon=":material/send:",
    )

if sent:
    missing = [rubric.practice_name(p) for p, v in picked.items() if v is None]
    if not team or not function or missing:
        need = (["your team"] if not team else []) + (["your function"] if not function else [])
        st.error("Please answer everything before submitting: " + ", ".join(need + missing) + ".")
        st.stop()
    answers = Answers(
        period=period,
        respondent=user.known_as,
        team=str(team).strip(),
        function=str(function),
        scores={p: (None if v == DONT_KNOW else int(v)) for p, v in picked.items()},
        comments={p: n.strip() for p, n in notes.items() if n.strip()},
        comment=overall.strip(),
    )
    try:
        outcome = assessments.submit(eng, answers=answers, user=user)
    except (NotAllowed, ValueError) as e:
        st.error(f"Not saved: {safety.md(str(e))}")
    else:
        st.session_state[FLASH] = {
            "inserted": f"Thank you — your assessment for {label} is saved.",
            "updated": f"Your answers for {label} were replaced; the earlier ones are kept in the audit log.",
            "unchanged": f"Nothing changed: these are the answers already saved for {label}.",
        }[outcome]
        st.rerun()
