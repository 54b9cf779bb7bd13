"""Open improvement actions per practice, for the gap ranking (read only; actions are managed elsewhere)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from kpis.store.models import OPEN_ACTION_STATUSES, Action


def open_actions(engine: Engine) -> pd.DataFrame:
    """Open and in-progress actions: id, practice, title, status, owner, due_date, oldest due first."""
    q = (
        select(Action.id, Action.practice, Action.title, Action.status, Action.owner, Action.due_date)
        .where(Action.status.in_(OPEN_ACTION_STATUSES))
        .order_by(Action.due_date, Action.id)
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(q).all(), columns=["id", "practice", "title", "status", "owner", "due_date"])


def with_actions(ranking: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """The gap ranking with the number of open actions per practice."""
    counts = actions.groupby("practice").size() if len(actions) else pd.Series(dtype=int)
    return ranking.assign(open_actions=ranking["practice"].map(counts).fillna(0).astype(int))
