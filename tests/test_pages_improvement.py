"""The Reviews and Actions pages (and the improvement hooks on Overview, KPI trends and Exceptions) driven with
AppTest: demo data, a viewer (no forms), an empty database, and the create / move / verify flow."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")


@pytest.fixture
def demo_copy(monkeypatch, demo_db, tmp_path):
    """A private copy of the demo database (these tests write), acting as an admin."""
    src = Path(demo_db.split("///", 1)[1])
    dst = tmp_path / "demo_copy.db"
    shutil.copy(src, dst)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{dst}")
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    monkeypatch.chdir(ROOT)
    return f"sqlite:///{dst}"


def _page(path: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [i.value for i in at.info] + [e.value for e in at.error] + [s.value for s in at.success]
    parts += [s.value for s in at.subheader] + [w.value for w in at.warning] + [t.value for t in at.text]
    return "\n".join(str(p) for p in parts)


def _labels(at: AppTest) -> set[str]:
    return {b.label for b in at.button}


# ---------------------------------------------------------------- Actions page


def test_actions_page_lists_the_demo_log_with_overdue_and_awaiting(demo_env):
    at = _page("pages/actions.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Awaiting verification"] == "3"
    assert int(metrics["Overdue"]) >= 3
    df = at.dataframe[0].value
    assert len(df) == 16 and {"Run the consensus demand review every month", "Second demand planner for APAC"} <= set(
        df["title"])
    at.multiselect(key="act_f_status").set_value(["not effective"]).run()
    assert set(at.dataframe[0].value["title"]) == {"Launch checklist for new products",
                                                  "Sales overrides promotion forecasts weekly"}
    at.multiselect(key="act_f_status").set_value([]).run()
    at.toggle(key="act_f_overdue").set_value(True).run()
    assert (at.dataframe[0].value["days_overdue"] > 0).all()


@pytest.mark.parametrize("view", ["Board", "My actions", "Charts", "New action"])
def test_actions_views_render(demo_env, view):
    at = _page("pages/actions.py")
    at.segmented_control(key="act_view").set_value(view).run()
    assert not at.exception
    if view == "Charts":
        assert len(at.get("plotly_chart")) == 3
    if view == "Board":
        assert "**Verified** · 5" in _texts(at)


def test_a_frozen_verdict_is_shown_with_who_decided(demo_env):
    at = _page("pages/actions.py")
    at.selectbox(key="act_open").set_value(7).run()      # "Sales overrides promotion forecasts weekly"
    text = _texts(at)
    assert "Worse:" in text and "Frozen when Richard Osei marked the action" in text
    assert len(at.get("plotly_chart")) == 1
    assert "Mark verified" not in _labels(at)


def test_create_move_to_done_and_verify(demo_copy):
    at = _page("pages/actions.py")
    at.segmented_control(key="act_view").set_value("New action").run()
    at.text_input(key="act_new_title").set_value("Shorter promo lead time")
    at.text_input(key="act_new_owner").set_value("Aisha Rahman")
    at.selectbox(key="act_new_kpi_id").set_value("promo_forecast_accuracy")
    at.selectbox(key="act_new_expected_direction").set_value("higher")
    at.button(key="FormSubmitter:act_new_form-Create action").click().run()
    assert not at.exception
    assert "Action #17 created." in _texts(at)
    assert at.selectbox(key="act_open").value == 17
    at.button(key="act_move_in_progress").click().run()
    at.date_input(key="act_done_date").set_value(dt.date(2024, 6, 1))
    at.button(key="act_move_done").click().run()
    assert "moved from 'in progress' to 'done'" in _texts(at)
    assert "Verdict: improved" in [b.label for b in at.get("badge")] or "Improved:" in _texts(at)
    at.button(key="act_move_verified").click().run()
    text = _texts(at)
    assert "moved from 'done' to 'verified'" in text and "Frozen when tester marked" in text


def test_create_refused_shows_the_reason(demo_copy):
    at = _page("pages/actions.py")
    at.segmented_control(key="act_view").set_value("New action").run()
    at.text_input(key="act_new_title").set_value("No owner")
    at.button(key="FormSubmitter:act_new_form-Create action").click().run()
    assert "The action was not created: owner is required" in _texts(at)


def test_viewer_sees_no_forms_and_no_moves(demo_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "viewer")
    at = _page("pages/actions.py")
    assert "New action" not in at.segmented_control(key="act_view").options
    at.selectbox(key="act_open").set_value(4).run()     # done, awaiting verification
    assert not at.exception
    labels = _labels(at)
    assert not {"Mark verified", "Mark not effective", "In progress", "Done"} & labels
    assert len(at.get("form")) == 0 if hasattr(at, "get") else True


def test_empty_database_actions(empty_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    at = _page("pages/actions.py")
    assert "No improvement actions yet" in _texts(at)
    monkeypatch.setenv("SOP_PULSE_USER", "viewer")
    at = _page("pages/actions.py")
    assert "No improvement actions yet" in _texts(at)
    assert not at.segmented_control


def test_hostile_title_renders_as_text(demo_copy):
    at = _page("pages/actions.py")
    at.segmented_control(key="act_view").set_value("New action").run()
    at.text_input(key="act_new_title").set_value("<b>x</b> [link](http://evil.example) ![i](http://e/i.png)")
    at.text_input(key="act_new_owner").set_value("Eve")
    at.button(key="FormSubmitter:act_new_form-Create action").click().run()
    heads = [s.value for s in at.subheader]
    # a word joiner after "http" keeps GFM from linking the address (kpis.safety.md)
    assert heads and "\\<b\\>" in heads[0] and "\\[link\\]\\(http\u2060\\:" in heads[0]


# ---------------------------------------------------------------- prefill from other pages


def test_kpi_trends_marks_completed_actions_and_reviews(demo_env):
    at = _page("pages/kpi_trends.py")
    at.selectbox(key="trend_kpi").set_value("supplier_otif").run()
    fig = at.get("plotly_chart")[0].proto.spec
    assert "Completed action" in fig and "Review" in fig
    options = at.selectbox(key="trend_mark").options
    assert any("Supplier collaboration portal" in o for o in options)
    at.button(key="trend_open_mark").click().run()
    assert not at.exception


def test_exceptions_create_action_prefills_the_item(demo_env):
    at = _page("pages/exceptions.py")
    at.button(key="ex_create_action").click().run()
    assert not at.exception
    assert at.text_input(key="act_new_title").value.startswith("Fix the forecast of SKU-")
    assert at.text_input(key="act_new_source_note").value.startswith("Forecast exception SKU-")


def test_overview_links_actions_awaiting_verification(demo_env):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert "3 done improvement actions await verification" in [p.proto.label for p in at.get("page_link")]


# ---------------------------------------------------------------- Reviews page


def test_reviews_page_lists_and_opens_a_review_document(demo_env):
    at = _page("pages/reviews.py")
    assert at.title[0].value == "Post-implementation reviews"
    assert len(at.dataframe[0].value) == 5
    at.text_input(key="rv_f_text").set_value("collaboration portal").run()
    assert at.dataframe[0].value["initiative"].tolist() == ["Supplier collaboration portal live"]
    rid = int(at.dataframe[0].value["id"].iloc[0])
    at.selectbox(key="rv_open").set_value(rid).run()
    text = _texts(at)
    assert "#### What went well" in text and "#### KPIs" in text and "Follow-up actions" in text
    assert "Create follow-up action" in _labels(at)


def test_follow_up_action_from_a_review_is_prefilled(demo_env):
    at = _page("pages/reviews.py")
    rid = int(at.dataframe[0].value["id"].iloc[-1])
    at.selectbox(key="rv_open").set_value(rid).run()
    at.button(key="rv_follow_up").click().run()
    assert not at.exception
    assert at.selectbox(key="act_new_source").value == "pir"
    assert at.selectbox(key="act_new_review_id").value == rid


def test_write_and_submit_a_review_with_a_kpi(demo_copy):
    at = _page("pages/reviews.py")
    at.segmented_control(key="rv_view").set_value("Write a review").run()
    at.text_input(key="rv_initiative").set_value("Safety stock by XYZ class")
    at.multiselect(key="rv_practices").set_value(["alignment"])
    at.text_input(key="rv_team").set_value("Supply planning")
    at.text_input(key="rv_facilitator").set_value("Julia Weber")
    at.date_input(key="rv_baseline_period").set_value(dt.date(2025, 1, 1))
    at.date_input(key="rv_actual_period").set_value(dt.date(2026, 6, 1))
    at.multiselect(key="rv_kpis").set_value(["fill_rate"]).run()
    assert not at.exception
    assert "Baseline and actual come from the KPI's data" in _texts(at)
    at.button(key="rv_submit").click().run()
    assert not at.exception
    assert "submitted." in _texts(at)
    text = _texts(at)
    assert "| Order fill rate |" in text, text


def test_viewer_sees_reviews_but_no_forms(demo_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "viewer")
    at = _page("pages/reviews.py")
    assert "Write a review" not in at.segmented_control(key="rv_view").options
    rid = int(at.dataframe[0].value["id"].iloc[0])
    at.selectbox(key="rv_open").set_value(rid).run()
    assert not {"Create follow-up action", "Amend"} & _labels(at)


def test_empty_database_reviews(empty_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    at = _page("pages/reviews.py")
    assert "No reviews yet" in _texts(at)
    monkeypatch.setenv("SOP_PULSE_USER", "viewer")
    at = _page("pages/reviews.py")
    assert "No reviews yet" in _texts(at)
