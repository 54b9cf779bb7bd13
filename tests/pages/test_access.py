"""The My work and Audit log pages with AppTest: empty database, demo data, viewer / contributor / admin,
signed in and local mode, hostile text."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpis.store.engine import make_engine, session_factory
from kpis.store.models import Action, AuditEvent

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "c",
    "client_secret": "s",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
HOSTILE = "<script>alert(1)</script> ![x](http://evil.example/x.png) [click](javascript:alert(1)) :red[boom]"


def _open(page: str, *, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        at.secrets["auth"] = AUTH
        # An ID token names its issuer and subject; the test addresses are verified ones.
        claims = {"iss": "https://id.example.com", "sub": user.get("email") or user.get("name"), "email_verified": True}
        at.user = {"is_logged_in": True, **claims, **user}
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.title]
    parts += [x.value for x in (*at.info, *at.error, *at.warning, *at.success, *at.subheader)]
    return "\n".join(str(p) for p in parts)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture
def roles_config(tmp_path, monkeypatch):
    """config.toml with maria.chen@example.com a contributor (signed in)."""
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace("[roles.emails]\n", '[roles.emails]\n"maria.chen@example.com" = "contributor"\n', 1)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SOP_PULSE_CONFIG", str(path))


# ---------------------------------------------------------------- My work


def test_my_work_on_an_empty_database_asks_only_for_the_assessment(empty_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    at = _open("pages/my_work.py")
    assert not at.exception
    assert at.title[0].value == "My work"
    m = _metrics(at)
    assert m["Open actions"] == "0" and m["Assessment"] == "Due"
    assert "No action, decision, KPI, review or assessment names you" in _texts(at)
    assert [p for p in at.get("page_link") if "Answer" in p.label]


def test_my_work_viewer_with_nothing_is_told_so_and_how_names_are_matched(empty_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "viewer")
    at = _open("pages/my_work.py")
    assert not at.exception
    texts = _texts(at)
    assert "Nothing waiting for you." in texts
    assert "names you (viewer)" in texts and "display name" in texts
    assert _metrics(at)["Assessment"] == "–"


def test_my_work_with_demo_data_lists_decisions_and_opens_the_register(demo_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "Lars Nilsson")
    at = _open("pages/my_work.py")
    assert not at.exception
    n = int(_metrics(at)["Decisions"])
    buttons = [b for b in at.button if b.key.startswith("mw_decision_")]
    assert n > 0 and len(buttons) == n
    chosen = int(buttons[0].key.rsplit("_", 1)[1])
    buttons[0].click().run()
    assert not at.exception
    assert at.title[0].value == "S&OP meetings and decisions"
    assert at.session_state["reg_owner"] == "Lars Nilsson" and at.selectbox(key="reg_decision").value == chosen


def test_my_work_action_opens_on_the_actions_page_and_red_kpi_opens_its_trend(demo_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "Aisha Rahman")
    at = _open("pages/my_work.py")
    assert not at.exception and int(_metrics(at)["Red KPIs"]) >= 1
    at.button(key="mw_kpi_promo_forecast_accuracy").click().run()
    assert not at.exception and at.session_state["trend_kpi"] == "promo_forecast_accuracy"
    monkeypatch.setenv("SOP_PULSE_USER", "Maria Chen")
    at = _open("pages/my_work.py")
    act = [b for b in at.button if b.key.startswith("mw_action_")]
    assert act and "overdue by" in _texts(at)
    act[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Improvement actions"
    assert at.selectbox(key="act_open").value == int(act[0].key.rsplit("_", 1)[1])


def test_signed_in_contributor_starts_on_my_work_viewer_on_the_overview(demo_env, roles_config):
    at = _open("", user={"email": "maria.chen@example.com", "name": "Maria Chen"})
    assert not at.exception and at.title[0].value == "My work"
    assert "Open actions" in _metrics(at)  # Maria Chen owns demo actions
    at = _open("", user={"email": "someone@elsewhere.org", "name": "Some One"})
    assert not at.exception and at.title[0].value == "S&OP KPI overview"


def test_my_work_shows_hostile_titles_as_text(empty_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    eng = make_engine(empty_env)
    with session_factory(eng).begin() as s:
        s.add(
            Action(
                title=HOSTILE[:200],
                type="improvement",
                source="other",
                practice="data",
                owner="tester",
                status="open",
                due_date=dt.date.today() - dt.timedelta(days=3),
                ref="=1+1",
                created_by="x",
            )
        )
    eng.dispose()
    at = _open("pages/my_work.py")
    assert not at.exception
    shown = next(m.value for m in at.markdown if "alert" in m.value)
    assert "<script>" not in shown and "![x](" not in shown and "](javascript" not in shown
    assert ":red[boom" not in shown and "\\<script\\>" in shown
    assert "overdue by 3 days" in shown


# ---------------------------------------------------------------- Audit log


def test_audit_log_admin_sees_filters_table_and_export(demo_env):
    at = _open("pages/audit_log.py")
    assert not at.exception
    table = at.dataframe[0].value
    assert table.columns.tolist() == ["When (UTC)", "Who", "Action", "Record", "What", "Before", "After"]
    assert any(c.value.endswith("events shown") or " of " in c.value for c in at.caption)
    at.multiselect(key="audit_entities").set_value(["database"]).run()
    assert not at.exception
    assert at.dataframe[0].value["Record"].tolist() == ["database"]
    assert any(c.value == "1 event shown" for c in at.caption)
    at.toggle(key="audit_export").set_value(True).run()
    assert not at.exception
    assert [b for b in at.get("download_button") if b.proto.label == "Download Excel"]


def test_audit_log_on_an_empty_database_shows_the_catalog_sync(empty_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    at = _open("pages/audit_log.py")
    assert not at.exception
    table = at.dataframe[0].value  # the only writes: the app syncing the KPI catalog from config.toml
    assert set(table["Who"]) == {"system (config.toml)"} and set(table["Action"]) == {"create"}
    at.date_input(key="audit_since").set_value(dt.date.today() + dt.timedelta(days=1)).run()
    assert not at.exception and not at.dataframe and "No audit events match these filters." in _texts(at)


@pytest.mark.parametrize("who", ["viewer", "contributor"])
def test_audit_log_by_url_for_a_non_admin_shows_no_data(demo_env, roles_config, who):
    user = (
        {"email": "maria.chen@example.com", "name": "Maria Chen"}
        if who == "contributor"
        else {"email": "someone@elsewhere.org", "name": "Some One"}
    )
    at = _open("pages/audit_log.py", user=user)
    assert not at.exception
    assert at.error and "admins only" in at.error[0].value
    assert not at.dataframe and not at.multiselect


def test_audit_log_shows_hostile_actor_and_details_as_table_text(empty_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    eng = make_engine(empty_env)
    with session_factory(eng).begin() as s:
        s.add(
            AuditEvent(actor=HOSTILE[:120], action="create", entity="action", entity_id="1", details={"title": HOSTILE})
        )
    eng.dispose()
    at = _open("pages/audit_log.py")
    assert not at.exception
    table = at.dataframe[0].value
    row = table[table["Record"] == "action 1"].iloc[0]
    assert row["Who"] == HOSTILE[:120] and HOSTILE in row["After"]  # data cells, shown as typed, not markup
    assert all("<script>" not in m.value for m in at.markdown)


def test_data_page_links_the_audit_log_for_admins_only(demo_env, monkeypatch):
    at = _open("pages/data.py")
    assert not at.exception and [p for p in at.get("page_link") if "Audit log" in p.label]
    monkeypatch.setenv("SOP_PULSE_USER", "viewer")
    at = _open("pages/data.py")
    assert not at.exception and not [p for p in at.get("page_link") if "Audit log" in p.label]
