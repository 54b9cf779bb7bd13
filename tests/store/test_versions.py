"""Two people editing the same action, review, meeting or decision (kpis.store.versions): both open version 1,
the first save wins, the second is refused with who and when, and nothing of the first is overwritten. The
version is checked in the UPDATE itself, so a save racing between another's read and write is refused too.
SQLite and PostgreSQL."""

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from kpis.access.users import User
from kpis.catalog.sync import sync_catalog
from kpis.improvement import actions, reviews
from kpis.sponsorship import decisions as dec
from kpis.sponsorship import meetings as mt
from kpis.store import versions
from kpis.store.models import Action, AuditEvent
from kpis.store.retry import is_retryable, retrying
from kpis.store.versions import EditConflict

ANA = User("ana", "editor")
BEN = User("ben", "editor")
TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def db(engine, config, admin):
    sync_catalog(engine, config, admin)
    return engine


def _action(db, config) -> int:
    fields = {
        "title": "Weekly supplier call",
        "type": "corrective",
        "practice": "partners",
        "owner": "Hannah Scott",
        "due_date": dt.date(2026, 6, 30),
        "kpi_id": "supplier_otif",
        "expected_direction": "higher",
    }
    return actions.create_action(engine=db, fields=fields, user=ANA, config=config)


def _events(db, entity: str, entity_id) -> list[str]:
    with Session(db) as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.entity == entity, AuditEvent.entity_id == str(entity_id))
                .order_by(AuditEvent.id)
            )
        )


def _review_fields(**over):
    base = {
        "initiative": "Supplier portal",
        "practices": ["partners"],
        "review_date": dt.date(2026, 3, 10),
        "period": dt.date(2026, 1, 1),
        "team": "S&OP core",
        "facilitator": "Julia",
        "participants": ["A"],
        "objectives": "Raise supplier OTIF",
        "rating": 4,
    }
    return {**base, **over}


# ---------------------------------------------------------------- actions


def test_second_edit_of_an_action_opened_at_the_same_version_is_refused(db, config):
    aid = _action(db, config)
    opened_by_ana = actions.get_action(db, aid)["version"]
    opened_by_ben = actions.get_action(db, aid)["version"]
    assert opened_by_ana == opened_by_ben == 1
    actions.update_action(
        engine=db,
        action_id=aid,
        fields={"title": "Ana's title"},
        user=ANA,
        config=config,
        expected_version=opened_by_ana,
    )
    with pytest.raises(EditConflict) as e:
        actions.update_action(
            engine=db,
            action_id=aid,
            fields={"title": "Ben's title", "owner": "Ben"},
            user=BEN,
            config=config,
            expected_version=opened_by_ben,
        )
    assert e.value.by == "ana" and e.value.entity == "action" and (e.value.expected, e.value.current) == (1, 2)
    assert str(e.value).startswith(f"action #{aid} was changed by ana at ") and "since you opened it" in str(e.value)
    assert " UTC since" in str(e.value)
    a = actions.get_action(db, aid)
    assert (a["title"], a["owner"], a["version"], a["updated_by"]) == ("Ana's title", "Hannah Scott", 2, "ana")
    assert _events(db, "action", aid) == ["create", "update"]  # the refusal wrote nothing


def test_a_move_from_a_stale_page_is_refused_and_the_status_kept(db, config):
    aid = _action(db, config)
    actions.move_action(
        engine=db, action_id=aid, to="in progress", user=ANA, config=config, on=TODAY, expected_version=1
    )
    with pytest.raises(EditConflict, match="changed by ana"):
        actions.move_action(
            engine=db, action_id=aid, to="cancelled", user=BEN, config=config, on=TODAY, expected_version=1
        )
    # A field edit counts as a change too: a move from a page shown before it is refused.
    actions.update_action(
        engine=db, action_id=aid, fields={"priority": "high"}, user=BEN, config=config, expected_version=2
    )
    with pytest.raises(EditConflict, match="changed by ben"):
        actions.move_action(
            engine=db,
            action_id=aid,
            to="done",
            user=ANA,
            config=config,
            on=TODAY,
            completed_on=TODAY,
            expected_version=2,
        )
    a = actions.get_action(db, aid)
    assert (a["status"], a["completed_on"], a["cancelled_on"], a["version"]) == ("in progress", None, None, 3)
    msg = actions.move_action(
        engine=db, action_id=aid, to="done", user=ANA, config=config, on=TODAY, completed_on=TODAY, expected_version=3
    )
    assert "moved from 'in progress' to 'done'" in msg and actions.get_action(db, aid)["version"] == 4


