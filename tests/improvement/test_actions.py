"""Improvement actions: every status move, the rules refused with a clear message, audit, frozen verdicts,
overdue and the list views. Storage tests run on SQLite and PostgreSQL."""

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from kpis.access.users import NotAllowed, User
from kpis.catalog.sync import sync_catalog
from kpis.improvement import actions, prefill, views
from kpis.improvement.actions import ActionRefused
from kpis.store.models import Action, AuditEvent, KpiValue, utcnow

TODAY = dt.date(2026, 11, 20)
MONTHS = list(pd.date_range("2025-01-01", periods=24, freq="MS").date)


@pytest.fixture
def db(engine, config, admin):
    sync_catalog(engine, config, admin)
    return engine


def _fields(**over):
    base = {
        "title": "Weekly supplier call",
        "type": "corrective",
        "practice": "partners",
        "owner": "Hannah Scott",
        "sponsor": "Priya Nair",
        "due_date": dt.date(2026, 6, 30),
        "kpi_id": "supplier_otif",
        "expected_direction": "higher",
        "source": "other",
    }
    return {**base, **over}


def _new(db, config, admin, **over) -> int:
    return actions.create_action(engine=db, fields=_fields(**over), user=admin, config=config)


def _status(db, aid) -> str:
    return actions.get_action(db, aid)["status"]


def _move(db, config, admin, aid, to, **kw):
    return actions.move_action(engine=db, action_id=aid, to=to, user=admin, config=config, on=TODAY, **kw)


# ---------------------------------------------------------------- create and fields


def test_create_stores_an_open_action_and_audits_it(db, config, admin):
    aid = _new(db, config, admin, ref="CI-001", segment="")
    a = actions.get_action(db, aid)
    assert a["status"] == "open" and a["created_by"] == "tester" and a["ref"] == "CI-001" and a["version"] == 1
    with Session(db) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.entity == "action")).one()
    assert ev.action == "create" and ev.entity_id == str(aid) and ev.details["title"] == "Weekly supplier call"


@pytest.mark.parametrize(
    "over,message",
    [
        ({"title": " "}, "title is required"),
        ({"owner": ""}, "owner is required"),
        ({"type": "fix"}, "type must be one of"),
        ({"practice": "magic"}, "practice must be one of"),
        ({"priority": "urgent"}, "priority must be one of"),
        ({"due_date": None}, "due date is required"),
        ({"kpi_id": "no_such"}, "unknown KPI 'no_such'"),
        ({"expected_direction": None}, "needs the expected direction"),
        ({"kpi_id": None, "expected_direction": None, "segment": "EMEA"}, "a segment needs a KPI"),
        ({"title": "x" * 201}, "longer than 200"),
    ],
)
def test_create_refuses_bad_fields_with_a_clear_message(db, config, admin, over, message):
    with pytest.raises(ActionRefused, match=message):
        _new(db, config, admin, **over)
    with Session(db) as s:
        assert s.scalar(select(Action.id)) is None


def test_ref_is_unique(db, config, admin):
    _new(db, config, admin, ref="CI-7")
    with pytest.raises(ActionRefused, match="already used by action"):
        _new(db, config, admin, ref="CI-7")


def test_viewer_and_contributor_cannot_write(db, config, viewer):
    with pytest.raises(NotAllowed):
        actions.create_action(engine=db, fields=_fields(), user=viewer, config=config)
    with pytest.raises(NotAllowed):
        actions.create_action(engine=db, fields=_fields(), user=User("c", "contributor"), config=config)


def test_update_is_audited_with_before_and_after(db, config, admin):
    aid = _new(db, config, admin)
    changed = actions.update_action(
        engine=db, action_id=aid, fields={"owner": "Tom Becker", "priority": "high"}, user=admin, config=config
    )
    assert changed == ["owner", "priority"]
    assert actions.get_action(db, aid)["version"] == 2
    with Session(db) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "update")).one()
    assert ev.details["owner"] == {"old": "Hannah Scott", "new": "Tom Becker"}
    assert (
        actions.update_action(engine=db, action_id=aid, fields={"owner": "Tom Becker"}, user=admin, config=config) == []
    )


