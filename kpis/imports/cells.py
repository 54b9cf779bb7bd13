"""Cells of an imported table read as text or numbers, the same way for every kind."""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_ABS_VALUE = 1e15  # a number beyond ± this is a mistake (and sums of it would overflow to inf)


def clean(v) -> str:
    """One cell as stripped text ('' for empty)."""
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()


def text(s: pd.Series) -> pd.Series:
    """Cells as stripped text ('' for empty). Text columns (every CSV) are cleaned once per distinct value, so a
    million rows of few values cost little time and memory."""
    if len(s) > 1000 and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        codes, uniq = pd.factorize(s, use_na_sentinel=True)
        cleaned = np.array([clean(v) for v in uniq] + [""], dtype=object)
        return pd.Series(cleaned[codes], index=s.index, dtype=object)
    return s.map(clean)


def numbers(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numeric values from cells (numbers, '0.87', '0,87', '87 %'), and whether a % sign was used; text is
    parsed once per distinct value."""
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype(float), pd.Series(False, index=raw.index)
    txt = text(raw)
    if len(txt) > 1000:
        codes, uniq = pd.factorize(txt)
        if len(uniq) < 0.8 * len(txt):
            num_u, pct_u = parse_numbers(pd.Series(uniq, dtype=object))
            return (
                pd.Series(num_u.to_numpy(float)[codes], index=raw.index),
                pd.Series(pct_u.to_numpy(bool)[codes], index=raw.index),
            )
    return parse_numbers(txt)


def parse_numbers(txt: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers from clean text cells, and whether a % sign was used."""
    txt = txt.str.replace("\u00a0", "", regex=False).str.replace(" ", "", regex=False)
    pct = txt.str.endswith("%")
    txt = txt.str.rstrip("%")
    # Decimal separator: with both '.' and ',' the one that comes last is the decimal mark
    # (1,234.5 and 1.234,5); a lone comma (0,87) is a decimal comma; a lone '.' is a decimal point.
    has_dot, has_comma = txt.str.contains(".", regex=False), txt.str.contains(",", regex=False)
    comma_last = txt.str.rfind(",") > txt.str.rfind(".")
    european = has_comma & (comma_last | ~has_dot) & (txt.str.count(",") == 1)
    # "450,000" could be 450 thousand or 450.000: refuse it rather than guess (0,875 is clearly a decimal).
    ambiguous = european & ~has_dot & txt.str.fullmatch(r"-?[1-9]\d{0,2},\d{3}")
    txt = txt.where(~european, txt.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    txt = txt.where(european, txt.str.replace(",", "", regex=False))
    txt = txt.where(~ambiguous, "ambiguous")
    num = pd.to_numeric(txt, errors="coerce")
    num = num.where(~pct, num / 100.0)
    return num.astype(float), pct
