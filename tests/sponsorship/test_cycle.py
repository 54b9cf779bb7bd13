"""kpis.sponsorship.cycle: the complete-cycle rule, shared by the Meetings page and the quarterly share."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from kpis.sponsorship import cycle
from kpis.sponsorship import meetings as mt


def _grid() -> pd.DataFrame:
    rows = [(s, dt.date(2026, 1, 5 + i)) for i, s in enumerate(cycle.STEPS)]  # January: every step once
    rows += [("executive S&OP", dt.date(2026, 1, 28))]  # ... and the executive meeting twice
    rows += [(s, dt.date(2026, 2, 5 + i)) for i, s in enumerate(cycle.STEPS) if s != "supply review"]  # one missing
    return mt.cycle_grid(pd.DataFrame(rows, columns=["type", "date"]))


def test_a_month_is_complete_when_every_step_was_held():
    done = cycle.complete(_grid())
    assert done.to_dict() == {"2026-01": True, "2026-02": False}


def test_the_quarterly_share_counts_by_the_same_rule():
    grid = _grid()
    share = mt.cycle_share(grid).set_index("quarter")
    assert share.loc["2026-Q1", "complete"] == int(cycle.complete(grid).sum()) == 1


def test_marks_show_each_step_and_the_month():
    marks = cycle.marks(_grid())
    assert marks.loc["2026-01", "executive S&OP"] == "✓×2" and marks.loc["2026-01", "data review"] == "✓"
    assert marks.loc["2026-02", "supply review"] == "—"
    assert marks["complete"].to_dict() == {"2026-01": "yes", "2026-02": "no"}
    assert list(marks.columns) == [*cycle.STEPS, "complete"]
