"""Maturity figures: the right traces, and user text (team names) escaped so Plotly shows it as text."""

from __future__ import annotations

import datetime as dt

import numpy as np

from kpis.config import PRACTICES
from kpis.maturity import aggregate, charts
from tests.maturity.test_aggregate import TARGETS, frame

Q1, Q2 = dt.date(2025, 1, 1), dt.date(2025, 4, 1)


def scores():
    return frame(
        [
            (1, Q1, "a", "<b>Bold</b> team", {"data": 1}),
            (2, Q1, "b", "<b>Bold</b> team", {"data": 4}),
            (3, Q2, "a", "<b>Bold</b> team", {"data": None}),
            (4, Q2, "c", "Sales", {"data": None}),
        ]
    )


def test_heatmap_escapes_team_names_and_flags_no_consensus():
    rows = aggregate.summarise(scores(), TARGETS, by=("period", "team"))
    fig = charts.heatmap(rows[rows["period"] == Q1])
    assert list(fig.data[0].y) == ["&lt;b&gt;Bold&lt;/b&gt; team"]
    data_cell = fig.data[0].text[0][list(PRACTICES).index("data")]
    assert "⚠ 1–4" in data_cell


def test_radar_has_target_previous_and_latest_and_survives_an_unscored_practice():
    s = aggregate.summarise(scores(), TARGETS)
    fig = charts.radar(s, Q2, Q1, TARGETS)
    assert [t.name for t in fig.data] == ["Target", "2025-Q1 (previous)", "2025-Q2 (latest)"]
    latest = list(fig.data[2].r)
    assert len(latest) == 11 and np.isnan(latest[list(PRACTICES).index("data")])
    assert charts.radar(s, Q1, None, TARGETS).data[-1].name == "2025-Q1 (latest)"


def test_index_and_small_multiples_figures():
    s = aggregate.summarise(scores(), TARGETS)
    idx = aggregate.index_series(s)
    assert list(charts.index_figure(idx, 3.9).data[-1].y) == list(idx["index"])
    assert len(charts.small_multiples(s, TARGETS).data) == 20


def test_safe_escapes_markup():
    assert charts.safe("<a href='x'>y</a> & z") == "&lt;a href='x'&gt;y&lt;/a&gt; &amp; z"
