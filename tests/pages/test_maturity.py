"""Assess and Maturity pages with AppTest: submit, resubmit replaces, a viewer sees no form; the Maturity page
on the demo, on an empty database and with one quarter only."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpis.access.users import User
from kpis.config import PRACTICES
from kpis.maturity import assessments
from kpis.maturity.assessments import Answers, quarter_label
from kpis.store.engine import make_engine

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def _page(path: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(path).run()
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [i.value for i in at.info] + [e.value for e in at.error] + [s.value for s in at.subheader]
    parts += [s.value for s in at.success]
    return "\n".join(str(p) for p in parts)


@pytest.fixture
def ann_env(empty_env, monkeypatch, tmp_path):
    """Pages on an empty database, acting as 'ann' with the contributor role (a config copy says so)."""
    text = (
        (ROOT / "config.toml")
        .read_text(encoding="utf-8")
        .replace('"viewer" = "viewer"', '"viewer" = "viewer"\n"ann" = "contributor"')
    )
    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SOP_PULSE_CONFIG", str(cfg))
    monkeypatch.setenv("SOP_PULSE_USER", "ann")
    eng = make_engine(empty_env)
    yield eng
    eng.dispose()


def _fill(at: AppTest, label: str, level: int, team: str = "Demand planning") -> None:
    at.selectbox(key=f"assess_team_{label}").set_value(team)
    at.selectbox(key=f"assess_function_{label}").set_value("sales")
    for p in PRACTICES:
        at.radio(key=f"assess_score_{p}_{label}").set_value("dk" if p == "partners" else level)
    at.text_area(key=f"assess_comment_data_{label}").input("Two versions of the history <script>")


def _colleague(engine, team: str = "Demand planning") -> None:
    """Someone else already answered last quarter, so the team is offered in the list (AppTest cannot type a new
    option into a selectbox; the browser test does)."""
    before = assessments.shift_quarter(assessments.current_quarter(), -1)
    assessments.submit(
        engine,
        answers=Answers(
            period=before, respondent="bob", team=team, function="sales", scores=dict.fromkeys(PRACTICES, 3)
        ),
        user=User("x", "admin"),
    )


def test_assess_submit_then_resubmit_replaces(ann_env):
    _colleague(ann_env)
    label = quarter_label(assessments.current_quarter())
    at = _page("pages/assess.py")
    assert not at.exception
    assert "Assess integration maturity" in _texts(at)
    radio = at.radio(key=f"assess_score_collaboration_{label}")
    assert any("Silos, ad-hoc calls" in str(o) for o in radio.options)  # the rubric text is in the choice
    _fill(at, label, 3)
    at.button(key="assess_submit").click().run()
    assert not at.exception
    assert f"your assessment for {label} is saved" in _texts(at)
    saved = assessments.answers_of(ann_env, "ann", assessments.current_quarter())
    assert saved.scores["process"] == 3 and saved.scores["partners"] is None
    assert saved.comments["data"] == "Two versions of the history <script>"
    assert "You already answered" in _texts(at)
    assert at.radio(key=f"assess_score_process_{label}").value == 3  # the form shows the saved answers
    at.radio(key=f"assess_score_process_{label}").set_value(4)
    at.button(key="assess_submit").click().run()
    assert not at.exception
    assert "were replaced" in _texts(at)
    assert assessments.answers_of(ann_env, "ann", assessments.current_quarter()).scores["process"] == 4
    mine = assessments.load_scores(ann_env).query("respondent == 'ann'")
    assert len(mine) == len(PRACTICES)  # one assessment, not two


def test_assess_refuses_incomplete_form(ann_env):
    label = quarter_label(assessments.current_quarter())
    at = _page("pages/assess.py")
    at.radio(key=f"assess_score_data_{label}").set_value(2)
    at.button(key="assess_submit").click().run()
    assert not at.exception
    err = " ".join(e.value for e in at.error)
    assert "Please answer everything" in err and "your team" in err and "Cross-functional collaboration" in err
    assert assessments.load_scores(ann_env).empty


def test_assess_shows_last_quarter_for_reference(ann_env):
    before = assessments.shift_quarter(assessments.current_quarter(), -1)
    assessments.submit(
        ann_env,
        answers=Answers(
            period=before,
            respondent="ann",
            team="Sales",
            function="sales",
            scores=dict.fromkeys(PRACTICES, 2),
            comments={"data": "late data"},
        ),
        user=User("ann", "contributor"),
    )
    at = _page("pages/assess.py")
    assert not at.exception
    text = _texts(at)
    assert f"Your answer in {quarter_label(before)}: 2 · Defined" in text
    assert "Your comment then: late data" in [t.value for t in at.text]
    label = quarter_label(assessments.current_quarter())
    assert at.selectbox(key=f"assess_team_{label}").value == "Sales"


def test_viewer_sees_no_form(empty_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "viewer")
    at = _page("pages/assess.py")
    assert not at.exception
    assert "needs the contributor role" in _texts(at)
    assert len(at.radio) == 0 and len(at.button) == 0 and len(at.text_area) == 0


def test_maturity_page_on_empty_database(empty_env):
    at = _page("pages/maturity.py")
    assert not at.exception
    assert "No maturity assessments yet" in _texts(at)
    assert len(at.get("plotly_chart")) == 0


def test_maturity_page_with_one_quarter_only(ann_env, monkeypatch):
    q = assessments.current_quarter()
    for who, team, level in (("ann", "Sales", 2), ("bob", "Finance", 4)):
        assessments.submit(
            ann_env,
            answers=Answers(
                period=q, respondent=who, team=team, function="sales", scores=dict.fromkeys(PRACTICES, level)
            ),
            user=User("x", "admin"),
        )
    at = _page("pages/maturity.py")
    assert not at.exception
    text = _texts(at)
    assert "Only one quarter answered so far" in text and "not enough data for a trend" in text
    assert "Too few quarters to compare" in text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[f"Maturity index {quarter_label(q)}"] == "3.00" and metrics["No consensus"] == "10 practices"
    assert metrics["Trend"] == "Too few quarters"


def test_maturity_page_on_demo(demo_env, config):
    at = _page("pages/maturity.py")
    assert not at.exception
    text = _texts(at)
    assert "Trend: improving" in text
    assert {m.label for m in at.metric} >= {"Respondents", "No consensus", "Trend"}
    assert "Data integration and standardization" in at.dataframe[1].value["practice"].tolist()  # no consensus
    assert "Spearman's ρ" in text and "not proof" in text
    assert "Not answered yet in" in text
    assert len(at.get("plotly_chart")) >= 5
    at.selectbox(key="mat_team_period").set_value(at.selectbox(key="mat_team_period").options[-1]).run()
    assert not at.exception
    at.selectbox(key="mat_measure").set_value("sponsorship").run()
    assert not at.exception
    assert any("sponsorship" in d.value.columns for d in at.dataframe)  # the KPI table now pairs the practice


def test_create_action_button_only_when_the_actions_page_exists(demo_env):
    at = _page("pages/maturity.py")
    has_page = (ROOT / "pages" / "actions.py").is_file()
    keys = [b.key for b in at.button if b.key and b.key.startswith("mat_new_action_")]
    assert bool(keys) == has_page
