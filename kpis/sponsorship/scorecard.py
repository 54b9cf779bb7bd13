"""The executive sponsorship scorecard: seven figures per executive and quarter, each with a
green/amber/red status from config, the change against the previous quarter and how it is computed.

The figures are plain functions on small frames (``Inputs``) so they can be checked by hand;
``load_inputs`` reads those frames from the store. docs/methodology.md has the worked example.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from kpis import catalog, formatting
from kpis.config import SCORECARD_FIGURES, AppConfig
from kpis.series import kpi_totals
from kpis.sponsorship.measures import (  # the figures over a span, for one person or everyone (the records KPIs too)
    attendance_rate,
    decision_latency,
    sponsored_on_time,
)
from kpis.sponsorship.measures import within as _in
from kpis.store.models import (
    OPEN_ACTION_STATUSES,
    Action,
    Assessment,
    AssessmentScore,
    Decision,
    Meeting,
    MeetingAttendee,
)

FIGURES: tuple[str, ...] = tuple(SCORECARD_FIGURES)
LABELS = {
    "attendance_rate": "Meeting attendance",
    "decision_latency_days": "Decision latency",
    "pending_decisions": "Pending decisions",
    "sponsored_on_time": "Actions on time",
    "overdue_sponsored": "Overdue actions",
    "kpis_on_target": "KPIs on target",
    "sponsorship_maturity": "Sponsorship maturity",
}
HOW = {
    "attendance_rate": "Attended ÷ invited over the executive S&OP meetings dated in the quarter that the executive "
    "was invited to (no figure when invited to none).",
    "decision_latency_days": "Median days from raised to decided over the executive's decisions decided in the "
    "quarter.",
    "pending_decisions": "The executive's decisions raised by the quarter's last day, not decided by then, and open "
    "for more than one cycle ({cycle} days) on that day.",
    "sponsored_on_time": "Share of the actions they sponsor, due in the quarter and not cancelled, completed on or "
    "before their due date.",
    "overdue_sponsored": "Actions they sponsor, not cancelled, due before the quarter's last day and not completed "
    "on or before that day.",
    "kpis_on_target": "Share of the KPIs they own with a value in the quarter whose latest value in the quarter "
    "(at the KPI's own cadence) is on target (green).",
    "sponsorship_maturity": "Median 'executive sponsorship' score of all maturity assessments of the quarter "
    '("don\'t know" left out); the same for every executive.',
}
RATES = {"attendance_rate", "sponsored_on_time", "kpis_on_target"}
COUNTS = {"pending_decisions", "overdue_sponsored"}


# ---------------------------------------------------------------- quarters


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter: first and last day."""

    start: dt.date
    end: dt.date

    @property
    def label(self) -> str:
        return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"

    def previous(self) -> Quarter:
        return quarter_of(self.start - dt.timedelta(days=1))

    def next(self) -> Quarter:
        return quarter_of(self.end + dt.timedelta(days=1))

    def __str__(self) -> str:
        return self.label


def quarter_of(day: dt.date) -> Quarter:
    """The quarter holding a day."""
    m = (day.month - 1) // 3 * 3 + 1
    start = dt.date(day.year, m, 1)
    nxt = dt.date(day.year + (m == 10), 1 if m == 10 else m + 3, 1)
    return Quarter(start, nxt - dt.timedelta(days=1))


