"""The Executives pages (Sponsorship scorecard, Meetings & decisions) driven with AppTest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpis.sponsorship import scorecard as sc
from kpis.store.engine import make_engine
from tests.dbcopy import copy_db

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def _page(path: str, **query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [i.value for i in at.info] + [e.value for e in at.error] + [s.value for s in at.subheader]
    parts += [s.value for s in at.success]
    return "\n".join(str(p) for p in parts)


@pytest.fixture
def demo_copy(monkeypatch, demo_db, tmp_path):
    """A private copy of the demo database for tests that write."""
    src = Path(demo_db.split("///", 1)[1])
    dst = tmp_path / "demo_copy.db"
    copy_db(src, dst)
    url = f"sqlite:///{dst}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    monkeypatch.chdir(ROOT)
    return url


def test_scorecard_card_shows_the_seven_figures(demo_env, demo_db, config):
    at = _page("pages/scorecard.py")
    assert at.title[0].value == "Executive sponsorship scorecard"
    metrics = {m.label: m.value for m in at.metric}
    assert set(sc.LABELS.values()) <= set(metrics)
    q = sc.parse_quarter(at.selectbox(key="sc_quarter").value)
    card = sc.card(sc.load_inputs(make_engine(demo_db), config), config, "Richard Osei", q).set_index("figure")
    for f, label in sc.LABELS.items():
        assert metrics[label] == sc.format_figure(f, card.at[f, "value"])
    assert "how it is computed" in _texts(at)


def test_scorecard_executive_who_waits_has_pending_decisions(demo_env):
    at = _page("pages/scorecard.py")
    at.selectbox(key="sc_exec").set_value("Lars Nilsson").run()
    at.selectbox(key="sc_quarter").set_value("2026-Q3").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Pending decisions"]) >= 2
    assert float(metrics["Decision latency"].split()[0]) > 30


def test_scorecard_portfolio_one_row_per_executive(demo_env, config):
    at = _page("pages/scorecard.py")
    at.radio(key="sc_view").set_value("Portfolio").run()
    table = next(d.value for d in at.dataframe if "Executive" in d.value.columns)
    assert list(table["Executive"]) == [e.name for e in config.executives]
    assert set(sc.LABELS.values()) <= set(table.columns)
    assert len(at.get("plotly_chart")) == 1
    at.selectbox(key="pf_figure").set_value("pending_decisions").run()
    assert not at.exception


def test_scorecard_landing_opens_the_decision_register(demo_env):
    at = _page("pages/scorecard.py")
    at.selectbox(key="sc_exec").set_value("Lars Nilsson").run()
    at.radio(key="sc_view").set_value("To act on").run()
    assert "Decisions pending" in _texts(at)
    at.button(key="land_register").click().run()
    assert not at.exception
    assert at.session_state["reg_owner"] == "Lars Nilsson"
    assert at.title[0].value == "S&OP meetings and decisions"
    reg = at.dataframe[0].value
    assert set(reg["owner"]) == {"Lars Nilsson"} and set(reg["status"]) == {"pending"}


def test_scorecard_print_layout(demo_env):
    at = _page("pages/scorecard.py", print="1", exec="Tom Becker", quarter="2026-Q2")
    assert at.title[0].value == "Sponsorship scorecard · 2026-Q2"
    assert "Tom Becker" in at.subheader[0].value
    assert len(at.metric) == 7
    assert not list(at.selectbox)  # no widgets on the printed page


def test_scorecard_print_layout_ignores_unknown_executive(demo_env, config):
    at = _page("pages/scorecard.py", print="1", exec="<script>x</script>", quarter="nonsense")
    assert config.executives[0].name in at.subheader[0].value


def test_meetings_page_register_cycle_and_list(demo_env):
    at = _page("pages/meetings.py")
    assert "pending" in _texts(at)
    grid = next(d.value for d in at.dataframe if "executive S&OP" in d.value.columns)
    assert set(grid["complete"]) <= {"yes", "no"}
    assert any("months complete" in c.value for c in at.caption)


def test_log_a_meeting_with_a_decision_changes_the_scorecard(demo_copy):
    at = _page("pages/meetings.py")
    today = dt.date.today()
    at.selectbox(key="mt_chair").set_value("Richard Osei")
    at.multiselect(key="mt_attended").set_value(["Richard Osei", "Lars Nilsson"])
    at.text_input(key="mt_dec_text_0").input("Approve the <b>new</b> [plan](http://x)")
    at.selectbox(key="mt_dec_owner_0").set_value("Lars Nilsson")
    at.button(key="FormSubmitter:meeting_form-Log meeting").click().run()
    assert not at.exception
    assert "with 1 decision" in _texts(at)
    at.radio(key="reg_show").set_value("All").run()
    reg = at.dataframe[0].value
    assert "Approve the <b>new</b> [plan](http://x)" in set(reg["text"])  # shown as data, never as markup
    at = _page("pages/scorecard.py")
    at.selectbox(key="sc_quarter").set_value(sc.quarter_of(today).label).run()
    at.selectbox(key="sc_exec").set_value("Lars Nilsson").run()
    assert {m.label: m.value for m in at.metric}["Meeting attendance"] == "100 %"


def test_mark_a_pending_decision_decided(demo_copy):
    at = _page("pages/meetings.py")
    before = at.dataframe[0].value.shape[0]
    at.button(key="reg_decide").click().run()
    assert not at.exception
    assert at.dataframe[0].value.shape[0] == before - 1


def test_meeting_form_errors_are_listed(demo_copy):
    at = _page("pages/meetings.py")
    at.button(key="FormSubmitter:meeting_form-Log meeting").click().run()  # no chair
    assert "was not saved" in _texts(at)


def test_viewer_sees_no_forms(demo_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "viewer")
    at = _page("pages/meetings.py")
    assert "needs the contributor role" in _texts(at)
    assert not [b for b in at.button if b.key in ("reg_decide",)]
    assert not [t for t in at.text_input if t.key.startswith("mt_dec_text")]


def test_empty_database(empty_env):
    at = _page("pages/scorecard.py")
    assert "Nothing to score yet" in _texts(at)
    at = _page("pages/meetings.py")
    assert "No decisions yet" in _texts(at) and "No meetings yet" in _texts(at)


def test_data_page_offers_meetings_and_decisions(demo_env):
    at = _page("pages/data.py")
    assert {"S&OP meetings (attendance)", "S&OP decisions"} <= set(at.radio(key="data_kind").options)


def test_correct_a_meeting(demo_copy):
    at = _page("pages/meetings.py")
    chosen = at.selectbox(key="mt_pick").value
    at.multiselect(key=f"ed_att_{chosen}").set_value(["Richard Osei"])
    at.button(key=f"FormSubmitter:edit_form_{chosen}-Save changes").click().run()
    assert not at.exception
    assert f"Meeting #{chosen} updated." in _texts(at)
    people = next(d.value for d in at.dataframe if "attended" in d.value.columns and "person" in d.value.columns)
    assert list(people.loc[people["attended"], "person"]) == ["Richard Osei"]


def test_a_meeting_corrected_meanwhile_is_not_overwritten(demo_copy):
    from kpis.access.users import User
    from kpis.config import load_config
    from kpis.sponsorship import meetings as mt

    at = _page("pages/meetings.py")
    chosen = at.selectbox(key="mt_pick").value
    at.text_area(key=f"ed_notes_{chosen}").set_value("My minutes of the meeting")
    eng = make_engine(demo_copy)
    row = mt.list_meetings(eng).set_index("id").loc[chosen]
    ppl = mt.people(eng, chosen)
    mt.update_meeting(
        eng,
        meeting_id=int(chosen),
        config=load_config(ROOT / "config.toml"),
        user=User("ben", "editor"),
        meeting=mt.MeetingInput(
            type=row["type"],
            date=row["date"],
            chair=row["chair"],
            invited=tuple(ppl.loc[ppl["invited"], "person"]),
            attended=tuple(ppl.loc[ppl["attended"], "person"]),
            notes="Ben's notes",
        ),
    )
    at.button(key=f"FormSubmitter:edit_form_{chosen}-Save changes").click().run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error).replace("\\", "")  # markdown escapes off
    assert f"Not saved: meeting #{chosen} was changed by ben at " in errors and "your text is kept" in errors
    assert at.text_area(key=f"ed_notes_{chosen}").value == "My minutes of the meeting"
    assert mt.list_meetings(eng).set_index("id").at[chosen, "notes"] == "Ben's notes"
    at.button(key=f"ed_reload_{chosen}").click().run()
    assert at.text_area(key=f"ed_notes_{chosen}").value == "Ben's notes"
    eng.dispose()
