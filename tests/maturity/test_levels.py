"""kpis.maturity.levels: the level a practice works towards next."""

from __future__ import annotations

import pytest

from kpis.maturity.levels import next_level


@pytest.mark.parametrize(
    "median,expected",
    [(1.0, 2), (1.5, 2), (2.5, 3), (3.0, 4), (3.99, 4), (4.0, 5), (4.5, 5), (5.0, 5)],
)
def test_next_level_is_the_one_above_the_level_reached_and_never_above_the_top(median, expected):
    assert next_level(median) == expected
    assert isinstance(next_level(median), int)
