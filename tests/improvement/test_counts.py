"""kpis.improvement.counts: the Actions page's four figures."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from kpis.improvement import views
from kpis.improvement.counts import ActionCounts, action_counts


def test_counts_by_status_and_overdue():
    df = pd.DataFrame(
        {
            "status": ["open", "open", "in progress", "done", "done", "verified", "cancelled"],
            "due_date": [dt.date(2026, 1, 1), dt.date(2026, 6, 1), *[dt.date(2026, 1, 1)] * 5],
        }
    )
    counts = action_counts(views.add_overdue(df, dt.date(2026, 3, 1)))
    # overdue: due before the day and still open or in progress (done, verified and cancelled are not)
    assert counts == ActionCounts(open=2, in_progress=1, overdue=2, awaiting_verification=2)


def test_no_action_counts_zero():
    empty = pd.DataFrame(columns=["status", "overdue"])
    assert action_counts(empty) == ActionCounts(0, 0, 0, 0)
