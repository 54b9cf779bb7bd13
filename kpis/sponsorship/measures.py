"""The sponsorship records' figures over a span of days (a quarter, a month), for one person or for everyone:
attendance rate, decision latency, actions closed on time.

The sponsorship scorecard takes them per executive and quarter (kpis.sponsorship.scorecard), and the catalog's
KPIs computed from the records per month for everyone (kpis.records): one definition each. They are plain
functions on small frames, checked by hand in tests/sponsorship/test_scorecard.py and tests/test_records.py.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Protocol

import numpy as np
import pandas as pd

EXECUTIVE_MEETING = "executive S&OP"


class Span(Protocol):
    """Any span of days with a first and last day (a Quarter, or a month of a KPI computed from the records)."""

    @property
    def start(self) -> dt.date: ...

    @property
    def end(self) -> dt.date: ...


def within(q: Span, s: pd.Series) -> pd.Series:
    """The dates of s from q's first to its last day."""
    return (s >= pd.Timestamp(q.start)) & (s <= pd.Timestamp(q.end))


def whose(people: pd.Series, person: str | None) -> pd.Series:
    """The rows of one person; every row when person is None."""
    return people == person if person is not None else pd.Series(True, index=people.index)


def attendance_rate(attendance: pd.DataFrame, person: str | None, q: Span) -> tuple[float, str]:
    """Attended / invited over the executive S&OP meetings in q the person was invited to (NaN: none); person None:
    everyone invited (the Executive S&OP attendance KPI, kpis.records)."""
    a = attendance
    sel = a[
        whose(a["person"], person)
        & (a["type"] == EXECUTIVE_MEETING)
        & a["invited"].astype(bool)
        & within(q, a["meeting_date"])
    ]
    if sel.empty:
        return math.nan, "invited to no executive S&OP meeting"
    att = int(sel["attended"].astype(bool).sum())
    return att / len(sel), f"attended {att} of {len(sel)} invited"


def decision_latency(decisions: pd.DataFrame, person: str | None, q: Span) -> tuple[float, str]:
    """Median days from raised to decided over the person's decisions decided in q (NaN: none); person None: every
    decision (the Decision cycle time KPI)."""
    d = decisions
    sel = d[whose(d["owner"], person) & d["decided_on"].notna() & within(q, d["decided_on"])]
    if sel.empty:
        return math.nan, "no decision decided in the quarter"
    days = (sel["decided_on"] - sel["raised_on"]).dt.days
    return float(np.median(days)), f"n = {len(sel)} decision{'s' if len(sel) != 1 else ''}"


def sponsored_on_time(actions: pd.DataFrame, person: str | None, q: Span) -> tuple[float, str]:
    """Share of the person's sponsored actions due in q, not cancelled, completed on or before the due date; person
    None: every action (the Improvement actions closed on time KPI)."""
    a = actions
    sel = a[whose(a["sponsor"], person) & (a["status"] != "cancelled") & within(q, a["due_date"])]
    if sel.empty:
        return math.nan, "no sponsored action due in the quarter"
    ok = int((sel["completed_on"].notna() & (sel["completed_on"] <= sel["due_date"])).sum())
    return ok / len(sel), f"{ok} of {len(sel)} due"
