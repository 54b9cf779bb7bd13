"""Importing meetings and decisions: every bad row named by row and column, nothing written; re-imports update."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kpis.access.users import NotAllowed
from kpis.imports.problems import ImportFailed
from kpis.sponsorship.load import import_decisions, import_meetings
from kpis.store.models import (
    AuditEvent,
    Decision,
    ImportBatch,
    Meeting,
    MeetingAttendee,
)

MEETINGS = (
    "meeting,type,date,chair,person,invited,attended,notes\n"
    "EX-2026-03,executive S&OP,2026-03-20,Richard Osei,Richard Osei,yes,yes,Agreed the Q2 plan\n"
    "EX-2026-03,executive S&OP,2026-03-20,Richard Osei,Tom Becker,yes,no,\n"
    "EX-2026-03,executive S&OP,2026-03-20,Richard Osei,Maria Chen,no,yes,\n"
    "DR-2026-03,Demand review,2026-03-08,Tom Becker,Tom Becker,true,1,\n"
)
DECISIONS = (
    "ref,text,raised_on,decided_on,owner,meeting,kpi\n"
    "D-1,Approve overtime on line 3,2026-03-20,2026-03-27,Richard Osei,EX-2026-03,otif\n"
    "D-2,Fund a second planner,2026-03-20,,Lars Nilsson,EX-2026-03,\n"
)


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def counts(engine) -> tuple[int, ...]:
    return tuple(count(engine, m) for m in (Meeting, MeetingAttendee, Decision, ImportBatch, AuditEvent))


def test_meetings_import_stores_meetings_and_attendance(engine, config, admin):
    res = import_meetings(engine, MEETINGS.encode(), "meetings.csv", config=config, user=admin)
    assert (res.inserted, res.updated, res.unchanged) == (2, 0, 0)
    assert "2 meetings inserted" in res.summary()
    with Session(engine) as conn:
        m = conn.scalars(select(Meeting).where(Meeting.ref == "DR-2026-03")).one()
        assert (m.type, m.date, m.chair) == (
            "demand review",
            dt.date(2026, 3, 8),
            "Tom Becker",
        )  # case-insensitive type
        rows = conn.execute(
            select(MeetingAttendee.person, MeetingAttendee.invited, MeetingAttendee.attended)
            .join(Meeting)
            .where(Meeting.ref == "EX-2026-03")
            .order_by(MeetingAttendee.person)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("Maria Chen", False, True),
        ("Richard Osei", True, True),
        ("Tom Becker", True, False),
    ]


def test_meetings_reimport_same_file_changes_nothing(engine, config, admin):
    import_meetings(engine, MEETINGS.encode(), "meetings.csv", config=config, user=admin)
    before = counts(engine)
    res = import_meetings(engine, MEETINGS.encode(), "meetings.csv", config=config, user=admin)
    assert not res.changed and "no changes — all 2 meetings already stored (same content imported" in res.summary()
    assert counts(engine) == before


def test_meetings_reimport_updates_a_meeting_by_its_id(engine, config, admin):
    import_meetings(engine, MEETINGS.encode(), "meetings.csv", config=config, user=admin)
    changed = MEETINGS.replace("Tom Becker,yes,no", "Tom Becker,yes,yes")
    res = import_meetings(engine, changed.encode(), "meetings2.csv", config=config, user=admin)
    assert (res.inserted, res.updated, res.unchanged) == (0, 1, 1)
    assert count(engine, Meeting) == 2
    with engine.connect() as conn:
        att = conn.execute(
            select(MeetingAttendee.attended)
            .where(MeetingAttendee.person == "Tom Becker")
            .join(Meeting)
            .where(Meeting.ref == "EX-2026-03")
        ).scalar_one()
    assert att is True


@pytest.mark.parametrize(
    "bad,row,column,message",
    [
        (
            "EX-2026-03,executive S&OP,2026-02-30,Richard Osei,Richard Osei,yes,yes",
            2,
            "date",
            "'2026-02-30' is not a date",
        ),
        (
            "EX-2026-03,board meeting,2026-03-20,Richard Osei,Richard Osei,yes,yes",
            2,
            "type",
            "unknown meeting type 'board meeting'",
        ),
        (
            "EX-2026-03,executive S&OP,2026-03-20,Richard Osei,Richard Osei,yes,maybe",
            2,
            "attended",
            "'maybe' is not yes/no",
        ),
        ("EX-2026-03,executive S&OP,2026-03-20,Richard Osei,Richard Osei,,yes", 2, "invited", "is empty"),
        ("EX-2026-03,executive S&OP,2026-03-20,,Richard Osei,yes,yes", 2, "chair", "is empty"),
    ],
)
def test_meetings_bad_row_named_and_nothing_written(engine, config, admin, bad, row, column, message):
    data = "meeting,type,date,chair,person,invited,attended\n" + bad + "\nOK-1,data review,2026-03-03,A,B,yes,yes\n"
    before = counts(engine)
    with pytest.raises(ImportFailed) as e:
        import_meetings(engine, data.encode(), "bad.csv", config=config, user=admin)
    p = e.value.problems[0]
    assert (p.file, p.row, p.column) == ("bad.csv", row, column) and message in p.message
    assert counts(engine) == before


def test_meetings_rows_of_one_meeting_must_agree(engine, config, admin):
    data = MEETINGS.replace("2026-03-20,Richard Osei,Tom Becker", "2026-03-21,Richard Osei,Tom Becker")
    with pytest.raises(ImportFailed) as e:
        import_meetings(engine, data.encode(), "m.csv", config=config, user=admin)
    assert [(p.row, p.column) for p in e.value.problems] == [(3, "date")]


def test_meetings_person_listed_twice(engine, config, admin):
    data = MEETINGS + "EX-2026-03,executive S&OP,2026-03-20,Richard Osei,Tom Becker,yes,yes\n"
    with pytest.raises(ImportFailed) as e:
        import_meetings(engine, data.encode(), "m.csv", config=config, user=admin)
    assert (e.value.problems[0].row, e.value.problems[0].column) == (6, "person")


def test_meetings_missing_column(engine, config, admin):
    with pytest.raises(ImportFailed, match="missing column\\(s\\) 'attended'"):
        import_meetings(
            engine,
            b"meeting,type,date,chair,person,invited\nA,data review,2026-01-01,a,b,yes\n",
            "m.csv",
            config=config,
            user=admin,
        )


def test_decisions_import_links_meeting_and_kpi(engine, config, admin):
    import_meetings(engine, MEETINGS.encode(), "meetings.csv", config=config, user=admin)
    res = import_decisions(engine, DECISIONS.encode(), "decisions.csv", config=config, user=admin)
    assert (res.inserted, res.updated) == (2, 0) and "2 decisions inserted" in res.summary()
    with Session(engine) as conn:
        d1 = conn.scalars(select(Decision).where(Decision.ref == "D-1")).one()
        d2 = conn.scalars(select(Decision).where(Decision.ref == "D-2")).one()
        ex = conn.execute(select(Meeting.id).where(Meeting.ref == "EX-2026-03")).scalar_one()
    assert (d1.kpi_id, d1.meeting_id, d1.decided_on) == ("otif", ex, dt.date(2026, 3, 27))
    assert d2.decided_on is None and d2.kpi_id is None


def test_decisions_reimport_updates_by_ref_and_same_file_changes_nothing(engine, config, admin):
    import_meetings(engine, MEETINGS.encode(), "meetings.csv", config=config, user=admin)
    import_decisions(engine, DECISIONS.encode(), "decisions.csv", config=config, user=admin)
    res = import_decisions(engine, DECISIONS.encode(), "decisions.csv", config=config, user=admin)
    assert not res.changed
    decided = DECISIONS.replace("2026-03-20,,Lars", "2026-03-20,2026-04-30,Lars")
    res = import_decisions(engine, decided.encode(), "decisions2.csv", config=config, user=admin)
    assert (res.inserted, res.updated, res.unchanged) == (0, 1, 1)
    with engine.connect() as conn:
        assert conn.execute(select(Decision.decided_on).where(Decision.ref == "D-2")).scalar_one() == dt.date(
            2026, 4, 30
        )


@pytest.mark.parametrize(
    "bad,column,message",
    [
        ("D-9,Raise prices,2026-13-01,,Richard Osei,,", "raised_on", "'2026-13-01' is not a date"),
        ("D-9,Raise prices,2026-03-10,2026-03-01,Richard Osei,,", "decided_on", "is before raised_on 2026-03-10"),
        ("D-9,Raise prices,2026-03-10,,,,", "owner", "is empty; every decision needs an owner"),
        ("D-9,Raise prices,2026-03-10,,Richard Osei,NOPE,", "meeting", "unknown meeting 'NOPE'"),
        ("D-9,Raise prices,2026-03-10,,Richard Osei,,otiff", "kpi", "unknown KPI 'otiff'"),
        ("D-9,,2026-03-10,,Richard Osei,,", "text", "is empty"),
    ],
)
def test_decisions_bad_row_named_and_nothing_written(engine, config, admin, bad, column, message):
    data = "ref,text,raised_on,decided_on,owner,meeting,kpi\nD-8,Fine,2026-03-01,,Lars Nilsson,,\n" + bad + "\n"
    before = counts(engine)
    with pytest.raises(ImportFailed) as e:
        import_decisions(engine, data.encode(), "dec.csv", config=config, user=admin)
    assert len(e.value.problems) == 1
    p = e.value.problems[0]
    assert (p.file, p.row, p.column) == ("dec.csv", 3, column) and message in p.message
    assert counts(engine) == before


def test_excel_meetings_file(engine, config, admin, tmp_path):
    import pandas as pd

    path = tmp_path / "m.xlsx"
    pd.DataFrame(
        {
            "meeting": ["X1", "X1"],
            "type": ["supply review"] * 2,
            "date": [pd.Timestamp("2026-03-12")] * 2,
            "chair": ["Priya Nair"] * 2,
            "person": ["Priya Nair", "Diego Alvarez"],
            "invited": [True, 1],
            "attended": ["Yes", 0],
        }
    ).to_excel(path, index=False)
    res = import_meetings(engine, path.read_bytes(), "m.xlsx", config=config, user=admin)
    assert res.inserted == 1
    assert count(engine, MeetingAttendee) == 2


def test_viewer_cannot_import(engine, config, viewer):
    with pytest.raises(NotAllowed):
        import_meetings(engine, MEETINGS.encode(), "m.csv", config=config, user=viewer)


def test_sample_files_import(engine, config, admin):
    from pathlib import Path

    samples = Path(__file__).resolve().parents[2] / "data" / "samples"
    m = import_meetings(engine, (samples / "meetings.csv").read_bytes(), "meetings.csv", config=config, user=admin)
    d = import_decisions(engine, (samples / "decisions.csv").read_bytes(), "decisions.csv", config=config, user=admin)
    assert (m.inserted, d.inserted) == (5, 3)
