"""kpis.access.rules: the one table of who may do what. The docs show exactly that table, and every role is walked
through every action in the core (allowed, or refused with NotAllowed), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from kpis import auditlog
from kpis.access import rules
from kpis.access.users import NotAllowed, User, current_user
from kpis.catalog.sync import sync_catalog
from kpis.config import PRACTICES
from kpis.improvement import actions, reviews
from kpis.maturity.assessments import Answers
from kpis.maturity.assessments import submit as submit_answers
from kpis.sponsorship import decisions as dec
from kpis.sponsorship import load as sponsorship_load
from kpis.sponsorship import meetings as mt

ROOT = Path(__file__).resolve().parents[2]
D = dt.date
ADMIN = User("boss", "admin")


def test_the_docs_show_exactly_the_rules_table():
    text = (ROOT / "docs" / "sign-in-and-roles.md").read_text(encoding="utf-8")
    start = "<!-- rules table: generated from kpis.access.rules.markdown_table() -->\n"
    end = "\n<!-- end of rules table -->"
    assert start in text and end in text
    shown = text.split(start, 1)[1].split(end, 1)[0]
    assert shown == rules.markdown_table()


def test_every_action_names_a_role_and_only_contributors_gain_by_ownership():
    for rule in rules.RULES:
        assert rule.role in rules.ROLES
        assert not rules.allowed("viewer", rule.action, own=True) or rule.role == "viewer"
    assert rules.allowed("contributor", "decide", own=True) and not rules.allowed("contributor", "decide")
    assert not rules.allowed("contributor", "import", own=True)


def _meeting(**kw) -> mt.MeetingInput:
    base = {
        "type": "executive S&OP",
        "date": D(2026, 3, 20),
        "chair": "Richard Osei",
        "invited": ("Richard Osei", "Tom Becker"),
        "attended": ("Richard Osei", "Maria Chen"),
        "notes": "Q2 plan",
    }
    return mt.MeetingInput(**{**base, **kw})


def _decision(owner: str = "Richard Osei") -> dec.DecisionInput:
    return dec.DecisionInput(text="Raise safety stock", raised_on=D(2026, 3, 1), owner=owner)


REVIEW = {
    "initiative": "Supplier portal",
    "practices": ["partners"],
    "review_date": D(2026, 3, 10),
    "period": D(2026, 1, 1),
    "team": "S&OP core",
    "facilitator": "Julia",
    "participants": ["A", "B"],
    "objectives": "Raise supplier OTIF",
    "planned": "Go live in Jan",
    "happened": "Live in Feb",
    "root_cause": "Data late",
    "root_cause_method": "5 whys",
    "went_well": "Buy-in",
    "to_improve": "Cut-off",
    "lessons": "Pilot first",
    "benefits": "+3 pts",
    "rating": 4,
}
ACTION = {
    "title": "Weekly supplier call",
    "type": "corrective",
    "practice": "partners",
    "owner": "Hannah Scott",
    "sponsor": "Priya Nair",
    "due_date": D(2026, 6, 30),
    "kpi_id": "supplier_otif",
    "expected_direction": "higher",
}


def _cli_refused(monkeypatch, capsys, tmp_path, role: str, argv: list[str]) -> bool:
    """Run the command line in this process as an OS login with the role; True when it refused the role."""
    from kpis.cli import main

    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace("\n[roles.users]\n", f'\n[roles.users]\n"login-{role}" = "{role}"\n', 1)
    cfg = tmp_path / f"config-{role}.toml"
    cfg.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SOP_PULSE_CONFIG", str(cfg))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("SOP_PULSE_USER", raising=False)
    monkeypatch.setattr("kpis.access.users.os_login", lambda: f"login-{role}")
    capsys.readouterr()
    assert main(argv) == 2  # refused, or (allowed) asking for --yes: nothing is destroyed either way
    err = capsys.readouterr().err
    assert ("may not" in err) != ("--yes" in err), err
    return "may not" in err


def _walk(engine, config, user: User, action: str, *, own: bool, monkeypatch, capsys, tmp_path) -> None:
    """Do the action as the user through the core (raises NotAllowed when refused). `own`: on the user's own
    record (the meeting they chair, the decision they own, the review they wrote)."""
    mine = user.name if own else "Richard Osei"
    if action == "read":
        dec.register(engine, today=D(2026, 4, 1))
    elif action == "answer assessment":
        submit_answers(
            engine,
            answers=Answers(
                period=D(2026, 1, 1), respondent=user.name, team="Sales", scores=dict.fromkeys(PRACTICES, 3)
            ),
            user=user,
        )
    elif action == "answer for others":
        submit_answers(
            engine,
            answers=Answers(
                period=D(2026, 1, 1), respondent="someone", team="Sales", scores=dict.fromkeys(PRACTICES, 3)
            ),
            user=user,
        )
    elif action == "write review":
        reviews.save_review(engine=engine, fields=REVIEW, kpis=[], user=user, config=config, submit=False)
    elif action == "amend review":
        author = user if own else User("someone-else", "contributor")
        rid = reviews.save_review(engine=engine, fields=REVIEW, kpis=[], user=author, config=config, submit=True)
        amended = {**REVIEW, "lessons": "x"}
        try:
            reviews.save_review(
                engine=engine, fields=amended, kpis=[], user=user, config=config, submit=True, review_id=rid
            )
        except reviews.ReviewRefused as e:  # the core's words for this refusal
            raise NotAllowed(str(e)) from e
    elif action == "log meeting":
        mt.log_meeting(engine, meeting=_meeting(), config=config, user=user)
    elif action == "edit meeting":
        mid = mt.log_meeting(engine, meeting=_meeting(chair=mine), config=config, user=ADMIN)
        mt.update_meeting(engine, meeting_id=mid, meeting=_meeting(chair=mine, attended=()), config=config, user=user)
    elif action == "raise decision":
        dec.raise_decision(engine, decision=_decision(), config=config, user=user)
    elif action == "decide":
        did = dec.raise_decision(engine, decision=_decision(owner=mine), config=config, user=ADMIN)
        dec.decide(engine, decision_id=did, decided_on=D(2026, 3, 5), user=user)
    elif action == "import":
        data = b"ref,text,raised_on,owner\nD-1,Raise safety stock,2026-03-01,Richard Osei\n"
        sponsorship_load.import_decisions(engine, data, "decisions.csv", config=config, user=user)
    elif action == "comment":
        from kpis import commentary

        owned = dataclasses.replace(
            config,
            kpis=tuple(k.model_copy(update={"owner": mine}) if k.id == "supplier_otif" else k for k in config.kpis),
        )
        commentary.save_comment(engine, owned, user, kpi_id="supplier_otif", period=D(2026, 3, 1), text="Late ships")
    elif action == "manage actions":
        actions.create_action(engine=engine, fields=ACTION, user=user, config=config)
    elif action == "audit log":
        auditlog.count(engine, user)
    elif action == "destroy":
        if _cli_refused(monkeypatch, capsys, tmp_path, user.role, ["db", "downgrade", "base"]):
            raise NotAllowed("refused by the command line")
    elif action == "act as another user":
        cfg = dataclasses.replace(
            config, roles=config.roles.model_copy(update={"users": {"login": user.role}, "default": "viewer"})
        )
        monkeypatch.setattr("kpis.access.users.os_login", lambda: "login")
        monkeypatch.delenv("SOP_PULSE_USER", raising=False)
        current_user(cfg, "someone")
    else:  # a rule added without a walk: fail until it has one
        raise AssertionError(f"no core call for {action!r}")


@pytest.mark.parametrize("action", [r.action for r in rules.RULES])
def test_every_role_is_allowed_or_refused_in_the_core_as_the_table_says(
    engine, config, admin, action, monkeypatch, capsys, tmp_path
):
    sync_catalog(engine, config, admin)
    if action == "destroy" and engine.dialect.name != "sqlite":
        pytest.skip("the command line's refusal is walked once, on SQLite")
    for role in rules.ROLES:
        for own in (False, True) if rules.BY_ACTION[action].own else (False,):
            user = User(f"{role}-{'own' if own else 'other'}", role)
            expected = rules.allowed(role, action, own=own)
            try:
                _walk(engine, config, user, action, own=own, monkeypatch=monkeypatch, capsys=capsys, tmp_path=tmp_path)
                done = True
            except NotAllowed:
                done = False
            assert done is expected, f"{role} {'own' if own else 'other'} {action}: table says {expected}"


def test_a_contributor_owns_by_verified_email_never_by_a_typed_name(engine, config, admin):
    sync_catalog(engine, config, admin)
    did = dec.raise_decision(engine, decision=_decision(owner="Carla@Example.com"), config=config, user=ADMIN)
    impostor = User("oidc:https://id.example.com|mallory", "contributor", display="Carla@Example.com")
    with pytest.raises(NotAllowed, match="may not decide"):
        dec.decide(engine, decision_id=did, decided_on=D(2026, 3, 5), user=impostor)
    carla = User("oidc:https://id.example.com|carla", "contributor", display="Carla", email="carla@example.com")
    dec.decide(engine, decision_id=did, decided_on=D(2026, 3, 5), user=carla)
    mid = mt.log_meeting(engine, meeting=_meeting(chair="carla@example.com"), config=config, user=ADMIN)
    with pytest.raises(NotAllowed, match="may not edit meeting"):
        mt.update_meeting(engine, meeting_id=mid, meeting=_meeting(attended=()), config=config, user=impostor)
    mt.update_meeting(engine, meeting_id=mid, meeting=_meeting(chair="carla@example.com"), config=config, user=carla)


def test_the_meetings_page_offers_corrections_and_decisions_only_to_who_may_save_them(demo_env, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace("\n[roles.users]\n", '\n[roles.users]\n"carla" = "contributor"\n"erin" = "editor"\n', 1)
    cfg = tmp_path / "config.toml"
    cfg.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SOP_PULSE_CONFIG", str(cfg))
    offered = {}
    for who in ("carla", "erin"):
        monkeypatch.setenv("SOP_PULSE_USER", who)  # named by the admin OS login (the default role)
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
        at.switch_page("pages/meetings.py").run()
        assert not at.exception
        offered[who] = (
            any("Correct this meeting" in e.label for e in at.expander),
            any(h.value == "Act on a pending decision" for h in at.subheader),
        )
    assert offered == {"carla": (False, False), "erin": (True, True)}  # carla chairs and owns nothing
