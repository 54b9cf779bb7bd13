"""The Reviews and Actions pages (and the improvement hooks on Overview, KPI trends and Exceptions) driven with
AppTest: demo data, a viewer (no forms), an empty database, and the create / move / verify flow."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.dbcopy import copy_db

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


@pytest.fixture
def demo_copy(monkeypatch, demo_db, tmp_path):
    """A private copy of the demo database (these tests write), acting as an admin."""
    src = Path(demo_db.split("///", 1)[1])
    dst = tmp_path / "demo_copy.db"
    copy_db(src, dst)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{dst}")
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    monkeypatch.chdir(ROOT)
    return f"sqlite:///{dst}"


def _backdate(url: str, action_id: int, created_at: dt.datetime) -> None:
    """Set when an action was created (as if it had been created then)."""
    from sqlalchemy import update

    from kpis.store.engine import make_engine
    from kpis.store.models import Action

    eng = make_engine(url)
    with eng.begin() as conn:
        conn.execute(update(Action).where(Action.id == action_id).values(created_at=created_at))
    eng.dispose()


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
        df["title"]
    )
    at.multiselect(key="act_f_status").set_value(["not effective"]).run()
    assert set(at.dataframe[0].value["title"]) == {
        "Launch checklist for new products",
        "Sales overrides promotion forecasts weekly",
    }
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
    at.selectbox(key="act_open").set_value(7).run()  # "Sales overrides promotion forecasts weekly"
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
    # an action cannot be completed in the app before the day it was created (issue 21): this one dates from 2024
    _backdate(demo_copy, 17, dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC))
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
    at.selectbox(key="act_open").set_value(4).run()  # done, awaiting verification
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
    fig = at.get("vega_lite_chart")[0].proto.spec
    assert "Completed action" in fig and "Review" in fig
    options = at.selectbox(key="trend_mark").options
    assert any("Supplier collaboration portal" in o for o in options)
    at.button(key="trend_open_mark").click().run()
    assert not at.exception


def test_exceptions_create_action_prefills_the_item(demo_env):
    at = _page("pages/exceptions.py")
    assert not [b for b in at.button if b.key == "ex_create_action"]  # only for an item the planner picked
    rows = next(d.key for d in at.dataframe if (d.key or "").startswith("ex_rows"))
    at.session_state[rows] = {"selection": {"rows": [0], "columns": []}}
    at.run()
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


# ---------------------------------------------------------------- two people editing the same record


def _someone_else(url: str):
    """The engine, config and a second editor ('ben') writing through kpis while the page is open."""
    from kpis.access.users import User
    from kpis.config import load_config
    from kpis.store.engine import make_engine

    return make_engine(url), load_config(ROOT / "config.toml"), User("ben", "editor")


def _open_action(url: str) -> int:
    from sqlalchemy import select

    from kpis.store.models import Action

    eng, _, _ = _someone_else(url)
    with eng.connect() as conn:
        aid = conn.execute(select(Action.id).where(Action.status == "open").order_by(Action.id)).scalars().first()
    eng.dispose()
    return int(aid)


def test_second_edit_of_an_action_is_refused_and_the_typed_text_stays(demo_copy):
    from kpis.improvement import actions

    aid = _open_action(demo_copy)
    at = _page("pages/actions.py")
    at.selectbox(key="act_open").set_value(aid).run()
    at.text_input(key="act_edit_title").set_value("My sharper title")
    at.text_area(key="act_edit_description").set_value("Two paragraphs I typed for a while")
    eng, cfg, ben = _someone_else(demo_copy)
    actions.update_action(engine=eng, action_id=aid, fields={"title": "Ben's title"}, user=ben, config=cfg)
    at.button(key="FormSubmitter:act_edit_form-Save changes").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error).replace("\\", "")  # markdown escapes off
    assert f"Not saved: action #{aid} was changed by ben at " in errors and "UTC since you opened it" in errors
    assert "your text is kept in the form above; reload to see their change" in errors
    assert at.text_input(key="act_edit_title").value == "My sharper title"
    assert at.text_area(key="act_edit_description").value == "Two paragraphs I typed for a while"
    assert actions.get_action(eng, aid)["title"] == "Ben's title"  # nothing overwritten
    at.button(key="act_edit_reload").click().run()
    assert at.text_input(key="act_edit_title").value == "Ben's title"
    assert not [e for e in at.error if "changed by" in e.value]
    at.text_input(key="act_edit_title").set_value("Agreed title")
    at.button(key="FormSubmitter:act_edit_form-Save changes").click().run()
    assert "Saved: title." in _texts(at) and actions.get_action(eng, aid)["title"] == "Agreed title"
    eng.dispose()


def test_a_move_on_an_action_moved_meanwhile_is_refused(demo_copy):
    from kpis.improvement import actions

    aid = _open_action(demo_copy)
    at = _page("pages/actions.py")
    at.selectbox(key="act_open").set_value(aid).run()
    eng, cfg, ben = _someone_else(demo_copy)
    actions.move_action(engine=eng, action_id=aid, to="in progress", user=ben, config=cfg)
    at.button(key="act_move_cancelled").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error).replace("\\", "")  # markdown escapes off
    assert f"Not moved: action #{aid} was changed by ben at " in errors and "now shows their change" in errors
    assert actions.get_action(eng, aid)["status"] == "in progress"
    at.button(key="act_move_cancelled").click().run()  # now they saw it: allowed
    assert "moved from 'in progress' to 'cancelled'" in _texts(at)
    eng.dispose()


def test_own_move_keeps_the_open_field_form_valid(demo_copy):
    from kpis.improvement import actions

    aid = _open_action(demo_copy)
    at = _page("pages/actions.py")
    at.selectbox(key="act_open").set_value(aid).run()
    at.button(key="act_move_in_progress").click().run()  # the form was opened before this person's move
    at.text_input(key="act_edit_title").set_value("Typed before moving")
    at.button(key="FormSubmitter:act_edit_form-Save changes").click().run()
    assert not [e for e in at.error if "changed by" in e.value] and "Saved: title." in _texts(at)
    eng, _, _ = _someone_else(demo_copy)
    a = actions.get_action(eng, aid)
    assert (a["title"], a["status"]) == ("Typed before moving", "in progress")
    eng.dispose()


def test_second_amendment_of_a_review_is_refused_and_the_typed_text_stays(demo_copy):
    from kpis.improvement import reviews

    at = _page("pages/reviews.py")
    rid = int(at.dataframe[0].value["id"].iloc[0])
    at.selectbox(key="rv_open").set_value(rid).run()
    at.button(key="rv_amend").click().run()
    assert at.session_state["rv_edit_id"] == rid
    at.text_area(key="rv_lessons").set_value("What I learned, typed at length")
    eng, cfg, ben = _someone_else(demo_copy)
    current = reviews.get_review(eng, rid, ben)
    fields = {k: current[k] for k in reviews.FIELDS} | {"lessons": "Ben's lessons"}
    reviews.save_review(
        engine=eng,
        fields=fields,
        kpis=current["kpis"],
        user=ben,
        config=cfg,
        submit=True,
        review_id=rid,
        expected_version=current["version"],
    )
    at.button(key="rv_submit").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error).replace("\\", "")  # markdown escapes off
    assert f"Not saved: review #{rid} was changed by ben at " in errors and "since you opened it" in errors
    assert "your text is kept in the form above" in errors
    assert at.text_area(key="rv_lessons").value == "What I learned, typed at length"
    assert reviews.get_review(eng, rid, ben)["lessons"] == "Ben's lessons"
    at.button(key="rv_reload").click().run()
    assert at.text_area(key="rv_lessons").value == "Ben's lessons"
    assert not [e for e in at.error if "changed by" in e.value]
    at.button(key="rv_submit").click().run()
    assert f"Review #{rid} amended." in _texts(at)
    eng.dispose()


def test_a_signed_in_authors_review_shows_her_display_name(demo_copy, tmp_path, monkeypatch):
    """Rows store a signed-in author as oidc:<iss>|<sub>; the review document shows her display name, to her and
    to everyone reading it later (the directory is written at sign-in)."""
    from tests.pages.test_access import AUTH

    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace("[roles.emails]\n", '[roles.emails]\n"maria.chen@example.com" = "contributor"\n', 1)
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("SOP_PULSE_CONFIG", str(tmp_path / "config.toml"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {
        "is_logged_in": True,
        "iss": "https://id.example.com",
        "sub": "00u-maria-1",
        "email": "maria.chen@example.com",
        "email_verified": True,
        "name": "Maria Chen",
    }
    at.run()
    at.switch_page("pages/reviews.py").run()
    at.segmented_control(key="rv_view").set_value("Write a review").run()
    at.text_input(key="rv_initiative").set_value("Consensus forecast sign-off")
    at.multiselect(key="rv_practices").set_value(["alignment"])
    at.text_input(key="rv_team").set_value("Demand planning")
    at.text_input(key="rv_facilitator").set_value("Julia Weber").run()
    at.button(key="rv_submit").click().run()
    assert not at.exception, at.exception
    shown = _texts(at)
    assert "submitted." in shown and "Submitted by Maria Chen," in shown and "oidc:" not in shown
    rid = at.session_state["rv_open"]

    monkeypatch.setenv("SOP_PULSE_USER", "tester")  # the local admin reads it later (no sign-in)
    later = _page("pages/reviews.py")
    later.selectbox(key="rv_open").set_value(rid).run()
    shown = _texts(later)
    assert "Submitted by Maria Chen," in shown and "oidc:" not in shown


def test_the_completion_date_cannot_precede_the_day_the_action_was_created(demo_copy):
    """Issue 21: the form's completion date starts on the day the action was created."""
    at = _page("pages/actions.py")
    at.segmented_control(key="act_view").set_value("New action").run()
    at.text_input(key="act_new_title").set_value("Shorter promo lead time")
    at.text_input(key="act_new_owner").set_value("Aisha Rahman")
    at.button(key="FormSubmitter:act_new_form-Create action").click().run()
    at.button(key="act_move_in_progress").click().run()
    today = dt.datetime.now(dt.UTC).date()
    assert at.date_input(key="act_done_date").min == min(today, dt.date.today())
    _backdate(demo_copy, at.selectbox(key="act_open").value, dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC))
    at.run()
    assert at.date_input(key="act_done_date").min == dt.date(2024, 5, 1)
