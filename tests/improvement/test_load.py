"""The actions import: every error names file, row and column and writes nothing; re-import changes nothing;
a verdict frozen in the app is never rewritten. Runs on SQLite and PostgreSQL."""

import datetime as dt
import io

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kpis.access.users import NotAllowed, User
from kpis.catalog.sync import sync_catalog
from kpis.imports.problems import ImportFailed
from kpis.improvement import actions
from kpis.improvement.load import import_actions
from kpis.store.models import Action, ImportBatch

HEADER = (
    "ref,title,kpi,segment,expected_direction,owner,sponsor,practice,type,priority,"
    "due_date,status,completed_on,description\n"
)
GOOD = HEADER + (
    "CI-1,Weekly supplier call,supplier_otif,,higher,Hannah Scott,Priya Nair,partners,corrective,high,"
    "2026-03-31,done,2026-03-20,Top 20\n"
    "CI-2,Clean obsolete stock,excess_obsolete_stock,,lower,Lars Nilsson,,improvement,,,2026-12-31,in progress,,\n"
    "CI-3,Decision log,,,,Julia Weber,Richard Osei,sponsorship,improvement,low,2026-02-28,cancelled,,\n"
)


@pytest.fixture
def db(engine, config, admin):
    sync_catalog(engine, config, admin)
    return engine


def _import(db, config, admin, text, name="actions.csv"):
    return import_actions(db, text.encode(), name, config=config, user=admin)


def _count(db) -> int:
    with Session(db) as s:
        return s.scalar(select(func.count()).select_from(Action))


def test_good_file_is_stored(db, config, admin):
    res = _import(db, config, admin, GOOD)
    assert (res.inserted, res.updated, res.unchanged) == (3, 0, 0)
    assert "3 actions added" in res.summary()
    with Session(db) as s:
        a = {x.ref: x for x in s.scalars(select(Action))}
    assert a["CI-1"].status == "done" and a["CI-1"].completed_on == dt.date(2026, 3, 20)
    assert a["CI-2"].type == "improvement" and a["CI-2"].priority == "medium" and a["CI-2"].sponsor is None
    assert a["CI-3"].cancelled_on is not None and a["CI-3"].kpi_id is None
    assert a["CI-1"].created_by == "tester"


def test_reimport_changes_nothing_and_says_so(db, config, admin):
    _import(db, config, admin, GOOD)
    res = _import(db, config, admin, GOOD)
    assert not res.changed and res.unchanged == 3
    assert "no changes" in res.summary() and "already stored" in res.summary()
    with Session(db) as s:
        assert s.scalar(select(func.count()).select_from(ImportBatch)) == 1


def test_reimport_with_a_changed_row_updates_that_action(db, config, admin):
    _import(db, config, admin, GOOD)
    res = _import(db, config, admin, GOOD.replace("2026-12-31,in progress", "2027-01-31,in progress"))
    assert (res.inserted, res.updated, res.unchanged) == (0, 1, 2)


def test_excel_file_with_real_dates(db, config, admin):
    df = pd.read_csv(io.StringIO(GOOD), dtype=str, keep_default_na=False)
    df["due_date"] = pd.to_datetime(df["due_date"])
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
    res = import_actions(db, buf.getvalue(), "log.xlsx", config=config, user=admin)
    assert res.inserted == 3


ROW = "CI-9,Title,otif,,higher,Ann,,process,improvement,medium,2026-05-01,open,,\n"


