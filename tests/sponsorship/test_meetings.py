"""Logging meetings and decisions, the decision register and cycle adherence."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import select

from kpis.access.users import NotAllowed
from kpis.sponsorship import decisions as dec
from kpis.sponsorship import meetings as mt
from kpis.store.models import AuditEvent

D = dt.date


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


def test_log_meeting_with_people_and_a_decision(engine, config, admin):
    d = dec.DecisionInput(text="Approve overtime", raised_on=D(2026, 3, 20), owner="Richard Osei", kpi_id="otif")
    from kpis.catalog.sync import sync_catalog

    sync_catalog(engine, config, admin)
    mid = mt.log_meeting(engine, meeting=_meeting(decisions=(d,)), config=config, user=admin)
    people = mt.people(engine, mid).set_index("person")
    assert people.loc["Maria Chen"].tolist() == [False, True]  # came as a delegate, not invited
    assert people.loc["Tom Becker"].tolist() == [True, False]
    listed = mt.list_meetings(engine).iloc[0]
    assert (listed["invited"], listed["attended"], listed["decisions"]) == (2, 2, 1)
    reg = dec.register(engine, today=D(2026, 4, 1))
    assert reg.iloc[0]["status"] == "pending" and reg.iloc[0]["age_days"] == 12
    assert reg.iloc[0]["meeting"] == "executive S&OP 2026-03-20"
    with engine.connect() as conn:
        actions = set(conn.execute(select(AuditEvent.entity)).scalars())
    assert {"meeting", "decision"} <= actions


def test_update_meeting_replaces_people(engine, config, admin):
    mid = mt.log_meeting(engine, meeting=_meeting(), config=config, user=admin)
    mt.update_meeting(
        engine, meeting_id=mid, meeting=_meeting(attended=("Richard Osei", "Tom Becker")), config=config, user=admin
    )
    assert set(mt.people(engine, mid)["person"]) == {"Richard Osei", "Tom Becker"}


def test_meeting_problems_name_fields(config):
    bad = _meeting(
        type="board",
        chair=" ",
        decisions=(dec.DecisionInput(text="", raised_on=D(2026, 3, 2), owner="", decided_on=D(2026, 3, 1)),),
    )
    problems = mt.check(bad, config)
    assert problems[0].startswith("type: 'board' is not a step")
    assert "chair: is empty" in problems
    assert any(p.startswith("decision 1 owner") for p in problems)
    assert any(p.startswith("decision 1 decided_on") for p in problems)


def test_viewer_cannot_log(engine, config, viewer):
    with pytest.raises(NotAllowed):
        mt.log_meeting(engine, meeting=_meeting(), config=config, user=viewer)


def test_decide_later_and_not_before_raised(engine, config, admin):
    did = dec.raise_decision(
        engine,
        decision=dec.DecisionInput(text="Fund a planner", raised_on=D(2026, 2, 1), owner="Lars Nilsson"),
        config=config,
        user=admin,
    )
    with pytest.raises(dec.DecisionError, match="before raised_on"):
        dec.decide(engine, decision_id=did, decided_on=D(2026, 1, 31), user=admin)
    dec.decide(engine, decision_id=did, decided_on=D(2026, 3, 3), user=admin)
    reg = dec.register(engine, today=D(2026, 4, 1))
    assert reg.iloc[0]["status"] == "decided" and reg.iloc[0]["age_days"] == 30


def test_register_pending_first_oldest_first_and_filters(engine, config, admin):
    for text, raised, decided, owner in [
        ("a", D(2026, 3, 1), D(2026, 3, 5), "Lars Nilsson"),
        ("b", D(2026, 3, 10), None, "Lars Nilsson"),
        ("c", D(2026, 1, 10), None, "Richard Osei"),
        ("d", D(2026, 2, 1), D(2026, 3, 20), "Richard Osei"),
    ]:
        dec.raise_decision(
            engine,
            decision=dec.DecisionInput(text=text, raised_on=raised, decided_on=decided, owner=owner),
            config=config,
            user=admin,
        )
    reg = dec.register(engine, today=D(2026, 4, 1))
    assert reg["text"].tolist() == ["c", "b", "d", "a"]
    assert reg["age_days"].tolist() == [81, 22, 47, 4]
    assert dec.register(engine, today=D(2026, 4, 1), owner="Lars Nilsson")["text"].tolist() == ["b", "a"]


def test_cycle_grid_and_share():
    rows = [(s, D(2026, 1, 5 + i)) for i, s in enumerate(mt.STEPS)]  # January complete
    rows += [(s, D(2026, 2, 5 + i)) for i, s in enumerate(mt.STEPS) if s != "supply review"]  # February misses one
    rows += [("data review", D(2026, 4, 3))]  # March: nothing held
    grid = mt.cycle_grid(pd.DataFrame(rows, columns=["type", "date"]))
    assert list(grid.index) == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert grid.loc["2026-02", "supply review"] == 0 and grid.loc["2026-01"].sum() == 5
    share = mt.cycle_share(grid).set_index("quarter")
    assert share.loc["2026-Q1", "months"] == 3 and share.loc["2026-Q1", "complete"] == 1
    assert share.loc["2026-Q1", "share"] == pytest.approx(1 / 3)
    assert share.loc["2026-Q2", "share"] == 0


def test_cycle_grid_empty():
    assert mt.cycle_grid(pd.DataFrame(columns=["type", "date"])).empty
    assert mt.cycle_share(mt.cycle_grid(pd.DataFrame(columns=["type", "date"]))).empty


def test_notes_to_edit_are_text_when_a_meeting_has_none(engine, config, admin):
    """pandas holds a missing note as NaN once another meeting has notes: the edit form gets "" (not NaN, which
    crashed the Meetings page for every editor), and a meeting's own notes as they are."""
    mt.log_meeting(engine, meeting=_meeting(notes=None, date=D(2026, 3, 1)), config=config, user=admin)
    mt.log_meeting(engine, meeting=_meeting(notes="Q2 plan"), config=config, user=admin)
    listed = mt.list_meetings(engine)
    without = listed.iloc[1]["notes"]
    assert without is None or pd.isna(without)
    assert mt.notes_text(without) == ""
    assert mt.notes_text(listed.iloc[0]["notes"]) == "Q2 plan"
    assert mt.notes_text(None) == "" and mt.notes_text(float("nan")) == ""
