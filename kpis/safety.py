"""Hostile text made harmless where it is shown or exported: Markdown, Plotly labels, spreadsheet cells.

Every imported or typed string is treated as hostile. Shown through Markdown it must read as text: no
HTML, no images or links (GFM turns bare URLs into links too), no Streamlit colour or icon directives,
no LaTeX. In Plotly titles, labels and hover text `<` starts Plotly's HTML subset. In a CSV or Excel
cell a leading `=`, `+`, `-`, `@`, tab or carriage return starts a formula (OWASP, CSV injection).
"""

from __future__ import annotations

import re
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=])")  # "=" under a line makes it a heading
# GFM turns "http://…", "www.…" and "name@host.tld" into links after escapes are resolved (remark-gfm's
# autolink-literal pass works on the text), so escaping is not enough: an invisible WORD JOINER (U+2060) between
# the scheme and its colon, after "www" and after "@" leaves the text as shown but no longer a link.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|xmpp|www)(?=\\[:.])|(@)")
WORD_JOINER = "\u2060"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md(text: Any) -> str:
    """Text for st.markdown/caption/write that renders exactly as typed (every Markdown sign escaped)."""
    s = "" if text is None else str(text)
    s = s.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, s).replace("\n", "  \n")


NUL_MESSAGE = "contains a NUL character (byte 0), which cannot be stored as text; remove it"


def nul_fields(values: dict[str, Any]) -> list[str]:
    """Names of the values (text, or lists of text) holding a NUL character, which PostgreSQL cannot store in
    text: such input is refused on every database alike."""

    def bad(v: Any) -> bool:
        if isinstance(v, str):
            return "\x00" in v
        if isinstance(v, (list, tuple, set)):
            return any(bad(x) for x in v)
        if isinstance(v, dict):
            return any(bad(k) or bad(x) for k, x in v.items())
        return False

    return [k for k, v in values.items() if bad(v)]


def plotly(text: Any) -> str:
    """Text for a Plotly title, axis, legend or hover label that Plotly will not read as its HTML subset."""
    s = "" if text is None else str(text)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


EXCEL_MAX_CHARS = 32_767  # what one Excel cell holds; openpyxl would cut longer text without a word


def excel_cell(value: Any) -> Any:
    """spreadsheet_cell, and text longer than an Excel cell holds cut with a note saying so (never silently)."""
    value = spreadsheet_cell(value)
    if isinstance(value, str) and len(value) > EXCEL_MAX_CHARS:
        note = f" … [cut: {len(value):,} characters in the app]"
        return value[: EXCEL_MAX_CHARS - len(note)] + note
    return value


def spreadsheet_cell(value: Any) -> Any:
    """A cell value safe to open in a spreadsheet: text starting like a formula gets a leading apostrophe;
    numbers, dates and empty values stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
