"""How many actions wait in each state: the four figures at the top of the Actions page."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class ActionCounts:
    open: int  # status open
    in_progress: int  # status in progress
    overdue: int  # due date passed, still open or in progress (kpis.improvement.views.add_overdue)
    awaiting_verification: int  # done, not yet marked verified or not effective


def action_counts(actions: pd.DataFrame) -> ActionCounts:
    """The counts over actions as kpis.improvement.views.load_actions gives them (status, overdue)."""
    if actions.empty:
        return ActionCounts(0, 0, 0, 0)
    status = actions["status"]
    return ActionCounts(
        open=int((status == "open").sum()),
        in_progress=int((status == "in progress").sum()),
        overdue=int(actions["overdue"].sum()),
        awaiting_verification=int((status == "done").sum()),
    )
