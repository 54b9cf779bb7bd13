"""kpis.shortlist: long option lists searched and cut to a limit."""

from __future__ import annotations

from kpis.shortlist import MAX_OPTIONS, shortlist

SEGS = ["", *(f"SKU-{i:05d}" for i in range(1, 5001))]


def _label(s: str) -> str:
    return s or "Total"


def test_no_search_lists_the_first_options_up_to_the_limit():
    short = shortlist(SEGS, "", keep=[""], label=_label)
    assert len(short.options) == MAX_OPTIONS and short.options[:3] == ["", "SKU-00001", "SKU-00002"]
    assert (short.matched, short.total, short.listed, short.cut) == (5001, 5001, MAX_OPTIONS, True)


def test_search_keeps_the_matches_case_and_spaces_ignored():
    short = shortlist(SEGS, "  sku-0499 ", keep=[""], label=_label)
    assert short.options == ["", *(f"SKU-0499{i}" for i in range(10))]  # the total stays offered
    assert (short.matched, short.listed, short.cut) == (10, 10, False)
    assert shortlist(SEGS, "TOTAL", label=_label).options == [""]


def test_the_current_choice_stays_offered_and_first():
    short = shortlist(SEGS, "SKU-001", keep=["", "SKU-04321"], label=_label, limit=5)
    assert short.options == ["", "SKU-04321", "SKU-00100", "SKU-00101", "SKU-00102"]
    assert short.matched == 100 and short.listed == 3 and short.cut
    # a kept option that is not among the options (a link to a segment without data) is not added
    assert shortlist(["", "a"], "", keep=["zzz"]).options == ["", "a"]


def test_nothing_matches():
    short = shortlist(SEGS, "no such segment", keep=[""], label=_label)
    assert short.options == [""] and short.matched == 0 and not short.cut
