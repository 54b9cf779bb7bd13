"""Hostile text made harmless where it is shown or exported: Markdown, Plotly labels, spreadsheet cells.

Every imported or typed string is treated as hostile. Shown through Markdown it must read as text: no
HTML, no images or links (GFM turns bare URLs into links too), no Streamlit colour or icon directives,
no LaTeX. In Plotly titles, labels and hover text `<` starts Plotly's HTML subset. In a CSV or Excel
cell a leading `=`, `+`, `-`, `@`, tab or carriage return starts a formula (OWASP, CSV injection).
"""

from __future__ import annotations

import re
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def md(text: Any) -> str:
    """Text for st.markdown/caption/write that renders exactly as typed (every Markdown sign escaped)."""
    s = "" if text is None else str(text)
    s = s.replace("\x00", "")
    return _MD_SPECIAL.sub(r"\\\1", s).replace("\n", "  \n")


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


def spreadsheet_cell(value: Any) -> Any:
    """A cell value safe to open in a spreadsheet: text starting like a formula gets a leading apostrophe;
    numbers, dates and empty values stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
