"""KPIs the app's own records define (kpis/records.py, source = "records"): each month's tile and series value is
a hand calculation from that month's records, whatever values are stored for the KPI; the demo's Overview figure
is its meeting log."""

from __future__ import annotations

import datetime as dt
import itertools
import tomllib

import pandas as pd
import pytest
from sqlalchemy import insert, select

from kpis import records, series
from kpis.catalog import overview
from kpis.catalog.load import write_actuals
from kpis.catalog.sync import sync_catalog
from kpis.config import parse_config
from kpis.maturity.assessments import Answers, submit
from kpis.sponsorship import meetings
from kpis.sponsorship.decisions import DecisionInput
from kpis.store.engine import make_engine, session_factory
from kpis.store.models import Action, Meeting, MeetingAttendee, utcnow
from tests.conftest import ROOT

OCT, SEP = pd.Timestamp("2026-10-01"), pd.Timestamp("2026-09-01")
_SEQ = itertools.count(1)
EXECS = ["Richard Osei", "Lars Nilsson", "Tom Becker", "Priya Nair", "Diego Alvarez", "Aisha Rahman"]


def _meeting(engine, config, admin, typ, day, invited=(), attended=(), decisions=()):
    return meetings.log_meeting(
        engine,
        meeting=meetings.MeetingInput(
            type=typ,
            date=day,
            chair="Richard Osei",
            invited=tuple(invited),
            attended=tuple(attended),
            decisions=tuple(decisions),
        ),
        config=config,
        user=admin,
    )


def _action(s, due, status, completed=None):
    s.execute(
        insert(Action),
        [
            {
                "title": f"action {next(_SEQ)}",
                "type": "improvement",
                "source": "other",
                "practice": "improvement",
                "owner": "Julia Weber",
                "sponsor": "Richard Osei",
                "due_date": due,
                "status": status,
                "completed_on": completed,
                "created_at": utcnow(),
                "created_by": "tester",
            }
        ],
    )


@pytest.fixture
def logged(engine, config, admin):
    """September and October 2026 in the app's records, and stored actuals for the same KPIs that disagree."""
    sync_catalog(engine, config, admin)
    d = dt.date
    # October: 6 invited, Tom Becker away (Maria Chen in his place), a second executive meeting with 2 of 3
    _meeting(
        engine,
        config,
        admin,
        "executive S&OP",
        d(2026, 10, 20),
        EXECS,
        [p for p in EXECS if p != "Tom Becker"] + ["Maria Chen"],
        [
            DecisionInput(text="a", raised_on=d(2026, 10, 1), decided_on=d(2026, 10, 4), owner="Tom Becker"),
            DecisionInput(text="b", raised_on=d(2026, 9, 20), decided_on=d(2026, 10, 10), owner="Lars Nilsson"),
            DecisionInput(text="c", raised_on=d(2026, 10, 25), decided_on=d(2026, 10, 30), owner="Priya Nair"),
            DecisionInput(text="d", raised_on=d(2026, 10, 28), owner="Lars Nilsson"),
        ],
    )
    _meeting(engine, config, admin, "executive S&OP", d(2026, 10, 27), EXECS[:3], EXECS[:2])
    for typ, day in (("data review", 3), ("demand review", 8), ("demand review", 9), ("supply review", 12)):
        _meeting(engine, config, admin, typ, d(2026, 10, day), ["Maria Chen"], [])
    # September: every step, 3 of 4 invited at the executive meeting; one decision of 7 days
    for typ, day in zip(meetings.STEPS, (3, 8, 12, 16, 20), strict=True):
        execs = typ == "executive S&OP"
        _meeting(
            engine,
            config,
            admin,
            typ,
            d(2026, 9, day),
            EXECS[:4] if execs else ["Maria Chen"],
            EXECS[:3] if execs else ["Maria Chen"],
            [DecisionInput(text="e", raised_on=d(2026, 9, 1), decided_on=d(2026, 9, 8), owner="Tom Becker")]
            if execs
            else [],
        )
    with session_factory(engine).begin() as s:
        _action(s, d(2026, 10, 10), "done", d(2026, 10, 8))
        _action(s, d(2026, 10, 15), "done", d(2026, 10, 20))
        _action(s, d(2026, 10, 31), "open")
        _action(s, d(2026, 10, 12), "cancelled")
        _action(s, d(2026, 9, 30), "verified", d(2026, 9, 30))
    stored = pd.DataFrame(
        {
            "kpi_id": [
                "exec_meeting_attendance",
                "decision_cycle_time",
                "actions_closed_on_time",
                "sop_cycle_on_schedule",
            ],
            "segment": "",
            "period": [d(2026, 10, 1)] * 4,
            "value": [0.853, 12.0, 0.9, 0.95],
            "note": None,
        }
    )
    write_actuals(engine, stored, filename="old.csv", sha256="0" * 64, user=admin)
    return engine


HAND = {  # October and September from the records above
    "exec_meeting_attendance": {OCT: (5 + 2) / (6 + 3), SEP: 3 / 4},
    "decision_cycle_time": {OCT: 5.0, SEP: 7.0},  # median of 3, 20, 5 days; September: 7 days
    "actions_closed_on_time": {OCT: 1 / 3, SEP: 1.0},  # 10 Oct on time, 15 Oct late, 31 Oct open; cancelled out
    "sop_cycle_on_schedule": {OCT: 4 / 5, SEP: 5 / 5},  # no reconciliation in October
}