def parse_quarter(text: str) -> Quarter:
    """'2026-Q3' (or 2026Q3, 2026-q3) as a Quarter; ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d{4})-?[Qq]([1-4])\s*", str(text))
    if not m:
        raise ValueError(f"quarter {text!r} is not YYYY-Qn (e.g. 2026-Q3)")
    return quarter_of(dt.date(int(m.group(1)), (int(m.group(2)) - 1) * 3 + 1, 1))


def quarters_back(last: Quarter, n: int) -> list[Quarter]:
    """The n quarters ending with `last`, oldest first."""
    out = [last]
    while len(out) < n:
        out.append(out[-1].previous())
    return out[::-1]


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Inputs:
    """What the scorecard is computed from, as small frames.

    attendance: meeting_date, type, person, invited, attended (one row per meeting and person)
    decisions: owner, raised_on, decided_on (NaT = pending)
    actions: sponsor, due_date, status, completed_on
    values: kpi_id, period, value (each KPI's total series at its own cadence)
    maturity: period (quarter start), score (sponsorship practice, known scores only)
    """

    attendance: pd.DataFrame
    decisions: pd.DataFrame
    actions: pd.DataFrame
    values: pd.DataFrame
    maturity: pd.DataFrame


def _frame(rows, columns: list[str], dates: tuple[str, ...] = ()) -> pd.DataFrame:
    df = pd.DataFrame(list(rows), columns=columns)
    for c in dates:
        df[c] = pd.to_datetime(df[c])
    return df


def load_inputs(engine: Engine, config: AppConfig) -> Inputs:
    """Read every input of the scorecard from the store (small tables; KPI values of executives' KPIs only)."""
    names = [e.name for e in config.executives]
    with engine.connect() as conn:
        att = conn.execute(
            select(
                Meeting.date, Meeting.type, MeetingAttendee.person, MeetingAttendee.invited, MeetingAttendee.attended
            )
            .join(MeetingAttendee, MeetingAttendee.meeting_id == Meeting.id)
            .where(MeetingAttendee.person.in_(names))
        ).all()
        dec = conn.execute(
            select(Decision.owner, Decision.raised_on, Decision.decided_on).where(Decision.owner.in_(names))
        ).all()
        act = conn.execute(
            select(Action.sponsor, Action.due_date, Action.status, Action.completed_on).where(Action.sponsor.in_(names))
        ).all()
        mat = conn.execute(
            select(Assessment.period, AssessmentScore.score)
            .join(AssessmentScore, AssessmentScore.assessment_id == Assessment.id)
            .where(AssessmentScore.practice == "sponsorship", AssessmentScore.score.is_not(None))
        ).all()
    owned = [k.id for k in config.kpis if k.owner in names]
    return Inputs(
        attendance=_frame(att, ["meeting_date", "type", "person", "invited", "attended"], ("meeting_date",)),
        decisions=_frame(dec, ["owner", "raised_on", "decided_on"], ("raised_on", "decided_on")),
        actions=_frame(act, ["sponsor", "due_date", "status", "completed_on"], ("due_date", "completed_on")),
        values=with_status(kpi_totals(engine, config, owned), config),
        maturity=_frame(mat, ["period", "score"], ("period",)),
    )


def with_status(values: pd.DataFrame, config: AppConfig) -> pd.DataFrame:
    """KPI values with their status against the target in force for each period (one pass per KPI)."""
    out = values.assign(status="none")
    for kid, idx in values.groupby("kpi_id").groups.items():
        k = config.kpi_by_id.get(kid)
        if k is None:
            continue
        rows = values.loc[idx]
        out.loc[idx, "status"] = catalog.status(k, rows["value"].to_numpy(float), catalog.targets_at(k, rows["period"]))
    return out


# ---------------------------------------------------------------- the seven figures


def pending_decisions(decisions: pd.DataFrame, person: str, q: Quarter, cycle_days: int) -> tuple[int, str]:
    """The person's decisions raised by q's last day, undecided then, and raised more than one cycle before it."""
    d = decisions
    end = pd.Timestamp(q.end)
    open_at_end = (d["owner"] == person) & (d["raised_on"] <= end) & (d["decided_on"].isna() | (d["decided_on"] > end))
    old = (end - d["raised_on"]).dt.days > cycle_days
    n_open = int(open_at_end.sum())
    return int((open_at_end & old).sum()), f"{n_open} open at quarter end"


def overdue_sponsored(actions: pd.DataFrame, person: str, q: Quarter) -> tuple[int, str]:
    """Sponsored actions, not cancelled, due before q's last day with no completion on or before that day."""
    a = actions
    end = pd.Timestamp(q.end)
    sel = (
        (a["sponsor"] == person)
        & (a["status"] != "cancelled")
        & (a["due_date"] < end)
        & ~(a["completed_on"].notna() & (a["completed_on"] <= end))
    )
    n_sponsored = int(((a["sponsor"] == person) & (a["status"] != "cancelled")).sum())
    return int(sel.sum()), f"of {n_sponsored} sponsored"


def _in_quarter(periods: pd.Series, cadence: str, q: Quarter) -> pd.Series:
    """Periods of a cadence that belong to q (a week belongs to the quarter holding its Thursday)."""
    p = pd.to_datetime(periods)
    if cadence == "week":
        p = p + pd.Timedelta(days=3)
    return _in(q, p)


def kpis_on_target(values: pd.DataFrame, config: AppConfig, person: str, q: Quarter) -> tuple[float, str]:
    """Share of the person's KPIs with a value in q whose latest value in q is green (NaN: none has a value)."""
    owned = [k for k in config.kpis if k.owner == person]
    if not owned:
        return math.nan, "owns no KPI"
    if "status" not in values.columns:
        values = with_status(values, config)
    mine = values[values["kpi_id"].isin([k.id for k in owned]) & values["value"].notna()]
    with_value = green = 0
    for k in owned:
        v = mine[mine["kpi_id"] == k.id]
        v = v[_in_quarter(v["period"], k.cadence, q)]
        if v.empty:
            continue
        with_value += 1
        green += v.sort_values("period")["status"].iloc[-1] == "green"
    if not with_value:
        return math.nan, f"none of {len(owned)} owned KPIs has a value in the quarter"
    return green / with_value, f"{green} of {with_value} with data ({len(owned)} owned)"


def sponsorship_maturity(maturity: pd.DataFrame, q: Quarter) -> tuple[float, str]:
    """Median sponsorship score of the assessments of q (NaN: none)."""
    sel = maturity[maturity["period"] == pd.Timestamp(q.start)]["score"].dropna()
    if sel.empty:
        return math.nan, "no assessment in the quarter"
    return float(np.median(sel.astype(float))), f"n = {len(sel)} assessments"


def figures(inputs: Inputs, config: AppConfig, person: str, q: Quarter) -> dict[str, tuple[float, str]]:
    """The seven figures of one executive and quarter, each as (value, what it rests on)."""
    return {
        "attendance_rate": attendance_rate(inputs.attendance, person, q),
        "decision_latency_days": decision_latency(inputs.decisions, person, q),
        "pending_decisions": pending_decisions(inputs.decisions, person, q, config.sponsorship.cycle_days),
        "sponsored_on_time": sponsored_on_time(inputs.actions, person, q),
        "overdue_sponsored": overdue_sponsored(inputs.actions, person, q),
        "kpis_on_target": kpis_on_target(inputs.values, config, person, q),
        "sponsorship_maturity": sponsorship_maturity(inputs.maturity, q),
    }


# ---------------------------------------------------------------- status, cards, portfolio


def rag(config: AppConfig, figure: str, value: float) -> str:
    """green / amber / red for a figure's value by its configured limits; 'none' when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    t = config.sponsorship.threshold(figure)
    if SCORECARD_FIGURES[figure]:
        return "green" if value >= t.green else ("amber" if value >= t.amber else "red")
    return "green" if value <= t.green else ("amber" if value <= t.amber else "red")


def how(figure: str, config: AppConfig) -> str:
    """One line saying how a figure is computed."""
    return HOW[figure].format(cycle=config.sponsorship.cycle_days)


def card(inputs: Inputs, config: AppConfig, person: str, q: Quarter) -> pd.DataFrame:
    """One executive's card: per figure the value, basis, status, previous quarter's value, change and how."""
    now = figures(inputs, config, person, q)
    before = figures(inputs, config, person, q.previous())
    rows = []
    for f in FIGURES:
        value, basis = now[f]
        prev = before[f][0]
        rows.append(
            {
                "figure": f,
                "label": LABELS[f],
                "value": float(value),
                "basis": basis,
                "status": rag(config, f, value),
                "previous": float(prev),
                "change": float(value) - float(prev),
                "better": "higher" if SCORECARD_FIGURES[f] else "lower",
                "how": how(f, config),
            }
        )
    return pd.DataFrame(rows)


def portfolio(inputs: Inputs, config: AppConfig, q: Quarter) -> pd.DataFrame:
    """One row per configured executive: executive, title and the seven figures (NaN where undefined)."""
    rows = []
    for ex in config.executives:
        f = figures(inputs, config, ex.name, q)
        rows.append({"executive": ex.name, "title": ex.title, **{k: float(v[0]) for k, v in f.items()}})
    return pd.DataFrame(rows, columns=["executive", "title", *FIGURES])


def statuses(frame: pd.DataFrame, config: AppConfig) -> pd.DataFrame:
    """The status (green/amber/red/none) of every figure cell of a portfolio frame."""
    return pd.DataFrame({f: [rag(config, f, v) for v in frame[f]] for f in FIGURES}, index=frame.index)


def trend(inputs: Inputs, config: AppConfig, quarters: list[Quarter]) -> pd.DataFrame:
    """Long frame (quarter, executive, figure, value) over several quarters, for the portfolio's trend charts."""
    frames = []
    for q in quarters:
        p = portfolio(inputs, config, q).drop(columns="title")
        frames.append(p.melt(id_vars="executive", var_name="figure", value_name="value").assign(quarter=q.label))
    if not frames:
        return pd.DataFrame(columns=["quarter", "executive", "figure", "value"])
    return pd.concat(frames, ignore_index=True)[["quarter", "executive", "figure", "value"]]


def format_figure(figure: str, value: float) -> str:
    """A figure as people read it, in the app's one format (kpis.formatting): rates as '67 %', days to one decimal
    ('10.0 days'), counts whole, '–' when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return formatting.NO_VALUE
    if figure in RATES:
        return formatting.pct(value, 0)
    if figure in COUNTS:
        return f"{int(value)}"
    return formatting.fixed(value, 1) if figure == "sponsorship_maturity" else formatting.number(value, 1, "days")


def format_change(figure: str, change: float) -> str:
    """The change against the previous quarter ('' when either is undefined)."""
    if change is None or (isinstance(change, float) and math.isnan(change)):
        return ""
    if figure in RATES:
        return formatting.number(change * 100, 0, "pts", signed=True)
    if figure in COUNTS:
        return formatting.fixed(int(change), 0, signed=True)
    return formatting.number(change, 1, "" if figure == "sponsorship_maturity" else "days", signed=True)


def overdue_actions(engine: Engine, sponsor: str, today: dt.date) -> pd.DataFrame:
    """Actions a person sponsors that are overdue today (due date passed, open or in progress), oldest due first."""
    q = (
        select(Action.id, Action.title, Action.owner, Action.due_date, Action.status)
        .where(Action.sponsor == sponsor, Action.due_date < today, Action.status.in_(OPEN_ACTION_STATUSES))
        .order_by(Action.due_date, Action.id)
    )
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(q).all(), columns=["id", "title", "owner", "due_date", "status"])
    df["days_overdue"] = [(today - d).days for d in df["due_date"]]
    return df


def default_quarter(latest_meeting: dt.date | None, today: dt.date) -> Quarter:
    """The quarter to show first: the last one finished by today, or the latest with a meeting if earlier."""
    done = quarter_of(today).previous()
    if latest_meeting is not None and quarter_of(latest_meeting) < done:
        return quarter_of(latest_meeting)
    return done
