"""What every import shares: reading a CSV/Excel table, collecting problems with file, row and column,
and the result an import reports.

Every problem is reported with file, row and column; a file with any problem writes
nothing; re-importing the same content changes nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

SUPPORTED = (".csv", ".txt", ".xlsx", ".xlsm")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an imported file, located by row and column."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}"


class ImportFailed(Exception):
    """The file has problems; nothing was written."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems
        self.total = total if total is not None else len(problems)
        more = f"\n… and {self.total - len(problems)} more" if self.total > len(problems) else ""
        super().__init__("\n".join(map(str, problems)) + more)


@dataclass
class ImportResult:
    """What an import changed."""

    filename: str
    rows: int
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    batch_id: int | None = None
    previous: dict | None = field(default=None)

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated)

    def summary(self) -> str:
        """One line for the UI and the CLI."""
        if not self.changed:
            seen = ""
            if self.previous:
                seen = f" (same content imported {self.previous['when']:%Y-%m-%d %H:%M} UTC by {self.previous['who']})"
            return f"{self.filename}: no changes — all {self.unchanged} values already stored{seen}."
        return (f"{self.filename}: {self.inserted} inserted, {self.updated} updated, "
                f"{self.unchanged} unchanged (import #{self.batch_id}).")


class _Collector:
    """Collects problems up to a cap while counting all of them."""

    def __init__(self, file: str, cap: int):
        self.file, self.cap, self.items, self.total = file, cap, [], 0

    def add(self, row: int | None, column: str | None, message: str) -> None:
        self.total += 1
        if len(self.items) < self.cap:
            self.items.append(Problem(self.file, row, column, message))

    def add_many(self, rows: pd.Series, column: str | pd.Series, messages: pd.Series | str) -> None:
        """Add one problem per row of a (small or large) selection, vectorised up to the cap."""
        n = len(rows)
        if n == 0:
            return
        room = max(self.cap - len(self.items), 0)
        cols = column if isinstance(column, pd.Series) else pd.Series([column] * n, index=rows.index)
        msgs = messages if isinstance(messages, pd.Series) else pd.Series([messages] * n, index=rows.index)
        for r, c, m in zip(rows.iloc[:room], cols.iloc[:room], msgs.iloc[:room]):
            self.items.append(Problem(self.file, int(r), str(c), str(m)))
        self.total += n

    def raise_if_any(self) -> None:
        if self.total:
            ordered = sorted(self.items, key=lambda p: (p.row is not None, p.row or 0, p.column or ""))
            raise ImportFailed(ordered, self.total)


def read_table(data: bytes, filename: str, *, max_mb: float, cap: int = 50) -> pd.DataFrame:
    """The file's first sheet/table as text cells with a `_row` column holding file row numbers."""
    name = Path(filename).name
    ext = Path(filename).suffix.lower()
    if ext not in SUPPORTED:
        raise ImportFailed([Problem(name, None, None, f"unsupported file type '{ext or '(none)'}'; expected .csv or .xlsx")])
    if len(data) > max_mb * 1024 * 1024:
        raise ImportFailed([Problem(name, None, None,
                                    f"file is {len(data) / 1048576:.1f} MB, over the {max_mb:g} MB limit (config [app] max_upload_mb)")])
    if not data.strip():
        raise ImportFailed([Problem(name, None, None, "file is empty; expected a header row and at least one data row")])
    try:
        if ext in (".xlsx", ".xlsm"):
            df = pd.read_excel(io.BytesIO(data), dtype=object, engine="openpyxl", header=0)
        else:
            text = data.decode("utf-8-sig")
            first = text.splitlines()[0] if text else ""
            sep = ";" if first.count(";") > first.count(",") else ","
            df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep, skip_blank_lines=False)
    except UnicodeDecodeError:
        raise ImportFailed([Problem(name, None, None, "file is not UTF-8 text; save the CSV as UTF-8")]) from None
    except Exception as e:  # parser errors name the line themselves
        raise ImportFailed([Problem(name, None, None, f"cannot read the file: {e}")]) from None
    df.columns = [str(c).strip() if not isinstance(c, (pd.Timestamp,)) else c.strftime("%Y-%m-%d") for c in df.columns]
    df.insert(0, "_row", np.arange(2, len(df) + 2))
    cells = df.drop(columns="_row")
    blank = cells.apply(lambda c: c.isna() | (c.astype(str).str.strip() == "")).all(axis=1)
    df = df[~blank.to_numpy()].reset_index(drop=True)
    if df.empty:
        raise ImportFailed([Problem(name, None, None, "file has a header but no data rows")])
    return df


def _text(s: pd.Series) -> pd.Series:
    return s.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())


def _numbers(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numeric values from cells (numbers, '0.87', '0,87', '87 %'), and whether a % sign was used."""
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype(float), pd.Series(False, index=raw.index)
    txt = _text(raw).str.replace("\u00a0", "", regex=False).str.replace(" ", "", regex=False)
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