def test_verification_from_a_stale_page_is_refused(db, config):
    aid = _action(db, config)
    for v, to in ((1, "in progress"), (2, "done")):
        actions.move_action(
            engine=db, action_id=aid, to=to, user=ANA, config=config, on=TODAY, completed_on=TODAY, expected_version=v
        )
    actions.move_action(engine=db, action_id=aid, to="verified", user=ANA, config=config, expected_version=3)
    with pytest.raises(EditConflict):
        actions.move_action(engine=db, action_id=aid, to="not effective", user=BEN, config=config, expected_version=3)
    a = actions.get_action(db, aid)
    assert (a["status"], a["verified_by"]) == ("verified", "ana")


def test_no_expected_version_keeps_the_cli_and_imports_working(db, config):
    aid = _action(db, config)
    actions.update_action(engine=db, action_id=aid, fields={"title": "A"}, user=ANA, config=config)
    actions.update_action(engine=db, action_id=aid, fields={"title": "B"}, user=BEN, config=config)
    assert actions.get_action(db, aid)["version"] == 3


def test_the_version_is_checked_in_the_update_itself(db, config):
    """Two sessions read version 1; the first commits; the second's UPDATE matches no row (no silent overwrite)."""
    aid = _action(db, config)
    with Session(db) as first, Session(db) as second:
        a1, a2 = first.get(Action, aid), second.get(Action, aid)
        assert a1.version == a2.version == 1
        a1.title = "first"
        first.commit()
        a2.title = "second"
        with pytest.raises(StaleDataError):
            second.commit()
    assert actions.get_action(db, aid)["title"] == "first"


def test_a_save_racing_between_read_and_update_is_refused_not_retried_into_an_overwrite(db, config, monkeypatch):
    """Ben saves after Ana's save has read the row but before its UPDATE: Ana's UPDATE matches nothing, the
    transaction reruns (kpis.store.retry), sees Ben's version and refuses with his name."""
    aid = _action(db, config)
    real, calls = versions.check, []

    def check_then_ben_saves(row, expected, *, entity):
        calls.append(expected)
        real(row, expected, entity=entity)
        if len(calls) == 1:
            actions.update_action(
                engine=db, action_id=aid, fields={"title": "Ben's"}, user=BEN, config=config, expected_version=1
            )

    monkeypatch.setattr(actions.versions, "check", check_then_ben_saves)
    with pytest.raises(EditConflict, match="changed by ben"):
        actions.update_action(
            engine=db, action_id=aid, fields={"title": "Ana's"}, user=ANA, config=config, expected_version=1
        )
    assert calls == [1, 1, 1]  # Ana's first run, Ben's save, Ana's rerun (refused there)
    a = actions.get_action(db, aid)
    assert (a["title"], a["version"]) == ("Ben's", 2)


def test_an_edit_conflict_is_never_retried():
    calls = []

    def refused():
        calls.append(1)
        raise EditConflict(entity="action", entity_id=1, by="ana", at=None)

    with pytest.raises(EditConflict):
        retrying(refused, base_delay=0.001)
    assert calls == [1]
    assert not is_retryable(EditConflict(entity="review", entity_id=1, by="x", at=None))
    assert is_retryable(
        StaleDataError("UPDATE statement on table 'action' expected to update 1 row(s); 0 were matched.")
    )


