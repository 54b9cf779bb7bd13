"""Tests for kpis.safety: hostile text renders as text and exports never start a formula."""

import json
import re

import pandas as pd

from kpis import export, safety


def test_markdown_escapes_links_images_html_and_directives():
    hostile = "![x](https://evil.example/p.png) [click](javascript:alert(1)) <script>x</script> :red[big] $x$"
    out = safety.md(hostile)
    for raw in ("![", "](", "<script>", ":red[", "$x$"):
        assert raw not in out
    assert safety.md(None) == "" and safety.md("a\x00b") == "ab"
    assert safety.md("a\n===") == "a  \n\\=\\=\\="  # not a setext heading


def _as_text(escaped: str) -> str:
    """What Markdown's text nodes hold once backslash escapes are resolved (where remark-gfm looks for links)."""
    return re.sub(r"\\(.)", r"\1", escaped)


def test_markdown_leaves_no_autolink():
    """remark-gfm links "http://…", "www.…" and e-mail addresses found in the text after escapes are resolved, so
    escaping alone is not enough (a browser test saw it): a word joiner breaks each, and the text reads the same."""
    gfm_url = re.compile(r"(https?://|www(?=\.))[-.\w]+", re.IGNORECASE)  # mdast-util-gfm-autolink-literal
    gfm_mail = re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+")
    for text in (
        "![x](http://127.0.0.2:9/md.png)",
        "see www.evil.example",
        "HTTPS://x.y",
        "mail me@evil.example",
        "ftp://x.y mailto:a@b.c",
    ):
        shown = _as_text(safety.md(text))
        assert not gfm_url.search(shown) and not gfm_mail.search(shown), shown
        assert shown.replace(safety.WORD_JOINER, "") == text


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


def test_forecast_csv_neutralises_headers_too():
    from kpis.forecast.windows import csv_bytes

    out = csv_bytes(pd.DataFrame({"=cmd|x": ["=1", "ok"], "wape": [0.1, 0.2]})).decode()
    assert out.splitlines()[0] == "'=cmd|x,wape" and "'=1" in out


def test_heat_map_and_item_chart_do_not_render_plotly_markup():
    from kpis.forecast import charts

    evil = '<a href="https://evil.example">x</a>'
    table = pd.DataFrame({evil: ["a", "b"], "region": ["EMEA", evil], "wape": [0.1, 0.2], "n": [3, 4]})
    fig = charts.wape_heatmap(table, evil, "region")
    spec = fig.to_json()
    assert "<a href" not in spec and "&lt;a href" in spec
    series = pd.DataFrame(
        {"item": [evil], "period": pd.to_datetime(["2026-01-01"]), "actual": [1.0], "forecast": [2.0]}
    )
    # Vega-Lite draws titles and data values as plain text; imported text must never become a field name, an
    # expression or a format, where Vega would read it.
    spec = charts.item_figure(series, evil, "<b>consensus</b>", 1)
    assert spec["title"]["text"] == f"{evil}: actual vs forecast"
    structure = json.dumps({k: v for k, v in spec.items() if k not in ("title", "datasets")})
    assert "<a href" not in structure.replace("Forecast (<b>consensus</b>, lag 1)", "")
    assert "<b>" not in json.dumps(spec["layer"][0]["encoding"]["x"]) + json.dumps(spec["layer"][0]["encoding"]["y"])


def test_excel_cells_too_long_are_cut_with_a_note():
    long = "=" + "x" * 40_000
    out = safety.excel_cell(long)
    assert (
        len(out) == safety.EXCEL_MAX_CHARS
        and out.startswith("'=x")
        and out.endswith("[cut: 40,002 characters in the app]")
    )
    assert safety.excel_cell("short") == "short" and safety.excel_cell(3.5) == 3.5
