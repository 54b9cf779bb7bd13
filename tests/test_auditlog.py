"""The admins' audit log (kpis.auditlog): role check, filters in SQL, paging, before/after, export."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pytest
from sqlalchemy import func, select

from kpis import auditlog, export
from kpis.access.users import NotAllowed, User
from kpis.store.engine import session_factory
from kpis.store.models import AuditEvent

ADMIN = User(name="root", role="admin")
UTC = dt.UTC


def _event(at: dt.datetime, actor: str, entity: str, action: str = "update", entity_id="1", details=None):
    return AuditEvent(at=at, actor=actor, action=action, entity=entity, entity_id=entity_id, details=details)


def _seed(engine) -> None:
    with session_factory(engine).begin() as s:
        s.add_all(
            [
                _event(
                    dt.datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC),
                    "alice",
                    "action",
                    details={"owner": {"old": "Tom", "new": "Maria"}},
                ),
                _event(
                    dt.datetime(2026, 4, 1, 0, 0, tzinfo=UTC),
                    "bob",
                    "decision",
                    details={"decided_on": {"old": None, "new": "2026-04-01"}},
                ),
                _event(
                    dt.datetime(2026, 4, 30, 23, 59, tzinfo=UTC),
                    "alice",
                    "review",
                    details={"changed": {"rating": {"old": 3, "new": 4}}},
                ),
                _event(
                    dt.datetime(2026, 5, 1, 0, 0, tzinfo=UTC),
                    "=cmd|' /C calc'!A0",
                    "action",
                    action="create",
                    details={"title": '=HYPERLINK("http://evil")', "owner": "Maria"},
                ),
            ]
        )


@pytest.mark.parametrize("role", ["viewer", "contributor", "editor"])
def test_only_admins_read_it_and_a_refusal_is_audited(engine, role):
    _seed(engine)
    user = User(name="someone", role=role)
    for call in (
        lambda: auditlog.search(engine, user),
        lambda: auditlog.choices(engine, user),
        lambda: auditlog.count(engine, user),
        lambda: auditlog.export_rows(engine, user),
    ):
        with pytest.raises(NotAllowed, match="admin"):
            call()
    with engine.connect() as conn:
        denied = conn.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "denied", AuditEvent.actor == "someone")
        ).scalar_one()
    assert denied == 4


def test_filters_by_person_record_type_and_inclusive_utc_days(engine):
    _seed(engine)
    f = auditlog.Filters
    assert auditlog.count(engine, ADMIN) == 4
    assert auditlog.count(engine, ADMIN, f(actors=("alice",))) == 2
    assert auditlog.count(engine, ADMIN, f(entities=("action",))) == 2
    assert auditlog.count(engine, ADMIN, f(actors=("alice",), entities=("action",))) == 1
    april = auditlog.search(engine, ADMIN, f(since=dt.date(2026, 4, 1), until=dt.date(2026, 4, 30)))
    assert april.total == 2 and april.rows["Who"].tolist() == ["alice", "bob"]  # newest first
    assert auditlog.count(engine, ADMIN, f(until=dt.date(2026, 3, 31))) == 1  # 23:59:59 is still that day
    assert auditlog.count(engine, ADMIN, f(since=dt.date(2026, 5, 1))) == 1  # 00:00 starts the day
    assert auditlog.search(engine, ADMIN, f(since=dt.date(2026, 5, 2), until=dt.date(2026, 5, 1))).total == 0
    assert auditlog.count(engine, ADMIN, f(actors=("alice' OR '1'='1",))) == 0  # bound, not run
    people, kinds = auditlog.choices(engine, ADMIN)
    assert people == sorted(["alice", "bob", "=cmd|' /C calc'!A0"]) and kinds == ["action", "decision", "review"]


def test_paging_says_how_many_are_shown(engine):
    _seed(engine)
    first = auditlog.search(engine, ADMIN, limit=3)
    assert len(first.rows) == 3 and first.total == 4 and first.shown_text == "3 of 4 events shown (1–3)"
    rest = auditlog.search(engine, ADMIN, limit=3, offset=3)
    assert len(rest.rows) == 1 and rest.shown_text == "1 of 4 events shown (4–4)"
    assert auditlog.search(engine, ADMIN).shown_text == "4 events shown"
    assert auditlog.shown(0, 0) == "0 events"


def test_rows_read_as_before_and_after(engine, config):
    _seed(engine)
    rows = auditlog.search(engine, ADMIN, config=config).rows
    assert rows.columns.tolist() == ["When (UTC)", "Who", "Action", "Record", "What", "Before", "After"]
    by_record = rows.set_index("Record")
    assert by_record.loc["review 1", ["Before", "After"]].tolist() == ["rating: 3", "rating: 4"]
    assert by_record.loc["decision 1", ["Before", "After"]].tolist() == ["decided on: –", "decided on: 2026-04-01"]
    assert rows["When (UTC)"].tolist()[-1] == "2026-03-31 23:59"


def test_before_after_of_each_recorded_shape(config):
    ba = auditlog.before_after
    assert ba("update", "kpi_value", {"kpi": "otif", "old": 0.943, "new": 0.951}, config) == ("94.3 %", "95.1 %")
    assert ba("status", "action", {"from": "open", "to": "in progress", "before": {"status": "open"}}) == (
        "status: open",
        "status: in progress",
    )
    assert ba("update", "meeting", {"before": {"chair": "A"}, "after": {"chair": "B"}}) == ("chair: A", "chair: B")
    assert ba("create", "action", {"title": "T", "owner": "O", "sponsor": None}) == ("", "title: T; owner: O")
    assert ba("denied", "import", {"permission": "import", "role": "viewer"}) == ("", "")


def test_excel_export_of_the_filtered_rows_is_neutralised(engine, config):
    _seed(engine)
    rows = auditlog.export_rows(engine, ADMIN, auditlog.Filters(since=dt.date(2026, 5, 1)), config=config)
    back = pd.read_excel(io.BytesIO(export.excel_bytes(rows, "audit log")), dtype=str)
    assert len(back) == 1
    assert back.loc[0, "Who"] == "'=cmd|' /C calc'!A0"
    assert not any(str(v).startswith(("=", "+", "-", "@")) for v in back.to_numpy().ravel())
    assert (
        auditlog.file_name(auditlog.Filters(since=dt.date(2026, 5, 1)), dt.date(2026, 11, 25))
        == "audit_log_2026-11-25_2026-05-01_to_now"
    )


def test_demo_log_is_all_there(engine, config):
    from kpis import demo

    demo.load_demo(engine, config, User(name="demo", role="admin"), seed=7)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    page = auditlog.search(engine, ADMIN, config=config)
    assert page.total == n and len(page.rows) == min(n, auditlog.PAGE_SIZE)
    assert page.rows["Record"].iloc[0] == "database" and page.rows["What"].iloc[0].startswith("Demo data loaded")
    people, kinds = auditlog.choices(engine, ADMIN)
    assert people == ["demo"] and "database" in kinds
    assert auditlog.count(engine, ADMIN, auditlog.Filters(actors=("demo",))) == n
    assert auditlog.count(engine, ADMIN, auditlog.Filters(entities=("database",))) == 1