@pytest.mark.parametrize(
    "row,column,message",
    [
        (ROW.replace("otif,,higher", "otiff,,higher"), "kpi", "unknown KPI 'otiff' (did you mean 'otif'?)"),
        (
            ROW.replace("2026-05-01", "01/05/2026"),
            "due_date",
            "due_date '01/05/2026' is not a date; expected YYYY-MM-DD",
        ),
        (ROW.replace("2026-05-01", "2026-02-30"), "due_date", "is not a date"),
        (ROW.replace(",open,", ",closed,"), "status", "unknown status 'closed'"),
        (ROW.replace(",open,,", ",done,,"), "completed_on", "status 'done' needs completed_on"),
        (ROW.replace(",open,,", ",verified,,"), "completed_on", "status 'verified' needs completed_on"),
        (ROW.replace(",open,,", ",not effective,,"), "completed_on", "needs completed_on"),
        (ROW.replace(",open,,", ",open,2026-04-01,"), "completed_on", "completed_on is set but the status is 'open'"),
        (ROW.replace("otif,,higher", "otif,,"), "expected_direction", "expected_direction is needed with a KPI"),
        (ROW.replace("otif,,higher", "otif,,up"), "expected_direction", "is not 'higher' or 'lower'"),
        (ROW.replace("otif,,higher", ",EMEA,"), "segment", "a segment needs a KPI"),
        (ROW.replace(",process,", ",magic,"), "practice", "unknown practice 'magic'"),
        (ROW.replace(",improvement,medium", ",fix,medium"), "type", "unknown type 'fix'"),
        (ROW.replace(",medium,", ",urgent,"), "priority", "unknown priority 'urgent'"),
        (ROW.replace(",Ann,", ",,"), "owner", "owner is empty"),
        (ROW.replace("CI-9,", ",", 1), "ref", "ref is empty"),
        (ROW.replace("2026-05-01", ""), "due_date", "due_date is empty"),
    ],
)
def test_every_row_error_names_row_and_column_and_writes_nothing(db, config, admin, row, column, message):
    text = HEADER + "CI-8,Fine,,,,Bo,,process,,,2026-05-01,open,,\n" + row
    with pytest.raises(ImportFailed) as e:
        _import(db, config, admin, text)
    problems = [p for p in e.value.problems if p.column == column]
    assert problems, str(e.value)
    assert problems[0].row == 3 and problems[0].file == "actions.csv"
    assert message in problems[0].message
    assert f"actions.csv, row 3, column '{column}'" in str(e.value)
    assert _count(db) == 0


def test_duplicate_ref_in_file(db, config, admin):
    with pytest.raises(ImportFailed, match="row 3, column 'ref': duplicate: row 2 already has ref 'CI-9'"):
        _import(db, config, admin, HEADER + ROW + ROW)


def test_missing_and_unknown_columns(db, config, admin):
    with pytest.raises(ImportFailed, match="missing column\\(s\\) 'owner'"):
        _import(db, config, admin, "ref,title,practice,due_date\nA,B,process,2026-01-01\n")
    with pytest.raises(ImportFailed, match="column 'colour': unknown column"):
        _import(db, config, admin, "ref,title,owner,practice,due_date,colour\nA,B,C,process,2026-01-01,red\n")


def test_future_completion_date_is_refused(db, config, admin):
    future = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    with pytest.raises(ImportFailed, match="is in the future"):
        _import(db, config, admin, HEADER + ROW.replace(",open,,", f",done,{future},"))


def test_import_never_rewrites_a_verdict_frozen_in_the_app(db, config, admin):
    _import(db, config, admin, GOOD)
    with Session(db) as s:
        aid = s.scalar(select(Action.id).where(Action.ref == "CI-1"))
    actions.move_action(engine=db, action_id=aid, to="not effective", user=admin, config=config)
    with pytest.raises(ImportFailed, match="verdict frozen by tester"):
        _import(db, config, admin, GOOD.replace("2026-03-31,done,2026-03-20", "2026-03-31,done,2026-03-25"))
    assert actions.get_action(db, aid)["completed_on"] == dt.date(2026, 3, 20)
    # other fields of that action may still change
    res = _import(db, config, admin, GOOD.replace("done,2026-03-20,Top 20", "not effective,2026-03-20,Top 25"))
    assert res.updated == 1


def test_import_needs_editor_rights(db, config):
    with pytest.raises(NotAllowed):
        import_actions(db, GOOD.encode(), "a.csv", config=config, user=User("c", "contributor"))
