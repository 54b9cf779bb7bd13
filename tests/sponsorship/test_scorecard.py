"""The sponsorship scorecard's seven figures against hand calculations (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from kpis.catalog.load import import_actuals
from kpis.sponsorship import scorecard as sc
from kpis.store.engine import session_factory
from kpis.store.models import (
    Action,
    Assessment,
    AssessmentScore,
    Decision,
    Meeting,
    MeetingAttendee,
)

D = dt.date
Q1 = sc.parse_quarter("2026-Q1")
STAMP = {"created_by": "tester"}


def _meeting(s, typ, date, people):
    m = Meeting(type=typ, date=date, chair="Richard Osei", **STAMP)
    s.add(m)
    s.flush()
    for person, invited, attended in people:
        s.add(MeetingAttendee(meeting_id=m.id, person=person, invited=invited, attended=attended))


def _action(s, due, status, completed=None, sponsor="Richard Osei"):
    s.add(
        Action(
            title="a",
            type="corrective",
            source="other",
            practice="sponsorship",
            owner="Julia Weber",
            sponsor=sponsor,
            due_date=due,
            status=status,
            completed_on=completed,
            **STAMP,
        )
    )


@pytest.fixture
def seeded(engine, config, admin):
    """The hand-calculated case of docs/methodology.md, quarter 2026-Q1 and the one before."""
    with session_factory(engine).begin() as s:
        _meeting(s, "executive S&OP", D(2026, 1, 20), [("Richard Osei", True, True)])
        _meeting(s, "executive S&OP", D(2026, 2, 20), [("Richard Osei", True, True), ("Tom Becker", False, True)])
        _meeting(s, "executive S&OP", D(2026, 3, 20), [("Richard Osei", True, False)])
        _meeting(s, "demand review", D(2026, 1, 8), [("Richard Osei", True, False)])  # not an executive meeting
        _meeting(s, "executive S&OP", D(2025, 12, 20), [("Richard Osei", True, False)])  # previous quarter
        for raised, decided in [
            (D(2026, 1, 5), D(2026, 1, 15)),  # 10 days
            (D(2025, 12, 20), D(2026, 2, 3)),  # 45 days
            (D(2026, 2, 1), D(2026, 2, 5)),  # 4 days
            (D(2026, 2, 10), D(2026, 4, 10)),  # decided after the quarter: pending at its end
            (D(2026, 3, 15), None),  # open 16 days at the end: not yet pending
            (D(2025, 11, 1), None),  # open 150 days: pending
            (D(2026, 4, 2), None),  # raised after the quarter
            (D(2026, 3, 1), None),
        ]:  # open exactly 30 days: not more than one cycle
            s.add(Decision(text="d", raised_on=raised, decided_on=decided, owner="Richard Osei", **STAMP))
        _action(s, D(2026, 2, 15), "done", D(2026, 2, 15))  # completed on its due date: on time
        _action(s, D(2026, 3, 10), "done", D(2026, 4, 5))  # completed after the quarter's end: late and overdue
        _action(s, D(2026, 1, 20), "verified", D(2026, 1, 10))  # early: on time
        _action(s, D(2026, 3, 20), "cancelled")  # cancelled: left out
        _action(s, D(2025, 12, 1), "open")  # due last quarter, still open: overdue
        _action(s, D(2026, 3, 31), "open")  # due on the last day: late, but not yet overdue
        _action(s, D(2026, 5, 1), "in progress")  # due later
        for period, scores in [(D(2026, 1, 1), [3, 4, None, 2, 5]), (D(2025, 10, 1), [2, 2, 3])]:
            for i, score in enumerate(scores):  # one answer per respondent and quarter
                a = Assessment(period=period, respondent=f"respondent {i}", team="t", function="sales", **STAMP)
                s.add(a)
                s.flush()
                s.add(AssessmentScore(assessment_id=a.id, practice="sponsorship", score=score))
                s.add(AssessmentScore(assessment_id=a.id, practice="process", score=1))
    csv = (
        "kpi,period,value\n"
        # latest 8.2 >= 8: green
        "inventory_turns,2026-01,8.5\ninventory_turns,2026-02,7.5\ninventory_turns,2026-03,8.2\n"
        "revenue_vs_plan,2026-01,1.0\nrevenue_vs_plan,2026-03,0.95\n"  # 0.05 off, band 0.02: amber
        "gross_margin_vs_plan,2026-04,0.01\n"  # no value in Q1: left out
        "excess_obsolete_stock,2026-02,300000\n"  # below 350000: green
        "stockout_weeks,2025-12-29,10\n"  # ISO week 2026-W01: its Thursday (1 Jan) is in Q1; 10 <= 14 green
        "stockout_weeks,2026-03-30,99\n"
    )  # week of 2 April: belongs to Q2
    import_actuals(engine, csv.encode(), "kpis.csv", config=config, user=admin)
    return sc.load_inputs(engine, config)


def test_quarter_parsing_and_neighbours():
    assert (Q1.start, Q1.end, Q1.label) == (D(2026, 1, 1), D(2026, 3, 31), "2026-Q1")
    assert Q1.previous().label == "2025-Q4" and Q1.previous().end == D(2025, 12, 31)
    assert sc.parse_quarter("2026q4").end == D(2026, 12, 31)
    assert [q.label for q in sc.quarters_back(Q1, 3)] == ["2025-Q3", "2025-Q4", "2026-Q1"]
    with pytest.raises(ValueError, match="YYYY-Qn"):
        sc.parse_quarter("2026-13")


def test_attendance_rate_counts_only_invited_executive_meetings(seeded):
    assert sc.attendance_rate(seeded.attendance, "Richard Osei", Q1)[0] == pytest.approx(2 / 3)
    assert sc.attendance_rate(seeded.attendance, "Richard Osei", Q1.previous())[0] == 0.0


def test_attendance_rate_undefined_without_an_invitation(seeded):
    assert math.isnan(sc.attendance_rate(seeded.attendance, "Lars Nilsson", Q1)[0])  # no meetings at all
    assert math.isnan(sc.attendance_rate(seeded.attendance, "Tom Becker", Q1)[0])  # attended, never invited


def test_decision_latency_is_the_median_of_decisions_decided_in_the_quarter(seeded):
    value, basis = sc.decision_latency(seeded.decisions, "Richard Osei", Q1)
    assert value == 10.0 and basis == "n = 3 decisions"  # median(10, 45, 4); the one decided in April is out


def test_decision_decided_after_the_quarter_counts_in_the_next(seeded):
    assert sc.decision_latency(seeded.decisions, "Richard Osei", Q1.next())[0] == 59.0  # 10 Feb -> 10 Apr


def test_pending_decisions_open_more_than_one_cycle_at_quarter_end(seeded):
    value, basis = sc.pending_decisions(seeded.decisions, "Richard Osei", Q1, 30)
    assert value == 2 and basis == "4 open at quarter end"  # decided-in-April and the November one
    assert sc.pending_decisions(seeded.decisions, "Richard Osei", Q1, 10)[0] == 4


def test_quarter_with_no_decisions(seeded):
    q = sc.parse_quarter("2025-Q2")
    assert math.isnan(sc.decision_latency(seeded.decisions, "Richard Osei", q)[0])
    assert sc.pending_decisions(seeded.decisions, "Richard Osei", q, 30)[0] == 0
    assert math.isnan(sc.decision_latency(seeded.decisions, "Lars Nilsson", Q1)[0])


def test_sponsored_on_time_share(seeded):
    value, basis = sc.sponsored_on_time(seeded.actions, "Richard Osei", Q1)
    assert value == 0.5 and basis == "2 of 4 due"  # on its due date and early are on time; cancelled left out
    assert sc.sponsored_on_time(seeded.actions, "Richard Osei", Q1.previous())[0] == 0.0
    assert math.isnan(sc.sponsored_on_time(seeded.actions, "Lars Nilsson", Q1)[0])


def test_overdue_sponsored_at_quarter_end(seeded):
    assert sc.overdue_sponsored(seeded.actions, "Richard Osei", Q1)[0] == 2  # completed in April, open since Dec
    assert sc.overdue_sponsored(seeded.actions, "Richard Osei", Q1.previous())[0] == 1
    assert sc.overdue_sponsored(seeded.actions, "Lars Nilsson", Q1)[0] == 0


def test_kpis_on_target_uses_latest_value_in_quarter(seeded, config):
    value, basis = sc.kpis_on_target(seeded.values, config, "Lars Nilsson", Q1)
    assert value == pytest.approx(2 / 3) and basis == "2 of 3 with data (4 owned)"


def test_kpis_on_target_weekly_kpi_belongs_to_quarter_of_its_thursday(seeded, config):
    assert sc.kpis_on_target(seeded.values, config, "Priya Nair", Q1)[0] == 1.0
    assert math.isnan(sc.kpis_on_target(seeded.values, config, "Priya Nair", Q1.previous())[0])
    assert sc.kpis_on_target(seeded.values, config, "Priya Nair", Q1.next())[0] == 0.0  # 99 stock-out weeks: red


def test_sponsorship_maturity_median_without_dont_know(seeded):
    assert sc.sponsorship_maturity(seeded.maturity, Q1)[0] == 3.5
    assert sc.sponsorship_maturity(seeded.maturity, Q1.previous())[0] == 2.0
    assert math.isnan(sc.sponsorship_maturity(seeded.maturity, Q1.next())[0])


def test_card_has_status_change_and_how(seeded, config):
    card = sc.card(seeded, config, "Richard Osei", Q1).set_index("figure")
    assert list(card.index) == list(sc.FIGURES)
    assert card.at["attendance_rate", "status"] == "red"  # 0.67 < amber 0.75
    assert card.at["attendance_rate", "change"] == pytest.approx(2 / 3)
    assert card.at["sponsored_on_time", "status"] == "red"  # 0.5 < 0.6
    assert card.at["overdue_sponsored", "status"] == "amber"  # 2 <= 2
    assert card.at["overdue_sponsored", "change"] == 1
    assert card.at["decision_latency_days", "status"] == "green"  # 10 <= 14
    assert math.isnan(card.at["decision_latency_days", "change"])  # nothing decided in 2025-Q4
    assert card.at["sponsorship_maturity", "status"] == "green" and card.at["sponsorship_maturity", "change"] == 1.5
    assert "30 days" in card.at["pending_decisions", "how"]


def test_portfolio_one_row_per_executive(seeded, config):
    p = sc.portfolio(seeded, config, Q1).set_index("executive")
    assert list(p.index) == [e.name for e in config.executives]
    assert p.at["Richard Osei", "pending_decisions"] == 2
    assert math.isnan(p.at["Lars Nilsson", "attendance_rate"])
    st = sc.statuses(p.reset_index(), config)
    assert st["attendance_rate"].tolist()[1] == "none"


def test_trend_over_quarters(seeded, config):
    t = sc.trend(seeded, config, sc.quarters_back(Q1, 2))
    r = t[(t["executive"] == "Richard Osei") & (t["figure"] == "overdue_sponsored")]
    assert r["value"].tolist() == [1, 2] and r["quarter"].tolist() == ["2025-Q4", "2026-Q1"]


def test_rag_directions(config):
    assert sc.rag(config, "attendance_rate", 0.9) == "green"
    assert sc.rag(config, "attendance_rate", 0.75) == "amber"
    assert sc.rag(config, "attendance_rate", 0.7) == "red"
    assert sc.rag(config, "pending_decisions", 0) == "green"
    assert sc.rag(config, "pending_decisions", 3) == "red"
    assert sc.rag(config, "decision_latency_days", math.nan) == "none"


def test_formatting():
    assert sc.format_figure("attendance_rate", 2 / 3) == "67 %"
    assert sc.format_figure("pending_decisions", 2.0) == "2"
    assert sc.format_figure("decision_latency_days", 10.0) == "10.0 days"
    assert sc.format_figure("kpis_on_target", math.nan) == "–"
    assert sc.format_change("attendance_rate", 0.25) == "+25 pts"
    assert sc.format_change("overdue_sponsored", -1.0) == "-1"
    assert sc.format_change("sponsorship_maturity", math.nan) == ""


def test_empty_database_gives_undefined_figures(engine, config):
    inputs = sc.load_inputs(engine, config)
    p = sc.portfolio(inputs, config, Q1)
    assert p["attendance_rate"].isna().all() and (p["pending_decisions"] == 0).all()
    assert isinstance(inputs.decisions["raised_on"], pd.Series)


def test_portfolio_excel_neutralises_formulas_and_keeps_fractions(config):
    import io

    from openpyxl import load_workbook

    from kpis.sponsorship.export import portfolio_xlsx

    frame = pd.DataFrame([{"executive": '=HYPERLINK("x")', "title": "+CEO", **dict.fromkeys(sc.FIGURES, math.nan)}])
    frame.loc[0, "attendance_rate"] = 0.75
    wb = load_workbook(io.BytesIO(portfolio_xlsx(frame, sc.statuses(frame, config), "2026-Q1")))
    ws = wb.active
    assert ws["A2"].value == '\'=HYPERLINK("x")' and ws["B2"].value == "'+CEO"
    assert ws["C2"].value == 0.75 and ws["D2"].value is None
    assert ws["C2"].fill.start_color.rgb.endswith("FFE0B2")  # amber


def test_overdue_actions_today(seeded, engine):
    df = sc.overdue_actions(engine, "Richard Osei", D(2026, 4, 1))
    assert df["due_date"].tolist() == [D(2025, 12, 1), D(2026, 3, 31)]  # open ones only; done-late is not overdue now
    assert df["days_overdue"].tolist() == [121, 1]


def test_default_quarter():
    assert sc.default_quarter(D(2026, 10, 21), D(2026, 11, 25)).label == "2026-Q3"
    assert sc.default_quarter(D(2025, 5, 1), D(2026, 11, 25)).label == "2025-Q2"
    assert sc.default_quarter(None, D(2026, 1, 5)).label == "2025-Q4"