@pytest.mark.parametrize("kpi_id", sorted(HAND))
def test_series_and_tile_are_the_records_of_the_month(logged, config, kpi_id):
    s = series.kpi_series(logged, config, kpi_id).set_index("period")["value"]
    assert s.to_dict() == pytest.approx(HAND[kpi_id])
    tiles = overview.overview_tiles(series.kpi_totals(logged, config), [config.kpi_by_id[kpi_id]], config, as_of=OCT)
    assert tiles.iloc[0]["value"] == pytest.approx(HAND[kpi_id][OCT])  # not the stored 0.853, 12, 0.9, 0.95


def test_catalog_and_data_page_name_the_records(logged, config):
    table = overview.catalog_table(config.kpis).set_index("Import id")["Source"]
    assert table["exec_meeting_attendance"] == "computed from the meeting log"
    assert table["decision_cycle_time"] == "computed from the decision register"
    assert table["actions_closed_on_time"] == "computed from the action log"
    assert table["otif"] == "imported" and table["forecast_accuracy"] == "computed from the forecast data"
    from kpis.store import repo

    fresh = overview.data_freshness(repo.current_through(logged), config, series.computed_values(logged, config))
    row = fresh.set_index("Import id").loc["sop_cycle_on_schedule"]
    assert (row["Current through"], row["Values"], row["Source"]) == ("2026-10", 2, "computed from the meeting log")


def test_a_period_gets_a_value_once_it_has_ended(logged, config, monkeypatch):
    on_20_oct = records.kpi_values(logged, config, today=dt.date(2026, 10, 20))
    assert set(on_20_oct["period"]) == {SEP}  # October is still running
    monkeypatch.setenv("SOP_PULSE_TODAY", "2026-10-20")  # the app's today, as late data judges it
    assert set(series.kpi_totals(logged, config, list(HAND))["period"]) == {SEP}
    assert len(records.kpi_values(logged, config, today=dt.date(2026, 11, 1))) == 8  # 4 KPIs x 2 months


def test_maturity_index_kpi(engine, config, admin, tmp_path):
    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    raw["kpi"].append(
        {
            "id": "maturity",
            "name": "Maturity index",
            "function": "executive",
            "owner": "Julia Weber",
            "unit": "score",
            "direction": "higher",
            "target": 3.5,
            "red": 0.5,
            "cadence": "quarter",
            "rollup": "last",
            "practices": ["improvement"],
            "source": "records",
            "records_metric": "maturity_index",
        }
    )
    cfg = parse_config(raw, path=ROOT / "config.toml")
    q = dt.date(2026, 7, 1)  # ended: the quarter running today has no value yet
    submit(engine, answers=Answers(q, "A", "T", scores={"process": 2, "data": 4}), user=admin)
    submit(engine, answers=Answers(q, "B", "T", scores={"process": 3, "data": None}), user=admin)
    s = series.kpi_series(engine, cfg, "maturity").set_index("period")["value"]
    assert s.to_dict() == {pd.Timestamp(q): pytest.approx((2.5 + 4) / 2)}  # medians: process 2.5, data 4


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"records_metric": None}, "field 'records_metric': is required when source is 'records'"),
        ({"unit": "count"}, "field 'unit': records_metric 'exec_attendance' is in '%', not 'count'"),
        ({"cadence": "week"}, "field 'cadence': records_metric 'exec_attendance' is computed per month or quarter"),
        ({"source": "import"}, "field 'records_metric': only applies when source is 'records'"),
    ],
)
def test_config_checks_a_records_kpi(tmp_path, change, problem):
    from kpis.config import ConfigError

    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    k = next(k for k in raw["kpi"] if k["id"] == "exec_meeting_attendance")
    k.update({f: v for f, v in change.items() if v is not None})
    for f in [f for f, v in change.items() if v is None]:
        del k[f]
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert any(problem in p for p in e.value.problems), e.value.problems


def test_the_demo_overview_figure_is_its_meeting_log(demo_db, config):
    """Executive S&OP attendance on the demo's Overview, per month, = invited who attended / invited in the log."""
    eng = make_engine(demo_db)
    try:
        with eng.connect() as conn:
            rows = conn.execute(
                select(Meeting.date, MeetingAttendee.invited, MeetingAttendee.attended)
                .join(MeetingAttendee, MeetingAttendee.meeting_id == Meeting.id)
                .where(Meeting.type == "executive S&OP", MeetingAttendee.invited.is_(True))
            ).all()
        log = pd.DataFrame(rows, columns=["date", "invited", "attended"])
        log["period"] = pd.to_datetime(log["date"]).dt.to_period("M").dt.start_time
        by_log = log.groupby("period")["attended"].mean()
        totals = series.kpi_totals(eng, config)
        for as_of in (pd.Timestamp("2026-07-01"), SEP, OCT):
            tile = overview.overview_tiles(totals, [config.kpi_by_id["exec_meeting_attendance"]], config, as_of=as_of)
            assert tile.iloc[0]["value"] == pytest.approx(by_log[as_of])
        assert by_log[OCT] == 1.0  # 6 of 6 invited attended in October 2026
        shown = totals[totals["kpi_id"] == "exec_meeting_attendance"].set_index("period")["value"]
        pd.testing.assert_series_equal(shown.sort_index(), by_log, check_names=False, check_index_type=False)
    finally:
        eng.dispose()
