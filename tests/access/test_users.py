"""Tests for kpis.access: sign-in identities mapped to roles, local mode kept on loopback, acting as
someone else, refused writes audited; and the app behind sign-in (AppTest)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from kpis.access import signin
from kpis.access.users import NotAllowed, User, current_user, require
from kpis.store.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "c",
    "client_secret": "s",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def with_roles(config, **kw):
    return dataclasses.replace(config, roles=config.roles.model_copy(update=kw))


# ---------------------------------------------------------------- identities and roles
def test_identity_from_claims_normalises_email_and_groups():
    ident = signin.identity_from_claims(
        {"email": " Maria.Chen@Example.COM ", "email_verified": True, "name": "Maria", "groups": "planners"}
    )
    assert ident == signin.Identity(name="Maria", email="maria.chen@example.com", groups=("planners",))
    assert signin.identity_from_claims({"sub": "abc"}).name == "abc"
    assert signin.identity_from_claims({"email": "a@b.c", "roles": ["x"]}, groups_claim="roles").groups == ("x",)


def test_email_wins_then_highest_of_domain_and_groups_then_unknown(config):
    cfg = with_roles(
        config,
        emails={"Boss@Example.com": "viewer"},
        domains={"example.com": "contributor"},
        groups={"sop-editors": "editor", "admins": "admin"},
        unknown="viewer",
    )
    role = lambda email, groups=(): signin.role_for(cfg, signin.Identity("n", email, tuple(groups)))  # noqa: E731
    assert role("boss@example.com", ["admins"]) == "viewer"  # an explicit e-mail can also demote
    assert role("ann@example.com") == "contributor"
    assert role("ann@example.com", ["sop-editors"]) == "editor"  # the highest of domain and groups
    assert role("ann@other.org", ["admins", "sop-editors"]) == "admin"
    assert role("ann@other.org") == "viewer"
    assert role(None) == "viewer"
    refuse = with_roles(cfg, unknown="refuse")
    assert signin.role_for(refuse, signin.Identity("n", "ann@other.org")) is None
    assert signin.signed_in_user(refuse, {"email": "ann@other.org"}) is None
    claims = {"iss": "https://id.example.com", "sub": "ann-1", "email": "Ann@Example.com", "name": "Ann"}
    u = signin.signed_in_user(cfg, {**claims, "email_verified": True})
    assert (u.name, u.display, u.role, u.local) == ("oidc:https://id.example.com|ann-1", "Ann", "contributor", False)
    assert u.email == "ann@example.com"


@pytest.mark.parametrize(
    "address, ok",
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("10.0.0.5", False),
        ("sop.example.com", False),
    ],
)
def test_local_mode_stays_on_loopback(address, ok):
    assert (signin.local_mode_problem(address, None) is None) is ok
    assert signin.local_mode_problem(address, "yes") is None  # the documented override


# ---------------------------------------------------------------- acting as someone else, refusals audited
def test_only_an_admin_login_may_act_as_someone_else(config, monkeypatch):
    monkeypatch.setattr("kpis.access.users.os_login", lambda: "alice")
    monkeypatch.delenv("SOP_PULSE_USER", raising=False)
    admin_cfg = with_roles(config, default="admin", users={"bob": "viewer"})
    u = current_user(admin_cfg, "bob")
    assert (u.name, u.role, u.via) == ("bob", "viewer", "alice")
    assert current_user(admin_cfg).via is None
    viewer_cfg = with_roles(config, default="viewer", users={})
    with pytest.raises(NotAllowed, match="only an admin may name another user"):
        current_user(viewer_cfg, "bob")
    monkeypatch.setenv("SOP_PULSE_USER", "bob")
    with pytest.raises(NotAllowed):
        current_user(viewer_cfg)


def test_a_refused_write_is_audited(engine, viewer):
    with pytest.raises(NotAllowed, match="needs the editor role"):
        require(viewer, "import", engine=engine, what="import actuals")
    with engine.connect() as conn:
        ev = conn.execute(select(AuditEvent).where(AuditEvent.action == "denied")).one()
    assert (ev.actor, ev.entity, ev.details["permission"]) == ("watcher", "import actuals", "import")


def test_audit_keeps_both_names_when_an_admin_acts_for_someone(engine):
    from kpis.store import audit
    from kpis.store.engine import session_factory

    with session_factory(engine).begin() as s:
        audit.record(s, user=User(name="bob", role="editor", via="alice"), action="create", entity="kpi")
    with engine.connect() as conn:
        ev = conn.execute(select(AuditEvent)).one()
    assert ev.actor == "bob" and ev.details == {"via": "alice"}


# ---------------------------------------------------------------- the app behind sign-in
def _app(user: dict | None, secrets: bool = True) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if secrets:
        at.secrets["auth"] = AUTH
    if user is not None:
        at.user = user
    return at


def test_signed_out_visitor_sees_only_the_sign_in_button(demo_env):
    at = _app({"is_logged_in": False}).run()
    assert not at.exception
    assert [b.key for b in at.button] == ["sign_in"]
    assert not at.metric  # no figures before sign-in


def test_signed_in_viewer_reads_but_gets_no_import_form(demo_env, monkeypatch):
    at = _app(
        {
            "is_logged_in": True,
            "iss": "https://id.example.com",
            "sub": "some-one",
            "email": "someone@elsewhere.org",
            "email_verified": True,
            "name": "Some One",
        }
    ).run()
    assert not at.exception and at.metric  # unknown -> viewer (shipped config)
    assert any("signed in as Some One (viewer)" in c.value.replace("\\", "") for c in at.sidebar.caption)
    at.switch_page("pages/data.py").run()
    assert not at.exception
    assert not [b for b in at.button if b.key == "data_import"]


def test_refused_account_is_told_and_can_sign_out(demo_env, tmp_path, monkeypatch):
    text = (ROOT / "config.toml").read_text(encoding="utf-8").replace('unknown = "viewer"', 'unknown = "refuse"', 1)
    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SOP_PULSE_CONFIG", str(cfg))
    at = _app(
        {"is_logged_in": True, "iss": "https://id.example.com", "sub": "stranger", "email": "stranger@elsewhere.org"}
    ).run()
    assert not at.exception
    assert "has no role in this app" in at.error[0].value
    assert [b.key for b in at.button] == ["sign_out_refused"] and not at.metric


def test_local_mode_is_labelled(demo_env):
    at = _app(None, secrets=False).run()
    assert not at.exception
    assert any("local mode" in c.value for c in at.sidebar.caption)


def test_local_mode_refuses_a_network_address(demo_env, monkeypatch):
    import streamlit as st

    monkeypatch.delenv(signin.ALLOW_NETWORK_ENV, raising=False)
    real = st.get_option
    monkeypatch.setattr(st, "get_option", lambda key: "0.0.0.0" if key == "server.address" else real(key))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.error and "No sign-in is configured (local mode)" in at.error[0].value and not at.metric
    monkeypatch.setenv(signin.ALLOW_NETWORK_ENV, "yes")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and at.metric


def test_streamlit_settings_keep_xsrf_on_errors_hidden_and_hosts_listed():
    import tomllib

    st_cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert st_cfg["server"]["enableXsrfProtection"] is True
    assert st_cfg["client"]["showErrorDetails"] == "none"
    hosts = st_cfg["server"]["allowedHosts"]
    assert hosts and "*" not in hosts and set(hosts) <= {"localhost", "127.0.0.1", "::1"}
    assert signin.is_loopback(st_cfg["server"]["address"])


def test_refused_writes_of_every_domain_are_audited(engine, config, viewer):
    """A viewer calling the core's write functions directly (no page, no hidden widget) is refused, and each
    refusal is in the audit log."""
    import datetime as dt

    from kpis.improvement import actions, reviews
    from kpis.sponsorship import decisions

    calls = [
        lambda: actions.create_action(engine=engine, fields={"title": "x"}, user=viewer, config=config),
        lambda: reviews.save_review(
            engine=engine, fields={"initiative": "x"}, kpis=[], user=viewer, config=config, submit=True
        ),
        lambda: decisions.decide(engine, decision_id=1, decided_on=dt.date(2026, 1, 1), user=viewer),
    ]
    for call in calls:
        with pytest.raises(NotAllowed):
            call()
    with engine.connect() as conn:
        denied = conn.execute(select(AuditEvent.entity).where(AuditEvent.action == "denied")).scalars().all()
    assert sorted(denied) == ["create action", "decide", "save review"]
