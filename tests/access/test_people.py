"""kpis.access.people: the directory written at sign-in and the names pages show for stored keys: a display name,
the verified e-mail (or the key) where names collide, an unknown key and a plain legacy name as they are;
hostile names stay text; identity is never compared on a shown name. Storage tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import select

from kpis import auditlog, export, safety
from kpis.access import people, signin
from kpis.access.users import User
from kpis.catalog.sync import sync_catalog
from kpis.improvement import export as review_export
from kpis.improvement import reviews
from kpis.store.models import AuditEvent, Person
from kpis.store.versions import EditConflict
from tests.access.test_identity import REVIEW, cfg_with

ISS = "https://id.example.com"
MARIA = {"iss": ISS, "sub": "maria-1", "email": "maria.chen@example.com", "email_verified": True, "name": "Maria Chen"}
# Another Maria Chen (same display name), with her own verified address.
MARIA2 = {"iss": ISS, "sub": "maria-2", "email": "m.chen@example.com", "email_verified": True, "name": "maria chen"}
# No e-mail claim; her display name is Maria's address.
MALLORY = {"iss": ISS, "sub": "mallory-7", "name": "maria.chen@example.com", "groups": ["sop-planners"]}
T0 = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def cfg(config):
    return cfg_with(
        config,
        emails={"maria.chen@example.com": "contributor"},
        domains={"example.com": "contributor"},
        groups={"sop-planners": "contributor"},
    )


def _user(cfg, claims) -> User:
    who = signin.signed_in_user(cfg, claims)
    assert who is not None
    return who


def _events(engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        q = select(AuditEvent.actor, AuditEvent.action, AuditEvent.entity_id).where(AuditEvent.entity == "person")
        return [tuple(r) for r in conn.execute(q.order_by(AuditEvent.id))]


def _rows(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        q = select(Person.key, Person.name, Person.email, Person.first_seen, Person.last_seen)
        return {k: (n, e, f, last) for k, n, e, f, last in conn.execute(q)}


def _utc(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)  # SQLite returns naive UTC


def test_sign_in_upserts_the_person_first_and_last_seen(engine, cfg):
    maria = _user(cfg, MARIA)
    assert people.record_sign_in(engine, maria, now=T0)
    row = _rows(engine)[maria.name]
    assert row[:2] == ("Maria Chen", "maria.chen@example.com") and _utc(row[2]) == _utc(row[3]) == T0
    assert _events(engine) == [(maria.name, "create", maria.name)]  # a new person is audited

    later = T0 + dt.timedelta(days=3)
    people.record_sign_in(engine, maria, now=later)
    row = _rows(engine)[maria.name]
    assert (_utc(row[2]), _utc(row[3])) == (T0, later)  # first seen kept, last seen moved
    assert len(_events(engine)) == 1  # a repeated sign-in is not an audit event

    renamed = _user(cfg, {**MARIA, "name": "Maria Chen-Lopez"})
    people.record_sign_in(engine, renamed, now=later + dt.timedelta(days=1))
    assert _rows(engine)[maria.name][0] == "Maria Chen-Lopez" and len(_rows(engine)) == 1  # same key, one row
    assert _events(engine)[-1] == (maria.name, "update", maria.name)
    log = auditlog.log_table(
        pd.DataFrame(
            {
                "at": [T0],
                "actor": [maria.name],
                "action": ["update"],
                "entity": ["person"],
                "entity_id": [maria.name],
                "details": [{"changed": {"name": {"old": "Maria Chen", "new": "Maria Chen-Lopez"}}}],
            }
        )
    )
    assert log["What"][0] == "Sign-in name or e-mail changed: name Maria Chen → Maria Chen-Lopez"


def test_a_long_name_is_cut_and_an_overlong_address_left_out(engine):
    u = User(name="oidc:https://id.example.com|long-1", role="viewer", display="N" * 500, email="a" * 400 + "@x.org")
    assert people.record_sign_in(engine, u)
    assert _rows(engine)[u.name][:2] == ("N" * people.MAX_NAME, None)


def test_local_and_command_line_users_are_not_written(engine):
    assert people.record_sign_in(engine, User("tester", "admin", display="tester", local=True)) is False
    assert _rows(engine) == {} and _events(engine) == []


def test_a_signed_in_key_shows_the_display_name(engine, cfg):
    maria = _user(cfg, MARIA)
    people.record_sign_in(engine, maria)
    assert maria.name.startswith("oidc:")
    assert people.name(engine, maria.name) == "Maria Chen"
    assert people.names(engine, [maria.name, "tester", None]) == {maria.name: "Maria Chen", "tester": "tester"}


def test_unknown_keys_and_plain_legacy_names_are_shown_as_they_are(engine, cfg):
    people.record_sign_in(engine, _user(cfg, MARIA))
    unknown = "oidc:https://id.example.com|nobody-signed-in"
    shown = people.names(engine, [unknown, "maria.chen@example.com", "j.smith", "Julia Weber"])
    assert shown == {
        unknown: unknown,
        "maria.chen@example.com": "maria.chen@example.com",
        "j.smith": "j.smith",
        "Julia Weber": "Julia Weber",
    }
    assert people.name(engine, None) == "" and people.name(engine, "") == ""


def test_colliding_names_show_the_verified_email_or_the_key(engine, cfg):
    maria, maria2, mallory = _user(cfg, MARIA), _user(cfg, MARIA2), _user(cfg, MALLORY)
    for u in (maria, maria2, mallory):
        people.record_sign_in(engine, u)
    shown = people.names(engine, [maria.name, maria2.name, mallory.name])
    # Two people named Maria Chen (after case folding): each with her verified address.
    assert shown[maria.name] == "Maria Chen (maria.chen@example.com)"
    assert shown[maria2.name] == "maria chen (m.chen@example.com)"
    # A display name that is someone else's e-mail address, without a verified one: with the key, never bare.
    assert shown[mallory.name] == f"maria.chen@example.com ({mallory.name})"
    assert len(set(shown.values())) == 3


def test_a_name_equal_to_a_plain_name_shown_alongside_is_told_apart(engine, cfg):
    solo = _user(cfg, {"iss": ISS, "sub": "x-9", "name": "tester", "groups": ["sop-planners"]})
    people.record_sign_in(engine, solo)
    assert people.name(engine, solo.name) == "tester"  # alone, the name
    shown = people.names(engine, [solo.name, "tester"])  # beside the local admin "tester": told apart
    assert shown == {solo.name: f"tester ({solo.name})", "tester": "tester"}


def test_hostile_display_names_are_kept_as_text_and_neutralised_in_exports(engine, cfg):
    hostile = '=HYPERLINK("http://evil.example","x")\n<b>**boss**</b>\x1b[31m'
    u = _user(cfg, {"iss": ISS, "sub": "h-1", "name": hostile, "groups": ["sop-planners"]})
    people.record_sign_in(engine, u)
    shown = people.name(engine, u.name)
    assert "\n" not in shown and "\x1b" not in shown and shown.startswith("=HYPERLINK")  # control characters gone
    df = people.show_columns(engine, pd.DataFrame({"created_by": [u.name], "n": [1]}), ("created_by", "absent"))
    assert df["created_by"][0] == shown
    assert pd.read_csv(io.BytesIO(export.csv_bytes(df)))["created_by"][0] == "'" + shown
    ws = openpyxl.load_workbook(io.BytesIO(export.excel_bytes(df))).active
    assert ws["A2"].value.startswith("'=HYPERLINK") and ws["A2"].data_type == "s"
    md = review_export.review_markdown(
        {**REVIEW, "created_by": u.name, "created_at": T0, "status": "draft"}, author=shown
    )
    assert "<b>" not in md and "**boss**" not in md and f"Drafted by {safety.md(shown)}," in md


def test_a_shown_name_never_counts_as_the_person(engine, cfg):
    """Another person with Maria's display name neither sees nor changes her draft; the names differ on pages."""
    sync_catalog(engine, cfg, User("tester", "admin"))
    maria = _user(cfg, MARIA)
    twin = _user(cfg, {"iss": ISS, "sub": "twin-3", "name": "Maria Chen", "groups": ["sop-planners"]})
    for u in (maria, twin):
        people.record_sign_in(engine, u)
    rid = reviews.save_review(engine=engine, fields=REVIEW, kpis=[], user=maria, config=cfg, submit=False)
    assert reviews.get_review(engine, rid, twin) is None and not twin.is_self(maria.name)
    with pytest.raises(reviews.ReviewRefused):
        reviews.save_review(engine=engine, fields=REVIEW, kpis=[], user=twin, config=cfg, submit=False, review_id=rid)
    shown = people.names(engine, [maria.name, twin.name])
    assert (
        shown[maria.name] == "Maria Chen (maria.chen@example.com)" and shown[twin.name] == f"Maria Chen ({twin.name})"
    )