def test_stamps_are_shown_in_utc_whatever_the_database_returns():
    aware = dt.datetime(2026, 3, 1, 10, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert versions.format_at(aware) == "2026-03-01 08:05 UTC"
    assert versions.format_at(dt.datetime(2026, 3, 1, 8, 5)) == "2026-03-01 08:05 UTC"


# ---------------------------------------------------------------- reviews


def test_second_save_of_a_draft_opened_twice_is_refused(db, config):
    author = User("ana", "contributor")
    rid = reviews.save_review(engine=db, fields=_review_fields(), kpis=[], user=author, config=config, submit=False)
    assert reviews.get_review(db, rid, author)["version"] == 1
    reviews.save_review(
        engine=db,
        fields=_review_fields(lessons="tab one"),
        kpis=[],
        user=author,
        config=config,
        submit=False,
        review_id=rid,
        expected_version=1,
    )
    with pytest.raises(EditConflict, match=f"review #{rid} was changed by ana at .* since you opened it"):
        reviews.save_review(
            engine=db,
            fields=_review_fields(lessons="tab two"),
            kpis=[],
            user=author,
            config=config,
            submit=True,
            review_id=rid,
            expected_version=1,
        )
    r = reviews.get_review(db, rid, author)
    assert (r["lessons"], r["status"], r["version"]) == ("tab one", "draft", 2)
    assert _events(db, "review", rid) == ["create", "update"]


def test_amending_a_submitted_review_someone_amended_since_is_refused(db, config):
    author, manager = User("ana", "contributor"), User("ben", "editor")
    rid = reviews.save_review(engine=db, fields=_review_fields(), kpis=[], user=author, config=config, submit=True)
    kpi = [{"kpi_id": "supplier_otif", "baseline": 0.8, "target": 0.9, "actual": 0.95}]
    reviews.save_review(
        engine=db,
        fields=_review_fields(),
        kpis=kpi,
        user=manager,
        config=config,
        submit=True,
        review_id=rid,
        expected_version=1,
    )  # only the KPI rows change: still a new version
    with pytest.raises(EditConflict, match="changed by ben"):
        reviews.save_review(
            engine=db,
            fields=_review_fields(benefits="mine"),
            kpis=[],
            user=author,
            config=config,
            submit=True,
            review_id=rid,
            expected_version=1,
        )
    r = reviews.get_review(db, rid, author)
    assert (r["benefits"], [k["kpi_id"] for k in r["kpis"]], r["version"]) == ("", ["supplier_otif"], 2)


# ---------------------------------------------------------------- meetings and decisions


def test_second_correction_of_a_meeting_is_refused(db, config):
    m = mt.MeetingInput(
        type="demand review",
        date=dt.date(2026, 3, 10),
        chair="Maria Chen",
        invited=("Maria Chen", "Tom Becker"),
        attended=("Maria Chen",),
        notes="first",
    )
    mid = mt.log_meeting(db, meeting=m, config=config, user=ANA)
    assert mt.list_meetings(db).set_index("id").at[mid, "version"] == 1
    mt.update_meeting(
        db,
        meeting_id=mid,
        meeting=mt.MeetingInput(**{**m.__dict__, "notes": "Ana's notes"}),
        config=config,
        user=ANA,
        expected_version=1,
    )
    with pytest.raises(EditConflict, match=f"meeting #{mid} was changed by ana"):
        mt.update_meeting(
            db,
            meeting_id=mid,
            meeting=mt.MeetingInput(**{**m.__dict__, "notes": "Ben's", "attended": ()}),
            config=config,
            user=BEN,
            expected_version=1,
        )
    row = mt.list_meetings(db).set_index("id").loc[mid]
    assert (row["notes"], row["attended"], row["version"]) == ("Ana's notes", 1, 2)


def test_a_decision_marked_decided_meanwhile_is_not_redated(db, config):
    did = dec.raise_decision(
        db,
        decision=dec.DecisionInput(text="Approve overtime", raised_on=dt.date(2026, 3, 1), owner="Richard Osei"),
        config=config,
        user=ANA,
    )
    dec.decide(db, decision_id=did, decided_on=dt.date(2026, 3, 5), user=ANA, only_if_pending=True)
    with pytest.raises(EditConflict, match=f"decision #{did} was changed by ana"):
        dec.decide(db, decision_id=did, decided_on=dt.date(2026, 3, 9), user=BEN, only_if_pending=True)
    reg = dec.register(db, today=dt.date(2026, 4, 1)).set_index("id")
    assert str(reg.at[did, "decided_on"])[:10] == "2026-03-05"
    with Session(db) as s:
        n = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.entity == "decision"))
    assert n == 2  # raised, decided once


def test_every_save_is_one_version(db, config):
    """Draft, edit and submit are three saves and three versions (one checked UPDATE per save)."""
    author = User("ana", "contributor")
    rid = reviews.save_review(engine=db, fields=_review_fields(), kpis=[], user=author, config=config, submit=False)
    reviews.save_review(
        engine=db,
        fields=_review_fields(lessons="x"),
        kpis=[],
        user=author,
        config=config,
        submit=False,
        review_id=rid,
        expected_version=1,
    )
    reviews.save_review(
        engine=db,
        fields=_review_fields(lessons="y"),
        kpis=[],
        user=author,
        config=config,
        submit=True,
        review_id=rid,
        expected_version=2,
    )
    r = reviews.get_review(db, rid, author)
    assert (r["status"], r["lessons"], r["version"]) == ("submitted", "y", 3)
    assert _events(db, "review", rid) == ["create", "update", "submit"]
