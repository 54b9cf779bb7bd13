"""kpis.access.identity: a person is the provider's issuer and subject, the e-mail counts only when verified and
not confusable, a display name is only shown, and the command line acts as the process's real user id.
The sign-in cases also run for real: oidc-provider-mock on loopback, Streamlit's st.login, headless Chromium."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from kpis import mywork
from kpis.access import identity, signin
from kpis.access.users import NotAllowed, User, os_login
from kpis.catalog.sync import sync_catalog
from kpis.config import PRACTICES, load_config
from kpis.improvement import reviews
from kpis.maturity.assessments import Answers
from kpis.maturity.assessments import submit as submit_answers
from kpis.store.engine import make_engine
from kpis.store.models import AuditEvent
from tests.dbcopy import copy_db

ROOT = Path(__file__).resolve().parents[2]
ISS = "https://id.example.com"
MARIA = {"iss": ISS, "sub": "maria-1", "email": "maria.chen@example.com", "email_verified": True, "name": "Maria"}
# No e-mail claim; the display name is Maria's address.
MALLORY = {"iss": ISS, "sub": "mallory-7", "name": "maria.chen@example.com", "groups": ["sop-planners"]}
REVIEW = {
    "initiative": "Maria's private draft",
    "practices": ["partners"],
    "review_date": dt.date(2026, 3, 10),
    "period": dt.date(2026, 1, 1),
    "team": "S&OP core",
    "facilitator": "Julia",
    "rating": 4,
}


def cfg_with(config, **kw):
    return dataclasses.replace(config, roles=config.roles.model_copy(update=kw))


@pytest.fixture
def team(config):
    return cfg_with(
        config,
        emails={"maria.chen@example.com": "admin", "kim@example.com": "admin"},
        domains={"example.com": "contributor"},
        groups={"sop-planners": "contributor"},
        unknown="refuse",
    )


# ---------------------------------------------------------------- keys and claims
def test_the_key_is_issuer_and_subject_and_fits_its_column():
    assert identity.oidc_key(ISS, "maria-1") == "oidc:https://id.example.com|maria-1"
    assert identity.oidc_key(ISS, "a") != identity.oidc_key("https://other.example.com", "a")
    long = identity.oidc_key("https://login.microsoftonline.com/" + "t" * 36 + "/v2.0", "s" * 43)
    assert long.startswith("oidc:sha256:") and len(long) <= identity.MAX_KEY
    assert long == identity.oidc_key("https://login.microsoftonline.com/" + "t" * 36 + "/v2.0", "s" * 43)


def test_a_display_name_never_identifies_anyone(team):
    maria = signin.signed_in_user(team, MARIA)
    mallory = signin.signed_in_user(team, MALLORY)
    assert maria.name == "oidc:https://id.example.com|maria-1" and maria.email == "maria.chen@example.com"
    assert (mallory.name, mallory.email, mallory.display) == (
        "oidc:https://id.example.com|mallory-7",
        None,
        "maria.chen@example.com",
    )
    assert mallory.role == "contributor"  # from the group, not from the address in the display name
    for recorded in (maria.name, "maria.chen@example.com", "Maria.Chen@Example.com"):
        assert maria.is_self(recorded) and not mallory.is_self(recorded)
    assert not mallory.is_self("maria.chen@example.com") and mallory.is_self(mallory.name)
    assert signin.signed_in_user(team, {k: v for k, v in MARIA.items() if k != "sub"}) is None  # no subject


@pytest.mark.parametrize("verified", [False, "false", None])
def test_an_unverified_email_maps_to_no_role(team, verified):
    claims = {**MARIA, "email_verified": verified}
    if verified is None:
        del claims["email_verified"]
    assert signin.signed_in_user(team, claims) is None  # not admin, not even the domain's contributor
    trusting = cfg_with(team, trust_email_without_verified_claim=True)
    assert (signin.signed_in_user(trusting, claims) is None) is (verified is not None)  # false never counts
    assert signin.signed_in_user(team, {**claims, "email_verified": "true"}).role == "admin"


@pytest.mark.parametrize("email", ["\u212aim@example.com", "ｋim@example.com", "kim\u200b@example.com"])
def test_a_confusable_email_does_not_get_the_role_of_the_address_it_looks_like(team, email):
    claims = {"iss": ISS, "sub": "k-2", "email": email, "email_verified": True, "name": "Kim?"}
    assert signin.signed_in_user(team, claims) is None
    assert signin.signed_in_user(cfg_with(team, unknown="viewer"), claims).role == "viewer"
    kim = signin.signed_in_user(team, {**claims, "email": "Kim@Example.com"})
    assert kim.role == "admin" and kim.email == "kim@example.com"


def test_config_addresses_and_groups_compare_after_nfkc_and_casefold(team):
    cfg = cfg_with(team, emails={"JOSE\u0301@example.com": "editor"}, groups={"S&OP Planners": "editor"})
    jose = {"iss": ISS, "sub": "j", "email": "josé@example.com", "email_verified": True}
    assert signin.signed_in_user(cfg, jose).role == "editor"
    grouped = {"iss": ISS, "sub": "g", "groups": ["s&op planners"]}
    assert signin.signed_in_user(cfg, grouped).role == "editor"
    assert signin.signed_in_user(cfg, {**grouped, "groups": ["S&OP\u200b Planners"]}) is None  # confusable


# ---------------------------------------------------------------- records compare on the key
def test_someone_named_like_maria_cannot_see_or_change_her_drafts(engine, config, admin, team):
    sync_catalog(engine, config, admin)
    maria = signin.signed_in_user(team, MARIA)
    mallory = signin.signed_in_user(team, MALLORY)
    legacy = User("maria.chen@example.com", "contributor")  # a draft written when the e-mail was the name
    new_id = reviews.save_review(engine=engine, fields=REVIEW, kpis=[], user=maria, config=config, submit=False)
    old_id = reviews.save_review(engine=engine, fields=REVIEW, kpis=[], user=legacy, config=config, submit=False)
    for rid in (new_id, old_id):
        assert reviews.get_review(engine, rid, mallory) is None
        assert reviews.get_review(engine, rid, maria) is not None  # hers, by key or by verified e-mail
        with pytest.raises(reviews.ReviewRefused, match="only be changed by its author"):
            reviews.save_review(
                engine=engine, fields=REVIEW, kpis=[], user=mallory, config=config, submit=False, review_id=rid
            )
    assert set(reviews.list_reviews(engine, maria)["id"]) == {new_id, old_id}
    assert reviews.list_reviews(engine, mallory).empty
    no_kpis = pd.DataFrame(columns=["kpi_id", "period", "value"])
    assert set(mywork.my_work(engine, config, maria, totals=no_kpis).drafts["id"]) == {new_id, old_id}
    assert mywork.my_work(engine, config, mallory, totals=no_kpis).drafts.empty  # not by her display name
    own = reviews.save_review(engine=engine, fields=REVIEW, kpis=[], user=mallory, config=config, submit=False)
    with engine.connect() as conn:
        actors = set(conn.execute(select(AuditEvent.actor)).scalars())
        mallorys = (
            conn.execute(
                select(AuditEvent.actor).where(AuditEvent.entity == "review", AuditEvent.entity_id == str(own))
            )
            .scalars()
            .all()
        )
    assert "oidc:https://id.example.com|maria-1" in actors and "maria.chen@example.com" in actors
    assert mallorys and set(mallorys) == {"oidc:https://id.example.com|mallory-7"}  # the audit names her, not Maria


def test_the_assessment_respondent_is_the_key(engine, config, admin, team):
    sync_catalog(engine, config, admin)
    mallory = signin.signed_in_user(team, MALLORY)
    answers = Answers(period=dt.date(2026, 1, 1), respondent="maria.chen@example.com", team="Sales")
    answers.scores = dict.fromkeys(PRACTICES, 1)
    with pytest.raises(NotAllowed):  # answering as Maria is answering for someone else: editors only
        submit_answers(engine, answers=answers, user=mallory)
    maria = signin.signed_in_user(team, MARIA)
    assert maria.known_as == "maria.chen@example.com" and mallory.known_as == mallory.name
    assert submit_answers(engine, answers=answers, user=maria) == "inserted"  # her verified address


# ---------------------------------------------------------------- the command line's OS login
def test_the_os_login_is_the_real_user_id_not_logname(monkeypatch):
    real = pwd.getpwuid(os.getuid()).pw_name
    monkeypatch.setenv("LOGNAME", "boss")
    monkeypatch.setenv("USER", "boss")
    assert os_login() == real != "boss"


def test_logname_does_not_make_the_command_line_an_admin(tmp_path):
    real = pwd.getpwuid(os.getuid()).pw_name
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('default = "admin"', 'default = "viewer"', 1)
    text = text.replace("\n[roles.users]\n", '\n[roles.users]\n"boss" = "admin"\n', 1)
    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    db = tmp_path / "x.db"
    env = {k: v for k, v in os.environ.items() if k not in ("SOP_PULSE_USER",)}
    env.update(DATABASE_URL=f"sqlite:///{db}", SOP_PULSE_CONFIG=str(cfg), LOGNAME="boss", USER="boss")
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "kpis", *a], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run("db", "upgrade").returncode == 0
    r = run("import", "actions", str(ROOT / "data" / "samples" / "actions.csv"))  # a valid file: only the role refuses
    assert r.returncode == 2 and f"{real} (viewer) may not import" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------- for real: the mock provider and Chromium
BROWSER_USERS = {
    "maria-1": {"email": "maria.chen@example.com", "email_verified": True, "name": "Maria Chen"},
    "mallory-7": {"name": "maria.chen@example.com", "groups": ["sop-planners"]},
    "maria-unverified": {"email": "maria.chen@example.com", "email_verified": False, "name": "M"},
    "kelvin": {"email": "\u212aim@example.com", "email_verified": True, "name": "Kim?"},
}


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    from tests.pages.test_browser import CHROMIUM, _require_browser

    _require_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def provider():
    from tests.pages.test_browser import _require_browser

    _require_browser()
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on loopback, for the test only
    import oidc_provider_mock
    from oidc_provider_mock import User as MockUser

    users = [MockUser(sub=sub, claims=claims) for sub, claims in BROWSER_USERS.items()]
    with oidc_provider_mock.run_server_in_thread(user_claims=users) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def server(provider, demo_db, tmp_path_factory):
    from tests.access.test_signin_browser import _serve

    folder = tmp_path_factory.mktemp("identity")
    db = folder / "demo.db"
    copy_db(demo_db, db)
    engine = make_engine(f"sqlite:///{db}")
    config = load_config(ROOT / "config.toml")
    legacy = User("maria.chen@example.com", "contributor")  # her draft from before keys
    reviews.save_review(
        engine=engine,
        fields={**REVIEW, "initiative": "Marias hidden draft"},
        kpis=[],
        user=legacy,
        config=config,
        submit=False,
    )
    engine.dispose()
    extra = '"maria.chen@example.com" = "admin"\n"kim@example.com" = "admin"\n'
    with _serve(provider, f"sqlite:///{db}", folder, emails=extra) as (base, _port):
        yield base


@pytest.mark.browser
def test_signed_in_by_name_alone_is_not_maria(server, chromium):
    from tests.access.test_signin_browser import _sign_in
    from tests.pages.test_browser import _settle

    ctx = chromium.new_context(viewport={"width": 1400, "height": 1600})
    page = ctx.new_page()
    try:
        _sign_in(page, server, "mallory-7")
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text().replace("\u2060", "")  # safety.md's joiner
        assert "signed in as maria.chen@example.com (contributor)" in sidebar  # shown, never an identity
        page.goto(server + "/reviews", wait_until="domcontentloaded")
        _settle(page)
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text("Post-implementation reviews").first.wait_for(timeout=60000)
        _settle(page)
        main.locator('[role="gridcell"]').first.wait_for(state="attached", timeout=60000)  # the reviews table
        assert main.get_by_text("Marias hidden draft").count() == 0
    finally:
        ctx.close()


@pytest.mark.browser
@pytest.mark.parametrize("sub", ["maria-unverified", "kelvin"])
def test_unverified_or_confusable_emails_get_no_role(server, chromium, sub):
    from tests.access.test_signin_browser import _sign_in

    ctx = chromium.new_context(viewport={"width": 1400, "height": 1600})
    page = ctx.new_page()
    try:
        _sign_in(page, server, sub)
        page.get_by_text("has no role in this app").first.wait_for(timeout=30000)
        assert "(admin)" not in page.locator("body").inner_text()
    finally:
        ctx.close()


@pytest.mark.browser
def test_maria_herself_sees_her_draft(server, chromium):
    from tests.access.test_signin_browser import _sign_in
    from tests.pages.test_browser import _settle

    ctx = chromium.new_context(viewport={"width": 1400, "height": 1600})
    page = ctx.new_page()
    try:
        _sign_in(page, server, "maria-1")
        assert "signed in as Maria Chen (admin)" in page.locator('[data-testid="stSidebar"]').inner_text()
        page.goto(server + "/reviews", wait_until="domcontentloaded")
        _settle(page)
        main = page.locator('[data-testid="stMain"]')
        main.get_by_text("Marias hidden draft").first.wait_for(state="attached", timeout=60000)  # a table cell
    finally:
        ctx.close()
