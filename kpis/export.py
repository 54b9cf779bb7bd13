"""Table downloads (CSV and Excel) that are safe to open in a spreadsheet: text cells that a spreadsheet
would run as a formula (starting with = + - @, tab or carriage return) are prefixed with an apostrophe."""

from __future__ import annotations

import io

import pandas as pd

from kpis.safety import excel_cell, spreadsheet_cell


def neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """A copy where every text cell (and column name) a spreadsheet would treat as a formula starts with an
    apostrophe (kpis.safety.spreadsheet_cell); numbers stay numbers."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(spreadsheet_cell)
    out.columns = [spreadsheet_cell(c) for c in out.columns]
    return out


# Lines end with CRLF (RFC 4180): the csv writer then quotes every cell holding a carriage return or a line
# feed. With bare LF line ends a cell "x\r=1+1" would be written unquoted, and a spreadsheet that breaks lines
# at the CR would read "=1+1" as the start of a new row: a formula.
LINE_END = "\r\n"


def csv_bytes(df: pd.DataFrame, **to_csv) -> bytes:
    """UTF-8 CSV of a table, formulas neutralised, cells with line breaks quoted (fractions stay fractions)."""
    return neutralise(df).to_csv(index=False, lineterminator=LINE_END, **to_csv).encode("utf-8")


def excel_bytes(df: pd.DataFrame, sheet: str = "data") -> bytes:
    """An .xlsx workbook of a table, formulas neutralised, text too long for a cell cut with a note; timezones
    dropped (Excel has none)."""
    out = neutralise(df)
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(excel_cell)
        elif isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = out[col].dt.tz_localize(None)
    buf = io.BytesIO()
    out.to_excel(buf, index=False, sheet_name=sheet[:31] or "data")
    return buf.getvalue()
