"""Maturity and performance: a KPI's quarterly value beside the maturity index (or one practice's median),
with Spearman's rank correlation over the quarters and an honest caution."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats

from kpis import spc
from kpis.config import KPI
from kpis.maturity.assessments import quarter_label

MIN_QUARTERS = 4  # below this a rank correlation says nothing
CAUTION = (
    "This is an association over {n} quarters, not proof that maturity moved the KPI: both can rise with "
    "time for other reasons, and with so few points one odd quarter changes the figure."
)


def _quarter(ts: pd.Series) -> pd.Series:
    return ts.dt.to_period("Q").dt.start_time


def quarterly_kpi(series: pd.DataFrame, kpi: KPI) -> pd.DataFrame:
    """A KPI series (period, value) per quarter with the KPI's roll-up rule: period (quarter start), value,
    points (sub-periods with a value), expected (sub-periods in the quarter) and complete (points == expected).

    A week belongs to the quarter holding its Thursday. Incomplete quarters keep their value here but are
    left out of the comparison.
    """
    cols = ["period", "value", "points", "expected", "complete"]
    s = series[["period", "value"]].dropna().copy()
    if s.empty:
        return pd.DataFrame(columns=cols)
    s["period"] = pd.to_datetime(s["period"])
    if kpi.cadence == "quarter":
        out = s.assign(points=1, expected=1)
    else:
        anchor = s["period"] + pd.Timedelta(days=3) if kpi.cadence == "week" else s["period"]
        s = s.assign(q=_quarter(anchor)).sort_values("period")
        agg = {"sum": "sum", "mean": "mean", "last": "last"}[kpi.rollup]
        out = s.groupby("q").agg(value=("value", agg), points=("value", "size")).reset_index()
        out = out.rename(columns={"q": "period"})
        out["expected"] = [_sub_periods(q, kpi.cadence) for q in out["period"]]
    out["complete"] = out["points"] >= out["expected"]
    out["period"] = pd.to_datetime(out["period"]).dt.date
    return out[cols].reset_index(drop=True)


def _sub_periods(q: pd.Timestamp, cadence: str) -> int:
    """Months (3) or ISO weeks (13 or 14: weeks whose Thursday falls in the quarter) of a quarter."""
    if cadence == "month":
        return 3
    end = q + pd.offsets.QuarterEnd(0)
    thursdays = pd.date_range(q, end, freq="W-THU")
    return len(thursdays)


@dataclass(frozen=True)
class Relation:
    """The quarters compared, Spearman's rho and p-value, and what it means in words."""

    table: pd.DataFrame  # period, label, maturity, kpi, kpi_complete, used
    n: int
    rho: float
    p_value: float
    left_out: list[str]  # quarter labels with maturity but no complete KPI quarter
    text: str
    caution: str


def compare(maturity: pd.DataFrame, kpi_quarters: pd.DataFrame, kpi: KPI) -> Relation:
    """Pair each quarter's maturity figure (period, value) with the KPI's complete quarterly value; Spearman's rho."""
    m = maturity[["period", "value"]].rename(columns={"value": "maturity"})
    k = kpi_quarters[["period", "value", "complete"]].rename(columns={"value": "kpi", "complete": "kpi_complete"})
    t = m.merge(k, on="period", how="left").sort_values("period").reset_index(drop=True)
    t["kpi_complete"] = t["kpi_complete"].fillna(False).astype(bool)
    t["used"] = t["maturity"].notna() & t["kpi"].notna() & t["kpi_complete"]
    t.insert(1, "label", [quarter_label(p) for p in t["period"]])
    left_out = t.loc[~t["used"], "label"].tolist()
    used = t[t["used"]]
    n = len(used)
    rho = p = float("nan")
    if n >= MIN_QUARTERS and used["maturity"].nunique() > 1 and used["kpi"].nunique() > 1:
        res = stats.spearmanr(used["maturity"].to_numpy(float), used["kpi"].to_numpy(float))
        rho, p = float(res.statistic), float(res.pvalue)
    return Relation(
        table=t,
        n=n,
        rho=rho,
        p_value=p,
        left_out=left_out,
        text=_words(rho, p, n, kpi, used),
        caution=CAUTION.format(n=n),
    )


def _words(rho: float, p: float, n: int, kpi: KPI, used: pd.DataFrame) -> str:
    if n < MIN_QUARTERS:
        return (
            f"Too few quarters to compare: {n} with both a maturity figure and a complete KPI quarter "
            f"(at least {MIN_QUARTERS} needed)."
        )
    if math.isnan(rho):
        return f"No rank correlation over {n} quarters: one of the two series does not vary."
    p_text = spc.format_p(p)
    head = f"Spearman's ρ = {rho:.2f} ({p_text}, n = {n} quarters)"
    if p >= 0.05:
        return f"{head}: no clear association."
    goes = "higher" if rho > 0 else "lower"
    better = {"higher": rho > 0, "lower": rho < 0}.get(kpi.direction)
    judged = "" if better is None else (", which is better" if better else ", which is worse")
    return f"{head}: in quarters with higher maturity, {kpi.name} tended to be {goes}{judged}."


def practice_series(summary: pd.DataFrame, practice: str) -> pd.DataFrame:
    """period, value: the index (practice 'overall') or one practice's median per quarter."""
    rows = summary[summary["practice"] == practice].sort_values("period")
    return pd.DataFrame({"period": rows["period"].to_numpy(), "value": rows["median"].to_numpy(float)})