@pytest.mark.parametrize("due", [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1899, 12, 31), dt.date(2200, 1, 1)])
def test_due_date_outside_the_plausible_range_is_refused(db, config, admin, due):
    with pytest.raises(ActionRefused) as e:
        _new(db, config, admin, due_date=due)
    assert str(e.value) == (
        f"due date {due.isoformat()} is outside the plausible range 1900-01-01 to 2199-12-31 "
        "(config [limits] min_date, max_date)"
    )
    with Session(db) as s:
        assert s.scalars(select(Action)).all() == []


def test_update_to_an_implausible_due_date_is_refused(db, config, admin):
    aid = _new(db, config, admin)
    with pytest.raises(ActionRefused, match="due date 9999-12-31 is outside the plausible range"):
        actions.update_action(
            engine=db, action_id=aid, fields={"due_date": dt.date(9999, 12, 31)}, user=admin, config=config
        )
    assert actions.get_action(db, aid)["due_date"] == dt.date(2026, 6, 30)


def test_due_dates_at_the_edges_and_a_configured_range(db, config, admin):
    import dataclasses

    from kpis.config import LimitsSection

    assert _new(db, config, admin, due_date=dt.date(1900, 1, 1))
    assert _new(db, config, admin, due_date=dt.date(2199, 12, 31))
    narrow = dataclasses.replace(
        config, limits=LimitsSection(min_date=dt.date(2020, 1, 1), max_date=dt.date(2030, 12, 31))
    )
    with pytest.raises(ActionRefused, match="outside the plausible range 2020-01-01 to 2030-12-31"):
        _new(db, narrow, admin, due_date=dt.date(2031, 1, 1))
    assert not actions.check_fields(_fields(due_date=dt.date(2030, 12, 31)), narrow)


# ---------------------------------------------------------------- the status machine

ALLOWED = [
    ("open", "in progress"),
    ("open", "cancelled"),
    ("in progress", "done"),
    ("in progress", "cancelled"),
    ("done", "verified"),
    ("done", "not effective"),
]
ALL = actions.STATUSES


def _put_in(db, aid, status):
    with db.begin() as c:
        c.execute(
            update(Action)
            .where(Action.id == aid)
            .values(status=status, completed_on=dt.date(2026, 5, 1) if status in actions.COMPLETED_STATES else None)
        )


def test_moves_table_is_the_documented_flow():
    assert {(a, b) for a, bs in actions.MOVES.items() for b in bs} == set(ALLOWED)


@pytest.mark.parametrize("frm,to", ALLOWED)
def test_every_allowed_move(db, config, admin, frm, to):
    aid = _new(db, config, admin)
    _put_in(db, aid, frm)
    msg = _move(db, config, admin, aid, to, completed_on=dt.date(2026, 5, 1) if to == "done" else None)
    assert f"from '{frm}' to '{to}'" in msg
    assert _status(db, aid) == to
    with Session(db) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "status")).one()
    assert ev.details["from"] == frm and ev.details["to"] == to and ev.actor == "tester"


@pytest.mark.parametrize("frm,to", [(a, b) for a in ALL for b in ALL if (a, b) not in ALLOWED])
def test_every_other_move_is_refused(db, config, admin, frm, to):
    aid = _new(db, config, admin)
    _put_in(db, aid, frm)
    with pytest.raises(ActionRefused, match=f"cannot move from '{frm}' to '{to}'"):
        _move(db, config, admin, aid, to, completed_on=dt.date(2026, 5, 1))
    assert _status(db, aid) == frm


def test_done_needs_a_completion_date(db, config, admin):
    aid = _new(db, config, admin)
    _move(db, config, admin, aid, "in progress")
    with pytest.raises(ActionRefused, match="'done' needs a completion date"):
        _move(db, config, admin, aid, "done")
    with pytest.raises(ActionRefused, match="in the future"):
        _move(db, config, admin, aid, "done", completed_on=TODAY + dt.timedelta(days=1))
    assert _status(db, aid) == "in progress"
    _move(db, config, admin, aid, "done", completed_on=dt.date(2026, 5, 3))
    assert actions.get_action(db, aid)["completed_on"] == dt.date(2026, 5, 3)


