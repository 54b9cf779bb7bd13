"""Aggregating assessments: per quarter (and team) and practice the answers' n, median, mean, min, max and
spread, the no-consensus flag, the overall index (mean of the practice medians) and the gap to target."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from kpis import spc
from kpis.config import PRACTICES
from kpis.maturity.assessments import quarter_label
from kpis.maturity.rubric import NO_CONSENSUS_SPREAD
from kpis.store.models import Assessment, AssessmentScore

OVERALL = "overall"
COLUMNS = ["practice", "n", "dont_know", "median", "mean", "min", "max", "spread", "no_consensus", "target", "gap"]


def summarise(scores: pd.DataFrame, targets: dict[str, int], by: tuple[str, ...] = ("period",)) -> pd.DataFrame:
    """One row per group (by: period and optionally team) and practice, plus an 'overall' row per group.

    n counts answers other than "don't know" (dont_know counts those); median, mean, min, max, spread
    (max − min) are over the n answers and empty when n = 0; no_consensus is spread >= 2; gap = target −
    median (positive: below target). The overall row: n = respondents, median = the index (mean of the
    medians of the practices anyone scored), mean = mean of those practices' means, target = mean of
    their targets, gap = target − index; min, max and spread are left empty.
    """
    by = list(by)
    if scores.empty:
        return pd.DataFrame(columns=[*by, *COLUMNS])
    groups = scores[by].drop_duplicates().sort_values(by)
    grid = groups.merge(pd.DataFrame({"practice": list(PRACTICES)}), how="cross")
    answered = scores[scores["score"].notna()]
    stats = (
        answered.groupby([*by, "practice"])["score"]
        .agg(n="size", median="median", mean="mean", min="min", max="max")
        .reset_index()
    )
    unknown = scores[scores["score"].isna()].groupby([*by, "practice"]).size().rename("dont_know").reset_index()
    out = grid.merge(stats, on=[*by, "practice"], how="left").merge(unknown, on=[*by, "practice"], how="left")
    out["n"] = out["n"].fillna(0).astype(int)
    out["dont_know"] = out["dont_know"].fillna(0).astype(int)
    out["spread"] = out["max"] - out["min"]
    out["no_consensus"] = out["spread"] >= NO_CONSENSUS_SPREAD
    out["target"] = out["practice"].map(targets).astype(float)
    out["gap"] = out["target"] - out["median"]
    overall = _overall(out, scores, by)
    order = {p: i for i, p in enumerate([*PRACTICES, OVERALL])}
    res = pd.concat([out, overall], ignore_index=True)
    res = res.assign(_o=res["practice"].map(order)).sort_values([*by, "_o"]).drop(columns="_o")
    return res[[*by, *COLUMNS]].reset_index(drop=True)


def _overall(rows: pd.DataFrame, scores: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    scored = rows[rows["n"] > 0]
    g = scored.groupby(by)
    out = pd.DataFrame({"median": g["median"].mean(), "mean": g["mean"].mean(), "target": g["target"].mean()})
    out = rows[by].drop_duplicates().set_index(by).join(out).reset_index()
    people = scores.drop_duplicates("assessment_id").groupby(by).size().rename("n").reset_index()
    dk = rows.groupby(by)["dont_know"].sum().rename("dont_know").reset_index()
    out = out.merge(people, on=by, how="left").merge(dk, on=by, how="left")
    out["practice"] = OVERALL
    out["min"] = out["max"] = out["spread"] = np.nan
    out["no_consensus"] = False
    out["gap"] = out["target"] - out["median"]
    return out


def index_series(summary: pd.DataFrame) -> pd.DataFrame:
    """The overall index per quarter (period, label, index, respondents) from a by-period summary."""
    o = summary[summary["practice"] == OVERALL].sort_values("period")
    return pd.DataFrame(
        {
            "period": o["period"].to_numpy(),
            "label": [quarter_label(p) for p in o["period"]],
            "index": o["median"].to_numpy(float),
            "respondents": o["n"].to_numpy(int),
        }
    )


def quarter_number(periods: pd.Series | list) -> np.ndarray:
    """Consecutive integers for consecutive quarters (gaps stay gaps)."""
    return np.array([p.year * 4 + (p.month - 1) // 3 for p in periods], dtype=float)


def index_trend(index: pd.DataFrame) -> tuple[spc.Trend | None, str]:
    """Theil–Sen slope and Kendall test of the index over quarters, and the trend in words."""
    ok = index[index["index"].notna()]
    tr = spc.trend(ok["index"].to_numpy(float), quarter_number(ok["period"])) if len(ok) else None
    return tr, spc.describe_trend(tr, direction="higher", unit="levels", per="quarter", decimals=2)


def trend_label(tr: spc.Trend | None) -> str:
    """One word or two for the index trend: rising, falling, no clear trend, too few quarters."""
    if tr is None:
        return "Too few quarters"
    if tr.p_value >= spc.ALPHA:
        return "No clear trend"
    return "Rising" if tr.slope > 0 or (tr.slope == 0 and tr.tau > 0) else "Falling"


def latest_periods(summary: pd.DataFrame) -> tuple[dt.date | None, dt.date | None]:
    """The latest quarter with answers and the one before it (None when missing)."""
    ps = sorted(summary["period"].unique()) if len(summary) else []
    return (ps[-1] if ps else None), (ps[-2] if len(ps) > 1 else None)


def gap_ranking(summary: pd.DataFrame, period: dt.date) -> pd.DataFrame:
    """Practices of a quarter ordered by gap to target, largest first (unscored practices last)."""
    rows = summary[(summary["period"] == period) & (summary["practice"] != OVERALL)]
    return rows.sort_values(["gap", "practice"], ascending=[False, True], na_position="last").reset_index(drop=True)


def no_consensus(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows where respondents disagree (spread >= 2)."""
    return summary[summary["no_consensus"].astype(bool)].reset_index(drop=True)


def practice_median(engine: Engine, practice: str, period_start: dt.date) -> float | None:
    """Median score of one practice over every assessment of a quarter ("don't know" left out); None if unscored."""
    q = (
        select(AssessmentScore.score)
        .join(Assessment, Assessment.id == AssessmentScore.assessment_id)
        .where(
            Assessment.period == period_start, AssessmentScore.practice == practice, AssessmentScore.score.is_not(None)
        )
    )
    with engine.connect() as conn:
        values = [float(v) for v in conn.execute(q).scalars().all()]
    return float(np.median(values)) if values else None


def for_export(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as people read it: quarter label instead of the date, fractions kept as numbers."""
    out = summary.copy()
    if "period" in out:
        out["period"] = [quarter_label(p) for p in out["period"]]
    return out
