"""The action log as tables: overdue, filters, My actions, open actions over time, closed-on-time rates."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from kpis.config import AppConfig
from kpis.improvement.actions import COMPLETED_STATES
from kpis.store.models import OPEN_ACTION_STATUSES, Action

COLUMNS = [
    "id",
    "ref",
    "title",
    "description",
    "type",
    "source",
    "review_id",
    "decision_id",
    "source_note",
    "practice",
    "kpi_id",
    "segment",
    "expected_direction",
    "owner",
    "sponsor",
    "priority",
    "created_at",
    "created_by",
    "due_date",
    "status",
    "completed_on",
    "cancelled_on",
    "verdict",
    "verified_by",
    "verified_at",
]


def load_actions(engine: Engine, *, as_of: dt.date) -> pd.DataFrame:
    """Every action with `overdue` and `days_overdue` as of a date, newest first."""
    cols = [getattr(Action, c) for c in COLUMNS]
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(select(*cols).order_by(Action.id.desc())).all(), columns=COLUMNS)
    return add_overdue(df, as_of)


def add_overdue(df: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Overdue = due date before `as_of` and status open or in progress; days_overdue counts the days past due."""
    out = df.copy()
    due = pd.to_datetime(out["due_date"])
    days = (pd.Timestamp(as_of) - due).dt.days
    out["overdue"] = out["status"].isin(OPEN_ACTION_STATUSES) & (days > 0)
    out["days_overdue"] = np.where(out["overdue"], days, 0).astype(int)
    return out


def filter_actions(
    df: pd.DataFrame,
    *,
    statuses=None,
    owners=None,
    sponsors=None,
    practices=None,
    kpis=None,
    overdue_only: bool = False,
    text: str = "",
) -> pd.DataFrame:
    """Rows matching every given filter (an empty filter keeps all); text searches title, description and ref."""
    keep = pd.Series(True, index=df.index)
    for col, chosen in (
        ("status", statuses),
        ("owner", owners),
        ("sponsor", sponsors),
        ("practice", practices),
        ("kpi_id", kpis),
    ):
        if chosen:
            keep &= df[col].isin(list(chosen))
    if overdue_only:
        keep &= df["overdue"]
    if text.strip():
        needle = text.strip().lower()
        hay = (df["title"].fillna("") + " " + df["description"].fillna("") + " " + df["ref"].fillna("")).str.lower()
        keep &= hay.str.contains(needle, regex=False)
    return df[keep]


def my_actions(df: pd.DataFrame, user_name: str) -> pd.DataFrame:
    """Actions the user owns or sponsors that are not closed, overdue first then by due date."""
    mine = df[
        ((df["owner"] == user_name) | (df["sponsor"] == user_name)) & df["status"].isin((*OPEN_ACTION_STATUSES, "done"))
    ]
    return mine.sort_values(["overdue", "due_date"], ascending=[False, True])


def open_over_time(df: pd.DataFrame, months: pd.DatetimeIndex) -> pd.DataFrame:
    """Per month end: actions open (created, not yet completed or cancelled) and of those overdue."""
    created = pd.to_datetime(df["created_at"], utc=True).dt.tz_localize(None).dt.normalize()
    closed = pd.to_datetime(df["completed_on"]).fillna(pd.to_datetime(df["cancelled_on"]))
    due = pd.to_datetime(df["due_date"])
    rows = []
    for m in months:
        end = m + pd.offsets.MonthEnd(0)
        is_open = (created <= end) & (closed.isna() | (closed > end))
        rows.append({"month": m, "open": int(is_open.sum()), "overdue": int((is_open & (due < end)).sum())})
    return pd.DataFrame(rows, columns=["month", "open", "overdue"])


def closed_on_time(df: pd.DataFrame, by: pd.Series, *, as_of: dt.date) -> pd.DataFrame:
    """Per group: actions due by `as_of` and not cancelled (n), closed on time (completed on or before the due
    date), and the rate = on_time / n."""
    due = pd.to_datetime(df["due_date"])
    done = pd.to_datetime(df["completed_on"])
    base = (due <= pd.Timestamp(as_of)) & (df["status"] != "cancelled")
    on_time = base & df["status"].isin(COMPLETED_STATES) & done.notna() & (done <= due)
    g = pd.DataFrame(
        {"group": by.fillna("(none)").replace("", "(none)"), "n": base.astype(int), "on_time": on_time.astype(int)}
    )[base]
    out = g.groupby("group", as_index=False)[["n", "on_time"]].sum()
    out["rate"] = out["on_time"] / out["n"]
    return out.sort_values("rate", ascending=False, ignore_index=True)


def kpi_function(df: pd.DataFrame, config: AppConfig) -> pd.Series:
    """The function of the KPI each action targets ('(no KPI)' when none)."""
    return df["kpi_id"].map(lambda k: config.kpi_by_id[k].function if k in config.kpi_by_id else "(no KPI)")


def board(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Actions grouped by status in flow order (cancelled last)."""
    from kpis.improvement.actions import STATUSES

    return {s: df[df["status"] == s] for s in STATUSES}


def actions_on_timeline(df: pd.DataFrame, kpi_id: str, segment: str = "") -> pd.DataFrame:
    """Completed actions on a KPI (and segment) as (date, id, title, status, verdict) for a chart."""
    hit = df[(df["kpi_id"] == kpi_id) & (df["segment"].fillna("") == (segment or "")) & df["completed_on"].notna()]
    return hit[["completed_on", "id", "title", "status", "verdict"]].rename(columns={"completed_on": "date"})


def timeline_marks(engine: Engine, kpi_id: str, segment: str = "") -> pd.DataFrame:
    """Completed actions on a KPI (and segment) and submitted reviews that looked at it, as
    (kind, id, date, label) for marking a trend chart; reviews are dated by their period, else the review date."""
    from kpis.store.models import Review, ReviewKpi

    qa = select(Action.id, Action.completed_on, Action.title, Action.status, Action.verdict).where(
        Action.kpi_id == kpi_id,
        Action.segment == (segment or ""),
        Action.completed_on.is_not(None),
        Action.status != "cancelled",
    )
    qr = (
        select(Review.id, Review.period, Review.review_date, Review.initiative)
        .join(ReviewKpi, ReviewKpi.review_id == Review.id)
        .where(ReviewKpi.kpi_id == kpi_id, Review.status == "submitted")
    )
    with engine.connect() as conn:
        acts = conn.execute(qa).all()
        revs = conn.execute(qr).all() if not segment else []
    rows = [
        {"kind": "action", "id": i, "date": d, "label": f"Action #{i} done: {t} ({s}{', ' + v if v else ''})"}
        for i, d, t, s, v in acts
    ]
    rows += [{"kind": "review", "id": i, "date": p or rd, "label": f"Review #{i}: {t}"} for i, p, rd, t in revs]
    return pd.DataFrame(rows, columns=["kind", "id", "date", "label"]).sort_values("date", ignore_index=True)