def test_cancel_records_the_date(db, config, admin):
    aid = _new(db, config, admin)
    _move(db, config, admin, aid, "cancelled")
    assert actions.get_action(db, aid)["cancelled_on"] == TODAY


def test_unknown_status_and_missing_action_are_refused(db, config, admin):
    aid = _new(db, config, admin)
    with pytest.raises(ActionRefused, match="unknown status 'closed'"):
        _move(db, config, admin, aid, "closed")
    with pytest.raises(ActionRefused, match="there is no action #999"):
        _move(db, config, admin, 999, "in progress")


def test_a_stale_form_is_refused(db, config, admin):
    aid = _new(db, config, admin)
    _move(db, config, admin, aid, "in progress")
    with pytest.raises(ActionRefused, match="is now 'in progress'"):
        _move(db, config, admin, aid, "cancelled", expected_status="open")


def test_viewer_cannot_move(db, config, admin, viewer):
    aid = _new(db, config, admin)
    with pytest.raises(NotAllowed):
        actions.move_action(engine=db, action_id=aid, to="in progress", user=viewer, config=config)
    assert actions.allowed_moves("open", viewer) == []
    assert actions.allowed_moves("open", admin) == ["in progress", "cancelled"]


# ---------------------------------------------------------------- the verdict frozen when a manager decides


def _series(db, values, kpi="supplier_otif", segment=""):
    now = utcnow()
    with db.begin() as c:
        c.execute(
            insert(KpiValue),
            [
                {"kpi_id": kpi, "segment": segment, "period": p, "value": v, "created_at": now, "created_by": "t"}
                for p, v in zip(MONTHS, values)
            ],
        )


def test_verified_freezes_the_verdict_and_later_data_does_not_rewrite_it(db, config, admin):
    before = [0.86, 0.88, 0.87, 0.89, 0.875, 0.90, 0.865, 0.885, 0.87, 0.88, 0.86, 0.89]
    after = [0.93, 0.935, 0.94, 0.945, 0.938, 0.95, 0.942, 0.948]
    _series(db, before + after)
    aid = _new(db, config, admin)
    _move(db, config, admin, aid, "in progress")
    _move(db, config, admin, aid, "done", completed_on=MONTHS[12])
    _move(db, config, admin, aid, "verified")
    a = actions.get_action(db, aid)
    assert a["verdict"] == "improved" and a["verified_by"] == "tester" and a["verified_at"] is not None
    figs = a["verdict_figures"]
    assert figs["n_before"] == 12 and figs["n_after"] == 8 and figs["p_good"] < 0.05
    # later data that would change the verdict leaves the frozen one alone
    with db.begin() as c:
        c.execute(update(KpiValue).where(KpiValue.period >= MONTHS[12]).values(value=0.80))
    assert actions.get_action(db, aid)["verdict_figures"] == figs
    with Session(db) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "status").order_by(AuditEvent.id.desc())).first()
    assert ev.details["verdict"] == "improved" and ev.details["figures"]["n_after"] == 8


def test_not_effective_on_an_action_without_a_kpi_stores_no_verdict(db, config, admin):
    aid = _new(db, config, admin, kpi_id=None, expected_direction=None)
    _move(db, config, admin, aid, "in progress")
    _move(db, config, admin, aid, "done", completed_on=dt.date(2026, 5, 1))
    _move(db, config, admin, aid, "not effective")
    a = actions.get_action(db, aid)
    assert a["status"] == "not effective" and a["verdict"] is None and a["verified_by"] == "tester"


def test_segment_series_is_used_for_a_segment_action(db, config, admin):
    _series(db, [0.5] * 12 + [0.6] * 8, kpi="otif", segment="EMEA")
    aid = _new(db, config, admin, kpi_id="otif", segment="EMEA")
    _move(db, config, admin, aid, "in progress")
    _move(db, config, admin, aid, "done", completed_on=MONTHS[12])
    _move(db, config, admin, aid, "verified")
    assert actions.get_action(db, aid)["verdict_figures"]["n_before"] == 12


def test_awaiting_verification_counts_done_actions(db, config, admin):
    assert actions.awaiting_verification(db) == 0
    aid = _new(db, config, admin)
    _put_in(db, aid, "done")
    assert actions.awaiting_verification(db) == 1


# ---------------------------------------------------------------- overdue and the views (no database needed)


