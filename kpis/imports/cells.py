"""Cells of an imported table read as text or numbers, the same way for every kind."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from kpis import textkeys

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


# ---------------------------------------------------------------- keys (segments, item codes, attribute values)
# Keys that differ only by Unicode form ('Café' composed or decomposed, full-width letters) or by invisible format
# characters (a zero-width space, a direction mark) are one key: an import maps each such spelling onto the one
# already stored, else onto the canonical form when the file has it, else onto its first spelling in the file. A key
# with no equivalent is stored exactly as written (docs/importing-data.md).


def key_canon(value: str) -> str:
    """The form keys are compared in: kpis.textkeys.clean (NFKC, Unicode format characters removed: zero-width
    spaces and joiners, direction marks and overrides, the BOM), case kept ('EMEA' and 'emea' stay two keys)."""
    return value if value.isascii() else textkeys.clean(value)


def key_spellings(values: Iterable[str], stored: Iterable[str] = ()) -> dict[str, str]:
    """{spelling: the spelling to use} for the distinct `values` of a file that are one key with another spelling
    (stored, or earlier in the file); values kept as they are do not appear. Time linear in the values."""
    chosen: dict[str, str] = {}
    for s in stored:
        c = key_canon(s)
        if c not in chosen or s == c:
            chosen[c] = s
    from_file: dict[str, str] = {}
    canon = {}
    for v in values:
        c = canon[v] = key_canon(v)
        if c in chosen:
            continue
        if c not in from_file or v == c:
            from_file[c] = v
    chosen.update(from_file)
    return {v: chosen[c] for v, c in canon.items() if chosen[c] != v}


def merge_keys(s: pd.Series, stored: Iterable[str] = ()) -> pd.Series:
    """Text keys with equivalent spellings merged (key_spellings), looked at once per distinct value."""
    stored = list(stored)
    uniq = pd.unique(s.to_numpy(dtype=object))
    if all(isinstance(v, str) and v.isascii() for v in uniq) and all(k.isascii() for k in stored):
        return s
    spell = key_spellings([v for v in uniq if isinstance(v, str)], stored)
    return s.map(lambda v: spell.get(v, v)) if spell else s


def merge_codes(codes: np.ndarray, values: np.ndarray, stored: Iterable[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row (-1 blank) into distinct `values`, with equivalent spellings merged into one value."""
    spell = key_spellings([str(v) for v in values], stored)
    if not spell:
        return codes, values
    merged = np.array([spell.get(str(v), str(v)) for v in values], dtype=object)
    new_codes, new_values = pd.factorize(merged)
    remap = np.append(new_codes.astype(np.int64), -1)
    return remap[codes], np.asarray(new_values, dtype=object)
