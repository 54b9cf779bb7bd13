"""Late data (kpis.catalog.freshness): due dates by cadence, and which KPIs and segments owe a value on a day."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from kpis.access.users import User
from kpis.catalog import freshness
from kpis.catalog.load import write_actuals
from kpis.catalog.sync import sync_catalog
from kpis.config import KPI, AppConfig, CatalogSection

D = dt.date


def kpi(kid: str = "otif", **over) -> KPI:
    base = dict(
        id=kid,
        name=kid.upper(),
        function="supply",
        owner="Priya Nair",
        unit="%",
        direction="higher",
        target=0.95,
        red=0.05,
        cadence="month",
        rollup="mean",
        practices=["process"],
    )
    return KPI(**{**base, **over})


def catalog(config: AppConfig, *kpis: KPI, due_days: int | None = 5) -> AppConfig:
    return dataclasses.replace(config, kpis=tuple(kpis), catalog=CatalogSection(due_days=due_days))


def latest(*rows) -> pd.DataFrame:
    """(kpi_id, segment, last period start) rows."""
    return pd.DataFrame([(k, s, pd.Timestamp(p)) for k, s, p in rows], columns=["kpi_id", "segment", "last_period"])


# ---------------------------------------------------------------- due dates


@pytest.mark.parametrize(
    ("start", "cadence", "end"),
    [
        (D(2026, 10, 1), "month", D(2026, 10, 31)),
        (D(2024, 2, 1), "month", D(2024, 2, 29)),  # leap year
        (D(2025, 2, 1), "month", D(2025, 2, 28)),
        (D(2025, 12, 1), "month", D(2025, 12, 31)),
        (D(2026, 7, 1), "quarter", D(2026, 9, 30)),
        (D(2026, 10, 1), "quarter", D(2026, 12, 31)),
        (D(2026, 11, 2), "week", D(2026, 11, 8)),  # Monday to Sunday
        (D(2025, 12, 29), "week", D(2026, 1, 4)),  # ISO week 2026-W01 starts in December
    ],
)
def test_period_end_is_the_last_day_of_the_period(start, cadence, end):
    assert freshness.period_end(start, cadence) == end


def test_due_date_counts_days_after_the_period_end_across_month_and_year_ends():
    assert freshness.due_date(D(2026, 10, 1), "month", 5) == D(2026, 11, 5)
    assert freshness.due_date(D(2026, 1, 1), "month", 5) == D(2026, 2, 5)  # 31 Jan + 5
    assert freshness.due_date(D(2024, 2, 1), "month", 5) == D(2024, 3, 5)  # 29 Feb + 5
    assert freshness.due_date(D(2025, 2, 1), "month", 1) == D(2025, 3, 1)  # 28 Feb + 1
    assert freshness.due_date(D(2025, 12, 1), "month", 10) == D(2026, 1, 10)
    assert freshness.due_date(D(2026, 7, 1), "quarter", 10) == D(2026, 10, 10)
    assert freshness.due_date(D(2026, 11, 2), "week", 2) == D(2026, 11, 10)
    assert freshness.due_date(D(2026, 10, 1), "month", 0) == D(2026, 10, 31)  # due on the period's last day


@pytest.mark.parametrize(
    ("cadence", "days", "day", "newest"),
    [
        ("month", 5, D(2026, 11, 5), D(2026, 9, 1)),  # October is due today: not overdue yet
        ("month", 5, D(2026, 11, 6), D(2026, 10, 1)),  # the day after: overdue
        ("month", 0, D(2026, 10, 31), D(2026, 9, 1)),
        ("month", 0, D(2026, 11, 1), D(2026, 10, 1)),
        ("month", 5, D(2024, 3, 6), D(2024, 2, 1)),  # February of a leap year, due 5 Mar
        ("month", 5, D(2024, 3, 5), D(2024, 1, 1)),
        ("week", 2, D(2026, 11, 10), D(2026, 10, 26)),  # 2026-W45 (2 to 8 Nov) due Tue 10 Nov
        ("week", 2, D(2026, 11, 11), D(2026, 11, 2)),
        ("week", 3, D(2026, 1, 8), D(2025, 12, 29)),  # 2026-W01 began on 29 Dec 2025, ends 4 Jan, due 7 Jan
        ("quarter", 10, D(2026, 10, 10), D(2026, 4, 1)),
        ("quarter", 10, D(2026, 10, 11), D(2026, 7, 1)),
        ("quarter", 45, D(2026, 2, 15), D(2025, 10, 1)),  # Q4 2025 due 14 Feb 2026
    ],
)
def test_latest_due_is_the_newest_period_whose_due_date_has_passed(cadence, days, day, newest):
    assert freshness.latest_due(cadence, days, day) == newest


# ---------------------------------------------------------------- what is overdue


def test_monthly_kpi_before_and_after_its_due_date(config):
    cfg = catalog(config, kpi())
    received_sep = latest(("otif", "", "2026-09-01"))
    assert freshness.overdue(received_sep, cfg, D(2026, 11, 5)).empty
    late = freshness.overdue(received_sep, cfg, D(2026, 11, 6))
    row = late.iloc[0]
    assert len(late) == 1 and row["kpi_id"] == "otif" and row["segment"] == ""
    assert (row["period"], row["period_label"], row["due"], row["missing"]) == (
        D(2026, 10, 1),
        "2026-10",
        D(2026, 11, 5),
        1,
    )
    assert row["last_label"] == "2026-09" and row["data_owner"] == "Priya Nair" and row["feeds"] == "KPI actuals"
    assert freshness.late_text(row, D(2026, 11, 6)) == "2026-10 due 5 Nov, not received"
    assert freshness.overdue(latest(("otif", "", "2026-10-01")), cfg, D(2026, 11, 6)).empty


def test_several_periods_owed_name_the_oldest_and_count_them(config):
    cfg = catalog(config, kpi())
    row = freshness.overdue(latest(("otif", "", "2026-08-01")), cfg, D(2026, 11, 6)).iloc[0]
    assert (row["period_label"], row["due"], row["missing"]) == ("2026-09", D(2026, 10, 5), 2)
    assert freshness.late_text(row, D(2026, 11, 6)) == "2026-09 due 5 Oct, not received (and 1 later period)"
    row = freshness.overdue(latest(("otif", "", "2025-11-01")), cfg, D(2026, 1, 20)).iloc[0]  # over a year end
    assert (row["period_label"], row["due"]) == ("2025-12", D(2026, 1, 5))


def test_weekly_kpi(config):
    cfg = catalog(config, kpi("stockouts", cadence="week", due_days=2))
    got = latest(("stockouts", "", "2026-10-26"))  # 2026-W44
    assert freshness.overdue(got, cfg, D(2026, 11, 10)).empty
    row = freshness.overdue(got, cfg, D(2026, 11, 11)).iloc[0]
    assert (row["period_label"], row["due"], row["missing"]) == ("2026-W45", D(2026, 11, 10), 1)
    row = freshness.overdue(got, cfg, D(2026, 11, 25)).iloc[0]
    assert (row["period_label"], row["missing"]) == ("2026-W45", 3)  # W45, W46 and W47 (due 24 Nov)


def test_quarterly_kpi(config):
    cfg = catalog(config, kpi("sharing", cadence="quarter", due_days=10))
    got = latest(("sharing", "", "2026-04-01"))  # Q2 received
    assert freshness.overdue(got, cfg, D(2026, 10, 10)).empty
    row = freshness.overdue(got, cfg, D(2026, 10, 11)).iloc[0]
    assert (row["period_label"], row["due"]) == ("2026-Q3", D(2026, 10, 10))
    assert freshness.late_text(row, D(2026, 10, 11)) == "2026-Q3 due 10 Oct, not received"
    assert freshness.late_text(row, D(2027, 1, 2)) == "2026-Q3 due 10 Oct 2026, not received"  # another year


def test_due_days_of_the_kpi_wins_over_the_catalog_default_and_none_means_not_chased(config):
    own = kpi("own", due_days=20)
    cfg = catalog(config, kpi(), own)
    got = latest(("otif", "", "2026-09-01"), ("own", "", "2026-09-01"))
    assert freshness.overdue(got, cfg, D(2026, 11, 10))["kpi_id"].tolist() == ["otif"]  # own is due 20 Nov
    assert freshness.due_days(own, cfg) == 20 and freshness.due_days(kpi(), cfg) == 5
    assert freshness.overdue(got, catalog(config, kpi(), own, due_days=None), D(2026, 11, 30))["kpi_id"].tolist() == [
        "own"
    ]  # no default: only the KPI that declares a due date is chased
    assert freshness.overdue(got, cfg, D(2026, 11, 30), kpi_ids=["own"])["kpi_id"].tolist() == ["own"]


def test_a_kpi_without_any_value_is_not_chased(config):
    cfg = catalog(config, kpi(), kpi("fill"))
    assert freshness.overdue(latest(("fill", "", "2026-09-01")), cfg, D(2026, 12, 1))["kpi_id"].tolist() == ["fill"]
    assert freshness.overdue(latest(), cfg, D(2026, 12, 1)).empty


def test_a_kpi_computed_from_the_records_is_not_chased(config):
    records_kpi = kpi("on_time", source="records", records_metric="actions_on_time")
    cfg = catalog(config, kpi(), records_kpi)
    got = latest(("otif", "", "2026-07-01"), ("on_time", "", "2026-07-01"))  # no action was due since July
    assert freshness.overdue(got, cfg, D(2026, 12, 1))["kpi_id"].tolist() == ["otif"]


def test_segments_are_judged_on_their_own_and_a_retired_segment_is_not_chased(config):
    cfg = catalog(config, kpi())
    got = latest(
        ("otif", "", "2026-10-01"),
        ("otif", "EMEA", "2026-10-01"),
        ("otif", "APAC", "2026-09-01"),  # late
        ("otif", "Americas", "2026-08-01"),  # late, owes two months
        ("otif", "LATAM", "2025-09-01"),  # nothing in the year before October 2026: retired
    )
    late = freshness.overdue(got, cfg, D(2026, 11, 6))
    assert late["segment"].tolist() == ["Americas", "APAC"]  # oldest due first
    assert late["missing"].tolist() == [2, 1]
    assert freshness.tile_marks(late, D(2026, 11, 6)) == {
        "otif": "Americas and 1 more segment: 2026-09 due 5 Oct, not received (and 1 later period)"
    }
    one = freshness.overdue(got[got["segment"] != "Americas"], cfg, D(2026, 11, 6))
    assert freshness.tile_marks(one, D(2026, 11, 6)) == {"otif": "APAC: 2026-10 due 5 Nov, not received"}
    # the KPI itself late as well: its tile says so, not its segments
    both = freshness.overdue(got.assign(last_period=pd.Timestamp("2026-09-01")), cfg, D(2026, 11, 6))
    assert freshness.tile_marks(both, D(2026, 11, 6)) == {"otif": "2026-10 due 5 Nov, not received"}


def test_data_owner_and_what_feeds_a_kpi(config):
    fc = kpi("acc", source="forecast", forecast_metric="accuracy", owner="Maria Chen", data_owner="Demand Desk")
    cfg = catalog(config, kpi(), fc)
    row = freshness.overdue(latest(("acc", "", "2026-09-01")), cfg, D(2026, 11, 6)).iloc[0]
    assert row["data_owner"] == "Demand Desk" and row["feeds"] == "demand actuals and forecast snapshots"
    assert freshness.fed_by(cfg, "actuals") == ["otif"] and freshness.fed_by(cfg, "demand") == ["acc"]
    assert freshness.fed_by(cfg, "forecasts") == ["acc"] and freshness.fed_by(cfg, "meetings") == []


def test_reference_day_of_the_overview():
    months = [pd.Timestamp("2026-09-01"), pd.Timestamp("2026-10-01")]
    today = D(2026, 12, 6)
    assert freshness.reference_day(pd.Timestamp("2026-10-01"), months, today) == today  # the newest month: today
    assert freshness.reference_day(None, months, today) == today
    assert freshness.reference_day(pd.Timestamp("2026-09-01"), months, today) == D(2026, 9, 30)  # its month end
    assert freshness.reference_day(pd.Timestamp("2026-09-01"), months, D(2026, 9, 12)) == D(2026, 9, 12)


def test_late_table_reads_as_people_do(config):
    cfg = catalog(config, kpi())
    late = freshness.overdue(latest(("otif", "", "2026-09-01"), ("otif", "EMEA", "2026-08-01")), cfg, D(2026, 11, 6))
    t = freshness.late_table(late, D(2026, 11, 6))
    assert t["Segment"].tolist() == ["EMEA", "(total)"] and t["Due"].tolist() == ["5 Oct", "5 Nov"]
    assert t["Periods owed"].tolist() == [2, 1] and t["Import id"].tolist() == ["otif", "otif"]


# ---------------------------------------------------------------- from the database


def test_late_data_reads_totals_and_stored_segments(engine, config):
    cfg = catalog(config, *[k for k in config.kpis if k.id in ("otif", "fill_rate", "forecast_accuracy")])
    rows = pd.DataFrame(
        {
            "kpi_id": ["otif", "otif", "otif", "fill_rate", "fill_rate"],
            "segment": ["", "EMEA", "APAC", "EMEA", "APAC"],
            "period": [D(2026, 10, 1), D(2026, 10, 1), D(2026, 9, 1), D(2026, 10, 1), D(2026, 9, 1)],
            "value": [0.9, 0.9, 0.9, 0.95, 0.95],
            "note": [None] * 5,
        }
    )
    sync_catalog(engine, config, User(name="t", role="admin"))
    write_actuals(engine, rows, filename="t.csv", sha256="0" * 64, user=User(name="t", role="admin"))
    late = freshness.late_data(engine, cfg, D(2026, 11, 6))
    # otif: its total arrived, APAC did not; fill_rate (segments only): APAC; forecast_accuracy has no value at all
    assert list(zip(late["kpi_id"], late["segment"])) == [("otif", "APAC"), ("fill_rate", "APAC")]
    assert freshness.late_data(engine, cfg, D(2026, 11, 6), kpi_ids=["fill_rate"])["kpi_id"].tolist() == ["fill_rate"]
    assert freshness.late_data(engine, cfg, D(2026, 11, 5)).empty
    computed = pd.DataFrame({"kpi_id": ["forecast_accuracy"], "period": [pd.Timestamp("2026-09-01")], "value": [0.8]})
    late = freshness.late_data(engine, cfg, D(2026, 11, 6), totals=computed)
    assert late.loc[late["segment"] == "", "kpi_id"].tolist() == ["forecast_accuracy"]
