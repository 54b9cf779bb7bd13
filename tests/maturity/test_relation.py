"""Maturity beside a KPI: complete quarters only, Spearman's rho by hand and against scipy, honest words."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
from scipy import stats

from kpis.maturity import relation


def series(start: str, values: list[float], freq: str) -> pd.DataFrame:
    return pd.DataFrame({"period": pd.date_range(start, periods=len(values), freq=freq), "value": values})


def test_monthly_mean_kpi_to_quarters_marks_incomplete_quarter(config):
    kpi = config.kpi_by_id["forecast_accuracy"]  # monthly, mean
    q = relation.quarterly_kpi(series("2025-01-01", [0.1, 0.2, 0.3, 0.4, 0.5], "MS"), kpi)
    assert q["period"].tolist() == [dt.date(2025, 1, 1), dt.date(2025, 4, 1)]
    assert q["value"].tolist() == pytest.approx([0.2, 0.45])
    assert q["complete"].tolist() == [True, False] and q["expected"].tolist() == [3, 3]


def test_monthly_last_kpi_takes_the_quarters_last_month(config):
    kpi = config.kpi_by_id["training_completion"]  # monthly, last
    q = relation.quarterly_kpi(series("2025-01-01", [0.1, 0.2, 0.3], "MS"), kpi)
    assert q["value"].tolist() == [0.3]


def test_weekly_sum_kpi_weeks_belong_to_the_quarter_of_their_thursday(config):
    kpi = config.kpi_by_id["stockout_weeks"]  # weekly, sum
    # Monday 2024-12-30 has its Thursday on 2025-01-02: the first of the 13 weeks of 2025-Q1.
    q = relation.quarterly_kpi(series("2024-12-30", [1.0] * 13 + [5.0], "W-MON"), kpi)
    assert q["period"].tolist() == [dt.date(2025, 1, 1), dt.date(2025, 4, 1)]
    assert q["value"].tolist() == [13.0, 5.0]
    assert q["expected"].tolist() == [13, 13] and q["complete"].tolist() == [True, False]


def test_quarterly_kpi_is_its_own_quarter(config):
    kpi = config.kpi_by_id["npi_launch_on_time"]
    q = relation.quarterly_kpi(series("2025-01-01", [0.5, 0.6], "QS"), kpi)
    assert q["complete"].all() and q["value"].tolist() == [0.5, 0.6]


def quarters(n: int) -> list[dt.date]:
    return [d.date() for d in pd.date_range("2024-01-01", periods=n, freq="QS")]


def test_spearman_by_hand_and_against_scipy(config):
    kpi = config.kpi_by_id["forecast_accuracy"]
    qs = quarters(6)
    maturity = pd.DataFrame({"period": qs, "value": [1, 2, 3, 4, 5, 6.0]})
    kq = pd.DataFrame({"period": qs, "value": [0.5, 0.6, 0.55, 0.7, 0.8, 0.9], "complete": [True] * 5 + [False]})
    r = relation.compare(maturity, kq, kpi)
    # the last quarter is incomplete: ranks of the KPI 1,3,2,4,5; sum d^2 = 2; rho = 1 - 6*2/(5*24) = 0.9
    assert r.n == 5 and r.left_out == ["2025-Q2"]
    assert r.rho == pytest.approx(0.9)
    assert r.p_value == pytest.approx(stats.spearmanr([1, 2, 3, 4, 5], [0.5, 0.6, 0.55, 0.7, 0.8]).pvalue)
    assert r.text.startswith("Spearman's ρ = 0.90 (p = 0.037, n = 5 quarters): in quarters with higher maturity")
    assert "which is better" in r.text
    assert "not proof" in r.caution and "5 quarters" in r.caution


def test_lower_is_better_kpi_falling_with_maturity_is_better(config):
    kpi = config.kpi_by_id["decision_cycle_time"]
    qs = quarters(5)
    r = relation.compare(
        pd.DataFrame({"period": qs, "value": [1, 2, 3, 4, 5.0]}),
        pd.DataFrame({"period": qs, "value": [20, 18, 15, 12, 9.0], "complete": True}),
        kpi,
    )
    assert r.rho == pytest.approx(-1.0) and "tended to be lower, which is better" in r.text


def test_too_few_quarters_and_flat_series(config):
    kpi = config.kpi_by_id["forecast_accuracy"]
    qs = quarters(3)
    r = relation.compare(
        pd.DataFrame({"period": qs, "value": [1, 2, 3.0]}),
        pd.DataFrame({"period": qs, "value": [0.1, 0.2, 0.3], "complete": True}),
        kpi,
    )
    assert math.isnan(r.rho) and r.text.startswith("Too few quarters to compare: 3")
    qs = quarters(5)
    r = relation.compare(
        pd.DataFrame({"period": qs, "value": [2.0] * 5}),
        pd.DataFrame({"period": qs, "value": [0.1, 0.2, 0.3, 0.4, 0.5], "complete": True}),
        kpi,
    )
    assert math.isnan(r.rho) and "does not vary" in r.text


def test_no_clear_association(config):
    kpi = config.kpi_by_id["forecast_accuracy"]
    qs = quarters(5)
    r = relation.compare(
        pd.DataFrame({"period": qs, "value": [1, 2, 3, 4, 5.0]}),
        pd.DataFrame({"period": qs, "value": [0.3, 0.1, 0.5, 0.2, 0.4], "complete": True}),
        kpi,
    )
    assert r.text.endswith("no clear association.")
