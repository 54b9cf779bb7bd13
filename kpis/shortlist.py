"""Long option lists cut to what a person can pick from: a select box with thousands of options (three million
segments of one KPI) makes every render of the page slow and the box unusable. The page offers a search box;
the options are those that contain the search text, at most `limit` of them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_OPTIONS = 200  # a select box holds at most this many options; beyond, the page offers a search


@dataclass(frozen=True)
class Shortlist:
    options: list  # what the select box offers: the kept ones first, then the first matches in order
    matched: int  # options whose label contains the search text (every option when there is none)
    total: int  # options before the search
    listed: int  # matches among `options`

    @property
    def cut(self) -> bool:
        """True when matches were left out (more than the limit)."""
        return self.matched > self.listed


def shortlist(
    options: Sequence,
    search: str | None,
    *,
    keep: Iterable = (),
    limit: int = MAX_OPTIONS,
    label: Callable[[Any], str] = str,
) -> Shortlist:
    """The options whose label contains `search` (case ignored, spaces collapsed), in their order, at most `limit`
    of them; the `keep` options (the total, the current choice) come first when they are among the options, so a
    choice made before the search stays selectable. One pass over the options."""
    wanted = " ".join((search or "").split()).casefold()
    keep = list(dict.fromkeys(keep))
    present: set = set()
    first: list = []
    matched = 0
    for o in options:
        if o in keep:
            present.add(o)
        if wanted and wanted not in label(o).casefold():
            continue
        matched += 1
        if len(first) < limit + len(keep):
            first.append(o)
    kept = [k for k in keep if k in present]
    rest = [o for o in first if o not in kept][: max(limit - len(kept), 0)]
    shown = [*kept, *rest]
    listed = sum(1 for o in shown if not wanted or wanted in label(o).casefold())
    return Shortlist(options=shown, matched=matched, total=len(options), listed=listed)
