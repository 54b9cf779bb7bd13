"""My work (kpis.mywork): what waits for one person, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from kpis import mywork, series
from kpis.access.users import User
from kpis.catalog import overview
from kpis.improvement import views
from kpis.maturity.assessments import current_quarter, shift_quarter
from kpis.sponsorship import decisions
from kpis.store.engine import session_factory
from kpis.store.models import OPEN_ACTION_STATUSES, Action, Assessment, Decision, Review

TODAY = dt.date(2026, 11, 25)
MARIA = User(name="maria.chen@example.com", role="contributor", display="Maria Chen")
DAY = dt.timedelta(days=1)


def _action(owner: str, status: str, due: dt.date, title: str = "an action", **kw) -> Action:
    return Action(
        title=title,
        type="improvement",
        source="other",
        practice="data",
        owner=owner,
        status=status,
        due_date=due,
        created_by="setup",
        **kw,
    )


def _seed(engine) -> None:
    with session_factory(engine).begin() as s:
        s.add_all(
            [
                _action("Maria Chen", "open", TODAY, "due today"),  # not overdue yet
                _action(" maria chen ", "in progress", TODAY - DAY, "due yesterday"),  # overdue by one day
                _action("MARIA CHEN", "open", TODAY + 30 * DAY, "later"),
                _action("Maria Chen", "done", TODAY - 40 * DAY, "done", completed_on=TODAY - 50 * DAY),
                _action("Maria Chen", "verified", TODAY - 40 * DAY, "verified"),
                _action("Maria Chen", "cancelled", TODAY - 40 * DAY, "cancelled"),
                _action("Tom Becker", "open", TODAY - 9 * DAY, "someone else's", sponsor="Maria Chen"),
                Review(
                    initiative="my draft",
                    review_date=TODAY,
                    team="t",
                    facilitator="f",
                    rating=3,
                    status="draft",
                    created_by="maria.chen@example.com",
                ),
                Review(
                    initiative="my submitted",
                    review_date=TODAY,
                    team="t",
                    facilitator="f",
                    rating=3,
                    status="submitted",
                    created_by="maria.chen@example.com",
                ),
                Review(
                    initiative="their draft",
                    review_date=TODAY,
                    team="t",
                    facilitator="f",
                    rating=3,
                    status="draft",
                    created_by="tom.becker@example.com",
                ),
                Decision(text="mine, pending", raised_on=TODAY - 10 * DAY, owner="Maria Chen", created_by="setup"),
                Decision(
                    text="mine, decided",
                    raised_on=TODAY - 10 * DAY,
                    decided_on=TODAY - DAY,
                    owner="Maria Chen",
                    created_by="setup",
                ),
                Decision(text="theirs", raised_on=TODAY - 10 * DAY, owner="Tom Becker", created_by="setup"),
                Assessment(
                    period=shift_quarter(current_quarter(TODAY), -1),
                    respondent="Maria Chen",
                    team="Demand planning",
                    function="sales",
                    created_by="setup",
                ),
                Assessment(
                    period=current_quarter(TODAY),
                    respondent="Omar Haddad",
                    team="Demand planning",
                    function="sales",
                    created_by="setup",
                ),
            ]
        )


def test_owner_names_are_the_login_the_display_name_and_the_name_in_the_e_mail():
    assert mywork.owner_names(MARIA) == ("maria.chen@example.com", "maria chen")
    assert mywork.owner_names(User(name="j_o-weber@x.org", role="viewer", display="")) == (
        "j_o-weber@x.org",
        "j o weber",
    )
    assert mywork.owner_names(User(name="tester", role="admin", display="Tester ", local=True)) == ("tester",)


def test_actions_overdue_boundary_is_today_and_closed_ones_are_left_out(engine):
    _seed(engine)
    acts = mywork.open_actions(engine, mywork.owner_names(MARIA), TODAY)
    assert acts["title"].tolist() == ["due yesterday", "due today", "later"]  # overdue first, then by due date
    assert acts["overdue"].tolist() == [True, False, False]
    assert acts["days_overdue"].tolist() == [1, 0, 0]
    assert set(acts["status"]) <= set(OPEN_ACTION_STATUSES)


def test_drafts_decisions_and_assessment_are_the_persons_own(engine):
    _seed(engine)
    names = mywork.owner_names(MARIA)
    assert mywork.draft_reviews(engine, names)["initiative"].tolist() == ["my draft"]
    dec = mywork.pending_decisions(engine, names, TODAY)
    assert dec["text"].tolist() == ["mine, pending"] and dec["age_days"].tolist() == [10]
    due = mywork.assessment_due(engine, MARIA, names, TODAY)
    assert due is not None and due.quarter == "2026-Q4" and due.team == "Demand planning" and due.team_answered == 1


def test_assessment_answered_this_quarter_or_a_viewer_is_not_due(engine):
    _seed(engine)
    with session_factory(engine).begin() as s:
        s.add(
            Assessment(
                period=current_quarter(TODAY),
                respondent="maria.chen@example.com",
                team="Demand planning",
                function="sales",
                created_by="maria.chen@example.com",
            )
        )
    assert mywork.assessment_due(engine, MARIA, mywork.owner_names(MARIA), TODAY) is None
    viewer = User(name="tom.becker@example.com", role="viewer", display="Tom Becker")
    assert mywork.assessment_due(engine, viewer, mywork.owner_names(viewer), TODAY) is None


def test_my_work_counts_and_a_stranger_has_nothing(engine, config):
    _seed(engine)
    empty = pd.DataFrame(columns=["kpi_id", "period", "value"])
    work = mywork.my_work(engine, config, MARIA, today=TODAY, totals=empty)
    assert work.counts() == {
        "open_actions": 3,
        "overdue_actions": 1,
        "draft_reviews": 1,
        "assessment": 1,
        "pending_decisions": 1,
        "red_kpis": 0,
    }
    assert work.known and not work.empty
    stranger = User(name="nobody@elsewhere.org", role="viewer", display="No Body")
    none = mywork.my_work(engine, config, stranger, today=TODAY, totals=empty)
    assert not none.known and none.empty and sum(none.counts().values()) == 0
    # a sponsor is known (named in a record) but owns nothing open here
    tom = mywork.my_work(engine, config, User(name="Tom Becker", role="editor"), today=TODAY, totals=empty)
    assert tom.known and tom.counts()["open_actions"] == 1 and tom.counts()["pending_decisions"] == 1


def test_hostile_owner_names_are_bound_not_run(engine):
    _seed(engine)
    names = ("' or '1'='1", "maria chen') --")
    assert mywork.open_actions(engine, names, TODAY).empty
    assert mywork.pending_decisions(engine, names, TODAY).empty


def test_red_kpis_follow_the_overview_status(config):
    aisha = mywork.owner_names(User(name="aisha.rahman@example.com", role="editor", display="Aisha Rahman"))
    owned = [k for k in config.kpis if k.owner == "Aisha Rahman"]
    periods = pd.to_datetime(["2026-08-01", "2026-09-01", "2026-10-01"])
    totals = pd.concat([pd.DataFrame({"kpi_id": k.id, "period": periods, "value": [0.9, 0.9, 0.01]}) for k in owned])
    red = mywork.red_kpis(totals, config, aisha)
    tiles = overview.overview_tiles(totals, owned, config)
    assert set(red["kpi_id"]) == set(tiles.loc[tiles["status"] == "red", "kpi_id"]) and len(red)
    row = red[red["kpi_id"] == "promo_forecast_accuracy"].iloc[0]
    assert row["value"] == "1.0 %" and row["target"].startswith("≥") and row["period_label"] == "2026-10"
    assert mywork.red_kpis(totals, config, ("tom becker",)).empty


@pytest.fixture
def demo_engine(engine, config):
    from kpis import demo

    demo.load_demo(engine, config, User(name="demo", role="admin"), seed=7)
    return engine


def test_demo_data_matches_the_pages_own_rules(demo_engine, config):
    eng, today = demo_engine, dt.date.today()
    acts = views.load_actions(eng, as_of=today)
    reg = decisions.register(eng, today=today)
    totals = series.kpi_totals(eng, config)
    tiles = overview.overview_tiles(totals, list(config.kpis), config)
    for person in ("Lars Nilsson", "Maria Chen", "Aisha Rahman", "Priya Nair"):
        user = User(name=person, role="editor", display=person)
        work = mywork.my_work(eng, config, user, today=today, totals=totals)
        theirs = acts[(acts["owner"] == person) & acts["status"].isin(OPEN_ACTION_STATUSES)]
        assert sorted(work.actions["id"]) == sorted(theirs["id"])
        assert work.counts()["overdue_actions"] == int(theirs["overdue"].sum())
        pending = reg[(reg["owner"] == person) & (reg["status"] == "pending")]
        assert sorted(work.decisions["id"]) == sorted(pending["id"])
        red = tiles[(tiles["owner"] == person) & (tiles["status"] == "red")]
        assert sorted(work.red_kpis["kpi_id"]) == sorted(red["kpi_id"])
        assert work.known


def test_data_owed_goes_to_the_data_owner_else_the_kpi_owner(engine, config):
    import dataclasses

    from kpis.catalog.load import write_actuals
    from kpis.catalog.sync import sync_catalog

    admin = User(name="setup", role="admin")
    sync_catalog(engine, config, admin)
    rows = pd.DataFrame(
        {
            "kpi_id": ["capacity_utilisation", "otif", "supplier_otif"],
            "segment": ["", "", ""],
            "period": [dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 9, 1)],
            "value": [0.85, 0.95, 0.9],
            "note": [None, None, None],
        }
    )
    write_actuals(engine, rows, filename="t.csv", sha256="1" * 64, user=admin)
    totals = series.kpi_totals(engine, config)
    diego = User(name="diego.alvarez@example.com", role="editor", display="Diego Alvarez")
    work = mywork.my_work(engine, config, diego, today=TODAY, totals=totals)  # October was due 10 Nov
    owed = work.owed_data
    assert owed["kpi_id"].tolist() == ["capacity_utilisation"] and owed.iloc[0]["period_label"] == "2026-10"
    assert not work.empty and work.known
    assert mywork.my_work(engine, config, diego, today=dt.date(2026, 11, 10), totals=totals).owed_data.empty
    from kpis.catalog import freshness

    everyone = freshness.late_data(engine, config, TODAY, totals=totals)  # what the page hands over, cached
    assert set(everyone["kpi_id"]) == {"capacity_utilisation", "supplier_otif"}  # Hannah Scott owes too
    given = mywork.my_work(engine, config, diego, today=TODAY, totals=totals, late=everyone).owed_data
    assert given["kpi_id"].tolist() == ["capacity_utilisation"]
    assert mywork.my_work(engine, config, MARIA, today=TODAY, totals=totals).owed_data.empty  # not hers
    # a data owner in the catalog: the plant controller owes the figures, the KPI's owner no longer does
    kpis = tuple(
        k.model_copy(update={"data_owner": "Ken Ito"}) if k.id == "capacity_utilisation" else k for k in config.kpis
    )
    cfg = dataclasses.replace(config, kpis=kpis)
    ken = User(name="ken.ito@example.com", role="viewer")
    work = mywork.my_work(engine, cfg, ken, today=TODAY, totals=totals)
    assert work.known and work.owed_data["kpi_id"].tolist() == ["capacity_utilisation"] and not work.empty
    assert mywork.my_work(engine, cfg, diego, today=TODAY, totals=totals).owed_data.empty
