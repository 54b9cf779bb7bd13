"""The demo company's reviews and improvement actions: a story told on the Overview's KPIs.

Each dated intervention of the demo gets a post-implementation review and a follow-up action completed when
the change went live; the KPI then shows whether it worked. Some actions clearly worked (verified, verdict
frozen), some show no clear change, one made things worse, two wait for verification, a few are overdue and
one was cancelled. Deterministic: no random draws.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from kpis.config import AppConfig
from kpis.improvement.effect import change_text, judge
from kpis.store.models import Action, Review, ReviewKpi

FACILITATOR = "Julia Weber"
CORE_TEAM = ["Maria Chen", "Priya Nair", "Lars Nilsson", "Tom Becker"]


@dataclass(frozen=True)
class DemoAction:
    """One action of the story; months count from the first demo month; None = not completed."""

    title: str
    practice: str
    kpi_id: str | None
    direction: str | None
    owner: str
    sponsor: str
    created: int
    due_days: int
    status: str
    completed: int | None = None  # month index (the action completed on that month's first day + late)
    late_days: int = 0  # completed this many days after the month start
    review: int | None = None  # index of the intervention's review
    type: str = "improvement"
    priority: str = "medium"
    source: str = "pir"
    segment: str = ""


STORY = (
    # Clearly effective, verified by a manager (verdict frozen).
    DemoAction(
        "Run the consensus demand review every month",
        "collaboration",
        "otif",
        "higher",
        "Maria Chen",
        "Tom Becker",
        5,
        60,
        "verified",
        completed=7,
        review=0,
        priority="high",
    ),
    DemoAction(
        "CEO chairs the executive S&OP and decides there",
        "sponsorship",
        "decision_cycle_time",  # from the decision register: decisions taken in days, not weeks
        "lower",
        FACILITATOR,
        "Richard Osei",
        9,
        75,
        "verified",
        completed=11,
        review=1,
        priority="high",
    ),
    DemoAction(
        "Supplier collaboration portal for the top 40 suppliers",
        "partners",
        "supplier_otif",
        "higher",
        "Hannah Scott",
        "Priya Nair",
        13,
        75,
        "verified",
        completed=16,
        late_days=12,
        review=2,
    ),
    # Done, the verdict waits for a manager.
    DemoAction(
        "E&O clean-up and inventory policy reset",
        "improvement",
        "excess_obsolete_stock",
        "lower",
        "Lars Nilsson",
        "Lars Nilsson",
        19,
        100,
        "done",
        completed=22,
        review=3,
        type="corrective",
    ),
    DemoAction(
        "Planning system go-live with master-data governance",
        "technology",
        "touchless_planning",
        "higher",
        "Priya Nair",
        "Diego Alvarez",
        24,
        90,
        "done",
        completed=27,
        late_days=20,
        review=4,
    ),
    # No clear change.
    DemoAction(
        "Launch checklist for new products",
        "process",
        "npi_launch_on_time",
        "higher",
        "Aisha Rahman",
        "Aisha Rahman",
        12,
        100,
        "not effective",
        completed=15,
        source="meeting_decision",
        type="preventive",
    ),
    # Made things worse.
    DemoAction(
        "Sales overrides promotion forecasts weekly",
        "collaboration",
        "promo_forecast_accuracy",
        "higher",
        "Tom Becker",
        "Tom Becker",
        25,
        100,
        "not effective",
        completed=28,
        source="meeting_decision",
    ),
    # Without a KPI.
    DemoAction(
        "Agree the data cut-off dates in the S&OP calendar",
        "process",
        None,
        None,
        FACILITATOR,
        "Richard Osei",
        10,
        70,
        "verified",
        completed=12,
        review=0,
    ),
    # Closed late, and on time, for the on-time charts.
    DemoAction(
        "Role curriculum for demand planners",
        "change",
        "training_completion",
        "higher",
        FACILITATOR,
        "Richard Osei",
        14,
        60,
        "done",
        completed=18,
        late_days=25,
        type="preventive",
        source="other",
    ),
    DemoAction(
        "Weekly call with the top 20 suppliers",
        "partners",
        "supplier_otif",
        "higher",
        "Hannah Scott",
        "Priya Nair",
        20,
        70,
        "verified",
        completed=22,
        late_days=5,
        type="corrective",
        source="kpi_exception",
    ),
    # Cancelled.
    DemoAction(
        "Second demand planner for APAC",
        "collaboration",
        None,
        None,
        "Maria Chen",
        "Lars Nilsson",
        21,
        60,
        "cancelled",
        source="meeting_decision",
    ),
    # Open and in progress; some overdue.
    DemoAction(
        "Rebalance safety stock by XYZ class",
        "alignment",
        "fill_rate",
        "higher",
        "Priya Nair",
        "Lars Nilsson",
        29,
        60,
        "in progress",
        type="improvement",
        segment="EMEA",
    ),
    DemoAction(
        "Collaborative forecast with the top 10 customers",
        "partners",
        "customers_sharing_forecasts",
        "higher",
        "Tom Becker",
        "Tom Becker",
        30,
        45,
        "in progress",
        source="other",
    ),
    DemoAction(
        "Bias review of sales inputs every cycle",
        "evaluation",
        None,
        None,
        "Maria Chen",
        "Tom Becker",
        31,
        40,
        "open",
        type="corrective",
        source="kpi_exception",
        priority="high",
    ),
    DemoAction(
        "Pre-meeting to settle supply constraints",
        "collaboration",
        "production_plan_adherence",
        "higher",
        "Diego Alvarez",
        "Diego Alvarez",
        33,
        120,
        "open",
        source="meeting_decision",
    ),
    DemoAction(
        "Executive decision log with owners and dates",
        "sponsorship",
        "decision_cycle_time",
        "lower",
        FACILITATOR,
        "Richard Osei",
        34,
        90,
        "in progress",
        priority="high",
    ),
)


def _total(values: pd.DataFrame, kpi_id: str, segment: str = "") -> pd.DataFrame:
    s = values[(values["kpi_id"] == kpi_id) & (values["segment"] == segment)][["period", "value"]].copy()
    s["period"] = pd.to_datetime(s["period"])
    return s.sort_values("period")


def _value_at(values: pd.DataFrame, kpi_id: str, when: dt.date) -> float | None:
    s = _total(values, kpi_id)
    s = s[s["period"] <= pd.Timestamp(when)]
    return None if s.empty else float(s["value"].iloc[-1])


def add_reviews(
    s, *, interventions, months: pd.DatetimeIndex, values: pd.DataFrame, config: AppConfig, stamp: dict
) -> list[int]:
    """One submitted review per intervention, four months after it went live; returns the review ids."""
    ids = []
    for n, iv in enumerate(interventions):
        live = months[iv.month].date()
        after = months[min(iv.month + 4, len(months) - 1)].date()
        date = after + dt.timedelta(days=9)
        r = Review(
            initiative=iv.title,
            practices=[iv.practice, "improvement"],
            review_date=date,
            period=live,
            team="S&OP core team",
            facilitator=FACILITATOR,
            participants=CORE_TEAM,
            objectives=f"Make '{iv.title.lower()}' stick and move {', '.join(iv.effects)}.",
            planned="Roll out within one S&OP cycle with a named owner per step.",
            happened="Rolled out one cycle late; adoption was uneven in the first two months.",
            root_cause="Inputs were not ready before the meeting because the data cut-off was not agreed.",
            root_cause_method="5 whys" if n % 2 == 0 else "fishbone",
            went_well="Executive attention; a clear owner.",
            to_improve="Agree data cut-off dates in the S&OP calendar.",
            lessons="Pilot with one region first; measure the KPI before and after.",
            benefits="Visible KPI improvement within a quarter.",
            rating=4 if n % 2 == 0 else 3,
            status="submitted",
            submitted_by=FACILITATOR,
            submitted_at=stamp["created_at"],
            **stamp,
        )
        s.add(r)
        s.flush()
        base_period = months[max(iv.month - 1, 0)].date()
        for kid, delta in list(iv.effects.items())[:2]:
            if kid not in config.kpi_by_id:
                continue
            base = _value_at(values, kid, base_period)
            actual = _value_at(values, kid, after)
            s.add(
                ReviewKpi(
                    review_id=r.id,
                    kpi_id=kid,
                    baseline=base,
                    baseline_period=base_period,
                    target=None if base is None else base + delta,
                    actual=actual,
                    actual_period=after,
                )
            )
        ids.append(r.id)
    return ids


def add_actions(
    s,
    *,
    months: pd.DatetimeIndex,
    values: pd.DataFrame,
    review_ids: list[int],
    config: AppConfig,
    stamp: dict,
    decision_ids: list[int] | None = None,
) -> int:
    """The story's actions; verified / not effective ones carry the verdict frozen on the demo's data."""
    decision_ids = decision_ids or []
    for n, d in enumerate(STORY):
        created = months[d.created].date() + dt.timedelta(days=3)
        completed = None if d.completed is None else months[d.completed].date() + dt.timedelta(days=d.late_days)
        verdict = figures = None
        decided = d.status in ("verified", "not effective")
        if decided and d.kpi_id and d.kpi_id in config.kpi_by_id:
            series = _total(values, d.kpi_id, d.segment)
            if len(series):
                v = judge(
                    series["value"],
                    series["period"],
                    completed,
                    direction=d.direction,
                    change_text=change_text(config, d.kpi_id),
                    cadence=config.kpi_by_id[d.kpi_id].cadence,
                )
                verdict, figures = v.verdict, v.figures()
        at = dt.datetime.combine(created, dt.time(9), tzinfo=dt.UTC)
        done_at = (
            None
            if completed is None
            else dt.datetime.combine(completed + dt.timedelta(days=35), dt.time(10), tzinfo=dt.UTC)
        )
        s.add(
            Action(
                ref=f"CI-{101 + n}",
                title=d.title,
                description=f"{d.title}. The owner reports progress at the monthly S&OP review.",
                type=d.type,
                source=d.source,
                practice=d.practice,
                kpi_id=d.kpi_id,
                segment=d.segment,
                expected_direction=d.direction,
                owner=d.owner,
                sponsor=d.sponsor,
                priority=d.priority,
                review_id=review_ids[d.review] if d.review is not None and d.review < len(review_ids) else None,
                decision_id=decision_ids[n % len(decision_ids)]
                if d.source == "meeting_decision" and decision_ids
                else None,
                source_note=None,
                due_date=created + dt.timedelta(days=d.due_days),
                status=d.status,
                completed_on=completed,
                cancelled_on=created + dt.timedelta(days=40) if d.status == "cancelled" else None,
                verdict=verdict,
                verdict_figures=figures,
                verified_by="Richard Osei" if decided else None,
                verified_at=done_at if decided else None,
                created_at=at,
                created_by=stamp["created_by"],
            )
        )
    return len(STORY)
