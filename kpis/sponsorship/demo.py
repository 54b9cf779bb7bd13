"""The demo company's S&OP cycle: five steps a month, executive attendance and decisions.

Executives differ visibly: the CEO starts chairing the executive meeting in month 11 and then
attends almost always; the VP Sales delegates attendance to the demand planning manager; the
CFO's decisions wait (slow, often still pending). Seeded through the caller's generator.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import insert
from sqlalchemy.orm import Session

from kpis.store.models import Decision, Meeting, MeetingAttendee

CEO_CHAIRS_FROM = 11  # month index: the CEO chairs the executive S&OP meeting from here on
STEPS = (
    ("data review", "DATA", 3, "Maria Chen", ("Maria Chen", "Hannah Scott", "Julia Weber")),
    ("demand review", "DEM", 8, "Tom Becker", ("Tom Becker", "Maria Chen", "Aisha Rahman", "Julia Weber")),
    ("supply review", "SUP", 12, "Priya Nair", ("Priya Nair", "Diego Alvarez", "Hannah Scott", "Julia Weber")),
    ("reconciliation", "REC", 16, "Lars Nilsson", ("Lars Nilsson", "Priya Nair", "Tom Becker", "Julia Weber")),
    ("executive S&OP", "EX", 20, "Richard Osei", ()),
)
INVITED = ("Richard Osei", "Lars Nilsson", "Tom Becker", "Priya Nair", "Diego Alvarez", "Aisha Rahman")
OWNER_WEIGHTS = (0.25, 0.25, 0.15, 0.15, 0.15, 0.05)  # who owns the decisions, in INVITED order
DELEGATE = {"Tom Becker": "Maria Chen"}  # who goes instead when the executive does not


def attend_probability(person: str, month: int) -> float:
    """How likely an executive attends the executive S&OP meeting in a month of the demo."""
    after = month >= CEO_CHAIRS_FROM
    return {
        "Richard Osei": 0.97 if after else 0.55,
        "Tom Becker": 0.3,
        "Lars Nilsson": 0.88 if after else 0.7,
        "Priya Nair": 0.95,
        "Diego Alvarez": 0.85 if after else 0.6,
        "Aisha Rahman": 0.75,
    }[person]


DECISION_TEXTS = [
    "Approve overtime on line 3 to cover the Q{q} peak",
    "Accept 2 weeks of extra safety stock for Pumps",
    "Delay the Sensors launch by one month",
    "Prioritise OEM orders during the allocation period",
    "Fund a second demand planner for APAC",
    "Phase out 40 slow-moving Fittings SKUs",
    "Raise the consensus forecast for Valves by 5 %",
    "Switch Seals to a dual-source supplier",
    "Release budget for the Q{q} promotion of Bearings",
    "Agree the capacity plan for the new Pumps line",
]
OWNER_KPI = {
    "Richard Osei": "exec_meeting_attendance",
    "Lars Nilsson": "excess_obsolete_stock",
    "Tom Becker": "forecast_bias",
    "Priya Nair": "otif",
    "Diego Alvarez": "production_plan_adherence",
    "Aisha Rahman": "promo_forecast_accuracy",
}


def write_cycle(
    s: Session, rng: np.random.Generator, months: pd.DatetimeIndex, stamp: dict, end: dt.date
) -> dict[str, int]:
    """Meetings (with refs and attendance) and decisions for every demo month; returns counts."""
    today = (pd.Timestamp(end) + pd.offsets.MonthEnd(0)).date()
    n_meetings = n_decisions = 0
    for i, m in enumerate(months):
        for typ, abbr, day, chair, regulars in STEPS:
            executive = typ == "executive S&OP"
            skip = 0.0 if executive else (0.22 if i < CEO_CHAIRS_FROM else 0.04)
            if rng.random() < skip:
                continue  # a step skipped that month
            date = (pd.Timestamp(m) + pd.Timedelta(days=day)).date()
            chair_name = chair if not executive or i >= CEO_CHAIRS_FROM else "Julia Weber"
            mt = Meeting(
                ref=f"{abbr}-{date:%Y-%m}",
                type=typ,
                date=date,
                chair=chair_name,
                notes="Plan agreed; open issues carried to next cycle." if executive else None,
                **stamp,
            )
            s.add(mt)
            s.flush()
            n_meetings += 1
            if executive:
                rows = _executive_attendance(rng, i)
            else:
                rows = [{"person": p, "invited": True, "attended": bool(rng.random() < 0.9)} for p in regulars]
            s.execute(insert(MeetingAttendee), [{"meeting_id": mt.id, **r} for r in rows])
            if executive:
                n_decisions += _decisions(s, rng, i, mt.id, date, stamp, today, n_decisions)
    return {"meetings": n_meetings, "decisions": n_decisions}


def _executive_attendance(rng: np.random.Generator, month: int) -> list[dict]:
    rows = []
    for person in INVITED:
        came = bool(rng.random() < attend_probability(person, month))
        rows.append({"person": person, "invited": True, "attended": came})
        if not came and person in DELEGATE:
            rows.append({"person": DELEGATE[person], "invited": False, "attended": True})
    return rows


def _decisions(
    s: Session, rng, month: int, meeting_id: int, date: dt.date, stamp: dict, today: dt.date, start: int
) -> int:
    n = int(rng.integers(3, 6))
    for j in range(n):
        owner = str(rng.choice(INVITED, p=OWNER_WEIGHTS))
        if owner == "Lars Nilsson":
            # the CFO's decisions wait, and some are never taken
            latency = int(max(5, rng.gamma(3.0, 22))) if rng.random() > 0.12 else 10_000
        else:
            latency = int(max(1, rng.gamma(2.0, 9 if month < CEO_CHAIRS_FROM else 3)))
        decided = date + dt.timedelta(days=latency)
        pending = decided > today
        text = DECISION_TEXTS[(month + j) % len(DECISION_TEXTS)].format(q=(date.month - 1) // 3 + 1)
        s.add(
            Decision(
                ref=f"D-{start + j + 1:04d}",
                text=text,
                raised_on=date,
                decided_on=None if pending else decided,
                owner=owner,
                meeting_id=meeting_id,
                kpi_id=OWNER_KPI[owner] if rng.random() < 0.5 else None,
                **stamp,
            )
        )
    return n
