"""Aggregation of assessments against hand calculations: don't know, spread, index, unscored practice, team of one."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from kpis.config import PRACTICES
from kpis.maturity import aggregate

Q1 = dt.date(2025, 1, 1)
Q2 = dt.date(2025, 4, 1)
TARGETS = dict.fromkeys(PRACTICES, 4) | {"data": 3}


def frame(answers: list[tuple[int, dt.date, str, str, dict[str, int | None]]]) -> pd.DataFrame:
    """Long score rows from (assessment id, period, respondent, team, {practice: score}); unlisted practices score 2."""
    rows = []
    for aid, period, who, team, scores in answers:
        for p in PRACTICES:
            s = scores.get(p, 2)
            rows.append(
                {
                    "assessment_id": aid,
                    "period": period,
                    "respondent": who,
                    "team": team,
                    "function": "",
                    "practice": p,
                    "score": np.nan if s is None else float(s),
                    "comment": None,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def scores() -> pd.DataFrame:
    # Team A has two people, team B one. Nobody scores `data`; r3 does not know `collaboration`.
    return frame(
        [
            (1, Q1, "r1", "A", {"collaboration": 2, "alignment": 3, "data": None}),
            (2, Q1, "r2", "A", {"collaboration": 4, "alignment": 3, "data": None}),
            (3, Q1, "r3", "B", {"collaboration": None, "alignment": 4, "data": None}),
        ]
    )


def row(summary: pd.DataFrame, practice: str, **where) -> pd.Series:
    sel = summary["practice"] == practice
    for k, v in where.items():
        sel &= summary[k] == v
    (i,) = summary.index[sel]
    return summary.loc[i]


def test_dont_know_is_excluded_and_counted(scores):
    s = aggregate.summarise(scores, TARGETS)
    c = row(s, "collaboration")
    assert (c["n"], c["dont_know"]) == (2, 1)
    assert (c["median"], c["mean"], c["min"], c["max"]) == (3.0, 3.0, 2.0, 4.0)


def test_spread_of_two_is_no_consensus_and_of_one_is_not(scores):
    s = aggregate.summarise(scores, TARGETS)
    assert row(s, "collaboration")["spread"] == 2 and bool(row(s, "collaboration")["no_consensus"])
    a = row(s, "alignment")
    assert a["spread"] == 1 and not bool(a["no_consensus"])
    assert a["mean"] == pytest.approx(10 / 3) and a["median"] == 3


def test_practice_nobody_scored_has_n_zero_and_no_figures(scores):
    d = row(aggregate.summarise(scores, TARGETS), "data")
    assert (d["n"], d["dont_know"]) == (0, 3)
    assert all(math.isnan(d[c]) for c in ("median", "mean", "min", "max", "spread", "gap"))
    assert not bool(d["no_consensus"])
    assert d["target"] == 3


def test_overall_index_is_mean_of_scored_practice_medians(scores):
    s = aggregate.summarise(scores, TARGETS)
    o = row(s, "overall")
    # medians: collaboration 3, alignment 3, seven others 2, data unscored -> (3 + 3 + 7 * 2) / 9
    assert o["median"] == pytest.approx(20 / 9)
    assert o["n"] == 3 and o["dont_know"] == 4
    assert o["target"] == 4  # the nine scored practices all target 4 (data, unscored, targets 3)
    assert o["gap"] == pytest.approx(4 - 20 / 9)
    assert math.isnan(o["spread"])


def test_gap_is_target_minus_median(scores):
    s = aggregate.summarise(scores, TARGETS)
    assert row(s, "alignment")["gap"] == 1.0
    assert row(s, "process")["gap"] == 2.0


def test_by_team_and_a_team_of_one(scores):
    s = aggregate.summarise(scores, TARGETS, by=("period", "team"))
    assert set(s["team"]) == {"A", "B"}
    b = row(s, "alignment", team="B")
    assert (b["n"], b["median"], b["spread"]) == (1, 4.0, 0.0)
    assert not bool(b["no_consensus"])
    assert row(s, "collaboration", team="B")["n"] == 0
    # team B: alignment 4, seven practices at 2, collaboration and data unscored -> 18 / 8
    assert row(s, "overall", team="B")["median"] == pytest.approx(2.25)
    assert row(s, "overall", team="A")["n"] == 2


def test_every_practice_and_overall_per_group(scores):
    s = aggregate.summarise(scores, TARGETS)
    assert list(s["practice"]) == [*PRACTICES, "overall"]


def test_even_number_of_answers_median_is_midpoint():
    s = aggregate.summarise(
        frame(
            [
                (1, Q1, "a", "T", {"process": 1}),
                (2, Q1, "b", "T", {"process": 2}),
                (3, Q1, "c", "T", {"process": 4}),
                (4, Q1, "d", "T", {"process": 5}),
            ]
        ),
        TARGETS,
    )
    p = row(s, "process")
    assert (p["median"], p["mean"], p["spread"]) == (3.0, 3.0, 4.0)


def test_empty_input_gives_empty_summary():
    s = aggregate.summarise(
        pd.DataFrame(
            columns=["assessment_id", "period", "respondent", "team", "function", "practice", "score", "comment"]
        ),
        TARGETS,
    )
    assert s.empty and "median" in s.columns


def test_index_series_and_trend_over_quarters():
    quarters = [dt.date(2024, m, 1) for m in (1, 4, 7, 10)] + [dt.date(2025, m, 1) for m in (1, 4)]
    answers = [(i + 1, q, "r", "T", {p: min(1 + i // 2, 5) for p in PRACTICES}) for i, q in enumerate(quarters)]
    s = aggregate.summarise(frame(answers), TARGETS)
    idx = aggregate.index_series(s)
    assert list(idx["index"]) == [1, 1, 2, 2, 3, 3]
    assert list(idx["label"]) == ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2"]
    tr, words = aggregate.index_trend(idx)
    assert tr.slope == pytest.approx(0.5)  # Theil–Sen: median of pairwise slopes
    assert words.startswith("improving 0.50 levels a quarter")


def test_index_trend_needs_three_quarters():
    s = aggregate.summarise(frame([(1, Q1, "r", "T", {}), (2, Q2, "r", "T", {})]), TARGETS)
    assert aggregate.index_trend(aggregate.index_series(s))[1] == "not enough data for a trend"


def test_gap_ranking_puts_largest_gap_first_and_unscored_last(scores):
    s = aggregate.summarise(scores, TARGETS)
    r = aggregate.gap_ranking(s, Q1)
    assert r["practice"].iloc[-1] == "data"
    assert r["gap"].iloc[0] == 2.0 and "overall" not in set(r["practice"])
    assert list(r["gap"].dropna()) == sorted(r["gap"].dropna(), reverse=True)


def test_latest_periods(scores):
    two = pd.concat([scores, frame([(9, Q2, "r1", "A", {})])], ignore_index=True)
    assert aggregate.latest_periods(aggregate.summarise(two, TARGETS)) == (Q2, Q1)
    assert aggregate.latest_periods(aggregate.summarise(scores, TARGETS)) == (Q1, None)