def test_an_edit_conflict_names_who_changed_the_record(engine, cfg):
    maria = _user(cfg, MARIA)
    people.record_sign_in(engine, maria)
    exc = EditConflict(entity="review", entity_id=4, by=maria.name, at=T0)
    assert str(exc) == f"review #4 was changed by {maria.name} at 2026-05-01 08:00 UTC since you opened it"
    assert (
        people.conflict(engine, exc)
        == "review #4 was changed by Maria Chen at 2026-05-01 08:00 UTC since you opened it"
    )
    assert people.conflict(engine, EditConflict(entity="action", entity_id=1, by=None, at=None)).startswith(
        "action #1 was changed by someone"
    )


def test_the_audit_log_shows_names_and_filters_on_keys(engine, cfg):
    admin = User("root", "admin")
    maria = _user(cfg, MARIA)
    people.record_sign_in(engine, maria)
    actors, _kinds = auditlog.choices(engine, admin)
    assert maria.name in actors and auditlog.people_names(engine, actors)[maria.name] == "Maria Chen"
    page = auditlog.search(engine, admin, auditlog.Filters(actors=(maria.name,)))
    assert page.total == 1 and page.rows["Who"].tolist() == ["Maria Chen"]
    assert page.rows["What"].tolist() == ["First sign-in of Maria Chen"]
    assert page.rows["Record"].tolist() == ["person Maria Chen"]
    assert auditlog.search(engine, admin, auditlog.Filters(actors=("Maria Chen",))).total == 0  # a name is no key
