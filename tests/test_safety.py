"""Tests for kpis.safety: hostile text renders as text and exports never start a formula."""

import pandas as pd

from kpis import export, safety


def test_markdown_escapes_links_images_html_and_directives():
    hostile = "![x](https://evil.example/p.png) [click](javascript:alert(1)) <script>x</script> :red[big] $x$"
    out = safety.md(hostile)
    for raw in ("![", "](", "<script>", ":red[", "$x$"):
        assert raw not in out
    assert safety.md("www.evil.example") == r"www\.evil\.example"   # GFM would autolink it
    assert safety.md(None) == "" and safety.md("a\x00b") == "ab"


def test_plotly_labels_lose_their_html():
    assert safety.plotly('<a href="https://evil">x</a>') == '&lt;a href="https://evil"&gt;x&lt;/a&gt;'
    assert safety.plotly("Pumps & Valves") == "Pumps &amp; Valves"


def test_spreadsheet_cells_never_start_a_formula():
    for bad in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert safety.spreadsheet_cell(bad) == "'" + bad
    assert safety.spreadsheet_cell(-2.5) == -2.5 and safety.spreadsheet_cell("ok") == "ok"
    df = pd.DataFrame({"=x": ["=HYPERLINK(1)", "fine"], "n": [-1, 2]})
    out = export.neutralise(df)
    assert list(out.columns) == ["'=x", "n"] and out.iloc[0, 0] == "'=HYPERLINK(1)" and out["n"].tolist() == [-1, 2]