def _frame(rows):
    cols = [
        "id",
        "ref",
        "title",
        "description",
        "owner",
        "sponsor",
        "practice",
        "kpi_id",
        "segment",
        "status",
        "created_at",
        "due_date",
        "completed_on",
        "cancelled_on",
        "verdict",
    ]
    df = pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols)
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    return df


ROWS = [  # id ref title desc owner sponsor practice kpi seg status created due completed cancelled verdict
    (
        1,
        "A1",
        "Call suppliers",
        "",
        "Ann",
        "Bo",
        "partners",
        "supplier_otif",
        "",
        "open",
        "2026-01-05",
        dt.date(2026, 3, 31),
        None,
        None,
        None,
    ),
    (
        2,
        "A2",
        "Clean stock",
        "old Fittings",
        "Ann",
        "Cy",
        "improvement",
        "excess_obsolete_stock",
        "",
        "in progress",
        "2026-02-01",
        dt.date(2026, 12, 31),
        None,
        None,
        None,
    ),
    (
        3,
        "A3",
        "Bias review",
        "",
        "Dee",
        "Bo",
        "evaluation",
        None,
        "",
        "done",
        "2026-01-10",
        dt.date(2026, 3, 1),
        dt.date(2026, 2, 20),
        None,
        None,
    ),
    (
        4,
        "A4",
        "Late fix",
        "",
        "Dee",
        "Cy",
        "process",
        None,
        "",
        "verified",
        "2026-01-10",
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 15),
        None,
        "improved",
    ),
    (
        5,
        "A5",
        "Dropped",
        "",
        "Ann",
        "Bo",
        "process",
        None,
        "",
        "cancelled",
        "2026-01-10",
        dt.date(2026, 3, 1),
        None,
        dt.date(2026, 2, 1),
        None,
    ),
]


def test_overdue_is_due_date_passed_and_still_open():
    df = views.add_overdue(_frame(ROWS), dt.date(2026, 4, 10))
    assert df["overdue"].tolist() == [True, False, False, False, False]
    assert df["days_overdue"].tolist() == [10, 0, 0, 0, 0]
    on_due_day = views.add_overdue(_frame(ROWS), dt.date(2026, 3, 31))
    assert not on_due_day["overdue"].iloc[0]


def test_filters_and_my_actions():
    df = views.add_overdue(_frame(ROWS), dt.date(2026, 4, 10))
    assert views.filter_actions(df, owners=["Ann"])["id"].tolist() == [1, 2, 5]
    assert views.filter_actions(df, sponsors=["Bo"], statuses=["open", "done"])["id"].tolist() == [1, 3]
    assert views.filter_actions(df, overdue_only=True)["id"].tolist() == [1]
    assert views.filter_actions(df, text="fittings")["id"].tolist() == [2]
    assert views.filter_actions(df, kpis=["supplier_otif"], practices=["partners"])["id"].tolist() == [1]
    assert views.my_actions(df, "Ann")["id"].tolist() == [1, 2]  # overdue first, closed ones left out
    assert views.my_actions(df, "Bo")["id"].tolist() == [1, 3]


def test_closed_on_time_rate_by_sponsor():
    df = _frame(ROWS)
    out = views.closed_on_time(df, df["sponsor"], as_of=dt.date(2026, 4, 10)).set_index("group")
    # due by 10 April and not cancelled: Bo -> 1 (open, late), 3 (on time); Cy -> 4 (late); 2 is not due yet
    assert out.loc["Bo", "n"] == 2 and out.loc["Bo", "on_time"] == 1 and out.loc["Bo", "rate"] == 0.5
    assert out.loc["Cy", "n"] == 1 and out.loc["Cy", "rate"] == 0.0


def test_open_actions_over_time():
    df = _frame(ROWS)
    months = pd.date_range("2026-01-01", periods=4, freq="MS")
    out = views.open_over_time(df, months)
    # Jan end: 1,3,4,5 created -> 4 open; Feb end: 2 added, 3 completed 20 Feb, 5 cancelled 1 Feb -> 1,2,4
    # Mar end: 4 completed 15 Mar -> 1,2; overdue at Mar end: 1 due 31 Mar is not before the month end
    assert out["open"].tolist() == [4, 3, 2, 2]
    assert out["overdue"].tolist() == [0, 0, 0, 1]


