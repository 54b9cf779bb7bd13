"""The next-level rule: the rubric level a practice works towards from the median of its answers."""

from __future__ import annotations

import math

from kpis.maturity.rubric import LEVELS


def next_level(median: float) -> int:
    """The level above the one the median has fully reached (2.5 → 3, 3 → 4), never above the top level."""
    return int(min(math.floor(median) + 1, LEVELS[-1]))
