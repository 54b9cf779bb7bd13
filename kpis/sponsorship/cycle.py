"""The complete-cycle rule: a month's S&OP cycle is complete when every one of its steps was held at least once
in the month. The Meetings page's cycle grid and kpis.sponsorship.meetings.cycle_share both count by it."""

from __future__ import annotations

import pandas as pd

from kpis.store.models import MEETING_TYPES

STEPS: tuple[str, ...] = MEETING_TYPES  # the cycle's steps, in order


def complete(grid: pd.DataFrame) -> pd.Series:
    """Per month of a cycle grid (month × step, meetings held): True when every step was held at least once."""
    return (grid[list(STEPS)] > 0).all(axis=1)


def marks(grid: pd.DataFrame) -> pd.DataFrame:
    """The grid as the Meetings page shows it: ✓ (held once), ✓×n (held n times) or — (not held) per step, and
    whether the month's cycle is complete ("yes"/"no")."""
    out = grid[list(STEPS)].apply(lambda c: c.map(lambda n: "✓" if n == 1 else (f"✓×{n}" if n > 1 else "—")))
    out["complete"] = complete(grid).map({True: "yes", False: "no"})
    return out