def test_board_groups_by_status_in_flow_order():
    b = views.board(_frame(ROWS))
    assert list(b) == list(actions.STATUSES)
    assert b["open"]["id"].tolist() == [1] and b["cancelled"]["id"].tolist() == [5]


# ---------------------------------------------------------------- prefill for the create form


def test_prefill_from_kpi_carries_kpi_segment_and_improving_direction(config):
    otif = config.kpi_by_id["otif"]
    p = prefill.from_kpi(otif, "EMEA", status="Off target", period_label="2026-10")
    assert p["kpi_id"] == "otif" and p["segment"] == "EMEA" and p["expected_direction"] == "higher"
    assert p["source"] == "kpi_exception" and "Off target in 2026-10" in p["source_note"]
    assert prefill.from_kpi(config.kpi_by_id["excess_obsolete_stock"])["expected_direction"] == "lower"
    assert prefill.from_kpi(config.kpi_by_id["days_of_supply"])["expected_direction"] is None  # a band: person picks
    assert set(p) <= set(prefill.KEYS)


def test_prefill_from_review_exception_and_decision(config):
    r = prefill.from_review({"id": 4, "initiative": "Portal", "practices": ["partners"], "kpis": [{"kpi_id": "otif"}]})
    assert r == {
        "source": "pir",
        "review_id": 4,
        "type": "improvement",
        "source_note": "Review #4: Portal",
        "practice": "partners",
        "kpi_id": "otif",
    }
    e = prefill.from_exception("SKU-1001", why="tracking signal", wape=0.42, bias=0.18, ts=5.2)
    assert e["source_note"] == (
        "Forecast exception SKU-1001: tracking signal, tracking signal 5.2, WAPE 42.0 %, bias +18.0 %"
    )
    d = prefill.from_decision({"id": 9, "text": "Fund a planner", "owner": "Lars", "kpi_id": None})
    assert d["decision_id"] == 9 and d["source"] == "meeting_decision"
    with_catalog = prefill.from_review(
        {"id": 4, "initiative": "P", "practices": [], "kpis": [{"kpi_id": "otif"}]}, config.kpi_by_id
    )
    assert with_catalog["expected_direction"] == "higher" and with_catalog["practice"] == "improvement"
    for p in (r, e, d):
        assert set(p) <= set(prefill.KEYS)


def test_form_values_ignore_unknown_keys_and_parse_dates():
    v = prefill.form_values({"title": "X", "bogus": 1, "due_date": "2026-12-01"}, today=dt.date(2026, 11, 1))
    assert v["title"] == "X" and "bogus" not in v and v["due_date"] == dt.date(2026, 12, 1)
    assert prefill.form_values(None, today=dt.date(2026, 11, 1))["due_date"] == dt.date(2026, 12, 1)


def test_the_apps_form_cannot_complete_an_action_before_the_day_it_was_created(db, config, admin):
    """Issue 21: an action in the app cannot be completed before the day it was created; the core without the
    form's flag (an import replaying an existing log) may still set any date."""
    aid = _new(db, config, admin)
    with Session(db) as s, s.begin():
        s.execute(
            update(Action).where(Action.id == aid).values(created_at=dt.datetime(2026, 5, 10, 23, 30, tzinfo=dt.UTC))
        )
    _move(db, config, admin, aid, "in progress")
    with pytest.raises(ActionRefused, match=r"before the day action #\d+ was created \(2026-05-10\)"):
        _move(db, config, admin, aid, "done", completed_on=dt.date(2026, 5, 9), not_before_created=True)
    assert _status(db, aid) == "in progress"
    _move(db, config, admin, aid, "done", completed_on=dt.date(2026, 5, 10), not_before_created=True)
    assert actions.get_action(db, aid)["completed_on"] == dt.date(2026, 5, 10)
    other = _new(db, config, admin)
    _move(db, config, admin, other, "in progress")
    _move(db, config, admin, other, "done", completed_on=dt.date(2020, 1, 1))  # no form: any past date
    assert actions.created_day(dt.datetime(2026, 5, 10, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))) == dt.date(
        2026, 5, 11
    )
