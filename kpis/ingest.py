"""What every import shares: reading a CSV/Excel table, collecting problems with file, row and column,
and the result an import reports.

Every problem is reported with file, row and column; a file with any problem writes
nothing; re-importing the same content changes nothing.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

SUPPORTED = (".csv", ".txt", ".xlsx", ".xlsm")
MAX_FILENAME = 255  # import_batch.filename
MAX_ABS_VALUE = 1e15  # a number beyond ± this is a mistake (and sums of it would overflow to inf)


def too_long(what: str, n: int, limit: int) -> str:
    """The message for a text longer than its column holds."""
    return f"{what} is {n:,} characters long; at most {limit} characters are allowed"


def check_filename(name: str) -> None:
    """Refuse a file name longer than the import log stores."""
    if len(name) > MAX_FILENAME:
        raise ImportFailed(
            [
                Problem(
                    name[:60] + "…",
                    None,
                    None,
                    too_long("the file name", len(name), MAX_FILENAME) + "; rename the file",
                )
            ]
        )


def refuse_nul(data: bytes, name: str) -> None:
    """Refuse text with a NUL character (the databases cannot store it in text; usually a UTF-16 or binary
    file), naming its row and column."""
    at = data.find(b"\x00")
    if at < 0:
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:  # a binary or UTF-16 file: say that rather than where its first zero byte is
        raise ImportFailed([Problem(name, None, None, "file is not UTF-8 text; save the CSV as UTF-8")]) from None
    row = data.count(b"\n", 0, at) + 1
    line_start = data.rfind(b"\n", 0, at) + 1
    head = data[: data.find(b"\n")] if b"\n" in data else data
    sep = b";" if head.count(b";") > head.count(b",") else b","
    col_idx = data[line_start:at].count(sep)
    names = head.decode("utf-8", "replace").lstrip("\ufeff").split(sep.decode())
    column = names[col_idx].strip().replace("\x00", "") if col_idx < len(names) else None
    raise ImportFailed(
        [
            Problem(
                name,
                row,
                column or None,
                "contains a NUL character (byte 0), which cannot be stored as text; is this a "
                "UTF-16 or binary file? Save it as a UTF-8 CSV",
            )
        ]
    )


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


@dataclass(frozen=True)
class ProblemGroup:
    """Identical problems (same file, column and message) on several rows, shown once with a count."""

    file: str
    column: str | None
    message: str
    rows: tuple[int, ...]  # the first rows (as collected)
    count: int  # rows collected with this problem

    def __str__(self) -> str:
        where = [self.file]
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = f" and {self.count - 5} more" if self.count > 5 else ""
            where.append(f"row{'s' if self.count > 1 else ''} {shown}{more}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}"


def group_problems(problems: list[Problem]) -> list[ProblemGroup]:
    """Problems with the same file, column and message merged into one group, in first-seen order."""
    groups: dict[tuple, list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.file, p.column, p.message), []).append(p)
    return [
        ProblemGroup(f, c, m, tuple(p.row for p in ps if p.row is not None), len(ps))
        for (f, c, m), ps in groups.items()
    ]


class ImportFailed(Exception):
    """The file has problems; nothing was written."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems
        self.total = total if total is not None else len(problems)
        more = f"\n… and {self.total - len(problems)} more" if self.total > len(problems) else ""
        super().__init__("\n".join(map(str, group_problems(problems))) + more)

    @property
    def groups(self) -> list[ProblemGroup]:
        """The collected problems with identical ones merged (count and first rows)."""
        return group_problems(self.problems)


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
    sheet: str | None = None  # the Excel sheet read

    @property
    def source(self) -> str:
        """'file.xlsx (sheet 'Actuals')' or the file name."""
        return f"{self.filename} (sheet '{self.sheet}')" if self.sheet else self.filename

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated)

    def seen_before(self) -> str:
        """' (same content imported <when> UTC by <who>)' for a re-import that changed nothing, else ''."""
        if not self.previous:
            return ""
        return f" (same content imported {self.previous['when']:%Y-%m-%d %H:%M} UTC by {self.previous['who']})"

    def summary(self) -> str:
        """One line for the UI and the CLI."""
        if not self.changed:
            seen = self.seen_before()
            return f"{self.source}: no changes — all {self.unchanged} values already stored{seen}."
        return (
            f"{self.source}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged (import #{self.batch_id})."
        )


class _Collector:
    """Collects problems up to a cap while counting all of them."""

    def __init__(self, file: str, cap: int):
        self.file, self.cap, self.items, self.total = file, cap, [], 0

    def add(self, row: int | None, column: str | None, message: str) -> None:
        self.total += 1
        if len(self.items) < self.cap:
            self.items.append(Problem(self.file, row, column, message))

    def add_many(self, rows: pd.Series, column: str | pd.Series, messages: pd.Series | str) -> None:
        """Add one problem per row of a (small or large) selection, vectorised up to the cap; a `column` or
        `messages` series need only cover the first `cap` rows (all are counted)."""
        n = len(rows)
        if n == 0:
            return
        room = max(self.cap - len(self.items), 0)
        cols = column.iloc[:room] if isinstance(column, pd.Series) else itertools.repeat(column)
        msgs = messages.iloc[:room] if isinstance(messages, pd.Series) else itertools.repeat(messages)
        for r, c, m in zip(rows.iloc[:room], cols, msgs):
            self.items.append(Problem(self.file, int(r), str(c), str(m)))
        self.total += n

    def raise_if_any(self) -> None:
        if self.total:
            ordered = sorted(self.items, key=lambda p: (p.row is not None, p.row or 0, p.column or ""))
            raise ImportFailed(ordered, self.total)


# Excel (.xlsx) files are zip archives of XML. Before a parser touches one, its members are checked: a
# decompression bomb (a small file that unpacks to gigabytes), a cell longer than Excel allows, or a sheet
# with more rows than Excel allows is refused, so a hostile workbook cannot exhaust the server's memory.
EXCEL_MAX_ROWS = 1_048_576  # Excel's own limit
EXCEL_MAX_CELL = 32_767  # characters in a cell (Excel's limit)
XLSX_MAX_RATIO = 100  # unpacked / packed size of any member over 1 MB
XLSX_UNPACKED_FACTOR = 10  # unpacked total at most this × the upload limit (or the file's size)


@dataclass(frozen=True)
class XlsxFacts:
    """What the scan of a workbook's sheets found."""

    formulas: bool  # some sheet holds a formula


def _scan_xml(stream, *, rows: bool) -> tuple[int, int, bool]:
    """(row elements, longest run of bytes between two '<', any formula element) of an XML member read in
    chunks: memory stays at one chunk however large the member unpacks."""
    n_rows, longest, run, formulas = 0, 0, 0, False
    carry = b""
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        buf = carry + chunk
        if rows:
            n_rows += buf.count(b"<row ") + buf.count(b"<row>")
        formulas = formulas or any(t in buf for t in (b"<f>", b"<f ", b":f>", b":f "))
        carry = buf[-4:]
        parts = chunk.split(b"<")
        if len(parts) == 1:
            run += len(chunk)
        else:
            longest = max(longest, run + len(parts[0]), max(map(len, parts[1:-1]), default=0))
            run = len(parts[-1])
        longest = max(longest, run)
    return n_rows, longest, formulas


def check_xlsx(data: bytes, name: str, *, max_mb: float = 20) -> XlsxFacts:
    """Refuse a workbook that is not a zip, unpacks to far more than its size (a decompression bomb), holds a
    cell longer than Excel allows or a sheet with more rows than Excel allows; checked before any parser
    reads it, in bounded memory."""
    import zipfile

    def fail(msg: str) -> ImportFailed:
        return ImportFailed([Problem(name, None, None, msg)])

    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise fail(
            "is not an Excel workbook (an .xlsx file is a zip archive); save it from Excel as .xlsx, or as a UTF-8 CSV"
        ) from None
    with zf:
        infos = zf.infolist()
        limit = XLSX_UNPACKED_FACTOR * max(max_mb * 1048576, len(data))
        total = sum(i.file_size for i in infos)
        if total > limit:
            raise fail(
                f"unpacks to {total / 1048576:,.0f} MB, over the {limit / 1048576:,.0f} MB an Excel file of "
                "this size may hold; save the data as CSV (or split the workbook)"
            )
        for i in infos:
            if i.file_size > 1048576 and i.file_size > XLSX_MAX_RATIO * max(i.compress_size, 1):
                raise fail(
                    f"part '{i.filename}' unpacks to {i.file_size / 1048576:,.0f} MB from "
                    f"{i.compress_size / 1024:,.0f} kB (over {XLSX_MAX_RATIO}× compression); this looks like "
                    "a decompression bomb, not a spreadsheet"
                )
        formulas = False
        for i in infos:
            low = i.filename.lower()
            sheet = low.startswith("xl/worksheets/") and low.endswith(".xml")
            if not (sheet or low == "xl/sharedstrings.xml"):
                continue
            try:
                with zf.open(i) as f:
                    n_rows, longest, has_f = _scan_xml(f, rows=sheet)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
                raise fail(f"cannot read the file: {e}") from None
            formulas = formulas or (sheet and has_f)
            # a cell's text in XML takes at most ~6 bytes per character (escaped quotes), plus its tag
            if longest > 6 * EXCEL_MAX_CELL + 1024:
                raise fail(
                    f"a cell holds more than {EXCEL_MAX_CELL:,} characters (Excel's limit for a cell); "
                    "this is not a spreadsheet Excel wrote"
                )
            if n_rows > EXCEL_MAX_ROWS:
                raise fail(
                    f"a sheet has {n_rows:,} rows, more than Excel's {EXCEL_MAX_ROWS:,}; save the data as "
                    "CSV (or Parquet for demand and forecasts)"
                )
    return XlsxFacts(formulas=formulas)


def excel_sheets(data: bytes, max_mb: float = 20) -> list[tuple[str, bool]]:
    """Sheets of an Excel workbook in order, each with whether it holds any cell below the header row."""
    import openpyxl

    check_xlsx(data, "workbook", max_mb=max_mb)
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        out = []
        for ws in wb.worksheets:
            ws.reset_dimensions()
            has = any(
                any(v is not None and str(v).strip() != "" for v in row)
                for row in ws.iter_rows(min_row=2, max_row=50, values_only=True)
            )
            out.append((ws.title, has))
        return out
    finally:
        wb.close()


def _sheet_rows(ws, name: str) -> list[list]:
    """Every row of a read-only sheet as a list, at most EXCEL_MAX_ROWS (a file claiming row numbers beyond
    Excel's is refused)."""
    rows = []
    for i, r in enumerate(ws.iter_rows(values_only=True), start=1):
        if i > EXCEL_MAX_ROWS:
            raise ImportFailed(
                [
                    Problem(
                        name,
                        None,
                        None,
                        f"sheet '{ws.title}' has more than {EXCEL_MAX_ROWS:,} rows "
                        "(Excel's limit); save the data as CSV",
                    )
                ]
            )
        rows.append(list(r))
    return rows


def read_excel(data: bytes, name: str, sheet: str | None = None, *, max_mb: float = 20) -> tuple[pd.DataFrame, str]:
    """One sheet (default the first) as a frame of raw cells with its header row as column names (exact
    duplicates kept), plus the sheet's name. A formula cell without a cached value is an error naming the
    cell; a first sheet without data names the sheets that have some. The workbook is checked first
    (check_xlsx) and read in openpyxl's streaming (read-only) mode."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    facts = check_xlsx(data, name, max_mb=max_mb)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as e:
        raise ImportFailed([Problem(name, None, None, f"cannot read the file: {e}")]) from None
    try:
        names = wb.sheetnames
        if sheet is not None and sheet not in names:
            raise ImportFailed(
                [
                    Problem(
                        name,
                        None,
                        None,
                        f"no sheet named '{sheet}'; the sheets are {', '.join(repr(n) for n in names)}",
                    )
                ]
            )
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        title = ws.title
        ws.reset_dimensions()  # never trust the file's stated size (padding rows to it could take gigabytes)
        rows = _sheet_rows(ws, name)
    finally:
        wb.close()
    while rows and all(v is None or str(v).strip() == "" for v in rows[-1]):
        rows.pop()
    if len(rows) < 2 and sheet is None:
        with_data = [n for n, has in excel_sheets(data, max_mb) if has]
        hint = (
            f"; sheets with data: {', '.join(repr(n) for n in with_data)} (choose one)"
            if with_data
            else "; no sheet has data rows"
        )
        raise ImportFailed([Problem(name, None, None, f"the first sheet '{title}' has no data rows{hint}")])
    # formula cells without a cached value (saved by a tool that does not calculate): never read as empty
    missing = []
    if facts.formulas:
        fwb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        try:
            fws = fwb[title]
            fws.reset_dimensions()
            for r_idx, row in enumerate(fws.iter_rows(values_only=True), start=1):
                if r_idx > len(rows):
                    break
                for c_idx, v in enumerate(row, start=1):
                    if (
                        isinstance(v, str)
                        and v.startswith("=")
                        and (c_idx > len(rows[r_idx - 1]) or rows[r_idx - 1][c_idx - 1] is None)
                    ):
                        missing.append((r_idx, c_idx))
        finally:
            fwb.close()
    if missing:
        header = rows[0] if rows else []
        probs = [
            Problem(
                name,
                r,
                str(header[c - 1]) if c <= len(header) and header[c - 1] is not None else get_column_letter(c),
                f"cell {get_column_letter(c)}{r} on sheet '{title}' is a formula without a saved value; "
                "open the file in Excel and save it (or paste the values) so the result is stored",
            )
            for r, c in missing[:50]
        ]
        raise ImportFailed(probs, len(missing))
    if not rows:
        raise ImportFailed([Problem(name, None, None, f"sheet '{title}' is empty")])
    width = max(len(r) for r in rows)
    rows = [r + [None] * (width - len(r)) for r in rows]
    header = [
        ("" if h is None else (h.strftime("%Y-%m-%d") if isinstance(h, (pd.Timestamp, dt.date)) else str(h)))
        for h in rows[0]
    ]
    df = pd.DataFrame(rows[1:], columns=range(width), dtype=object)
    df.columns = header
    return df, title


def duplicate_headers(columns: list[str], name: str) -> list[Problem]:
    """A problem for every header that repeats another, exactly or in another case/spacing."""
    seen: dict[str, str] = {}
    out = []
    for c in columns:
        key = str(c).strip().lower()
        if not key:
            continue
        if key in seen:
            same = seen[key] == str(c).strip()
            out.append(
                Problem(
                    name,
                    1,
                    str(c).strip(),
                    f"column '{str(c).strip()}' appears twice"
                    + ("" if same else f" (as '{seen[key]}')")
                    + "; keep one",
                )
            )
        else:
            seen[key] = str(c).strip()
    return out


def read_csv_text(data: bytes) -> pd.DataFrame:
    """CSV bytes (UTF-8, ',' or ';') as text cells; the header row kept exactly (duplicates not renamed)."""
    text = data.decode("utf-8-sig")
    first = text.splitlines()[0] if text else ""
    sep = ";" if first.count(";") > first.count(",") else ","
    df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep, skip_blank_lines=False, header=None)
    header = [str(h) for h in df.iloc[0].tolist()]
    df = df.iloc[1:].reset_index(drop=True)
    df.columns = header
    return df


def read_table(data: bytes, filename: str, *, max_mb: float, cap: int = 50, sheet: str | None = None) -> pd.DataFrame:
    """The file's table (an Excel file's first sheet, or `sheet`) as text cells with a `_row` column holding
    file row numbers; `df.attrs['sheet']` names the sheet read."""
    name = Path(filename).name
    check_filename(name)
    ext = Path(filename).suffix.lower()
    if ext not in SUPPORTED:
        raise ImportFailed(
            [Problem(name, None, None, f"unsupported file type '{ext or '(none)'}'; expected .csv or .xlsx")]
        )
    if len(data) > max_mb * 1024 * 1024:
        raise ImportFailed(
            [
                Problem(
                    name,
                    None,
                    None,
                    f"file is {len(data) / 1048576:.1f} MB, over the {max_mb:g} MB limit (config [app] max_upload_mb)",
                )
            ]
        )
    if not data or data.isspace():
        raise ImportFailed(
            [Problem(name, None, None, "file is empty; expected a header row and at least one data row")]
        )
    sheet_read = None
    try:
        if ext in (".xlsx", ".xlsm"):
            df, sheet_read = read_excel(data, name, sheet, max_mb=max_mb)
        else:
            refuse_nul(data, name)
            df = read_csv_text(data)
    except UnicodeDecodeError:
        raise ImportFailed([Problem(name, None, None, "file is not UTF-8 text; save the CSV as UTF-8")]) from None
    except ImportFailed:
        raise
    except Exception as e:  # parser errors name the line themselves
        raise ImportFailed([Problem(name, None, None, f"cannot read the file: {e}")]) from None
    df.columns = [str(c).strip() if not isinstance(c, (pd.Timestamp,)) else c.strftime("%Y-%m-%d") for c in df.columns]
    dups = duplicate_headers(list(df.columns), name)
    if dups:
        raise ImportFailed(dups)
    blank_head = [i for i, c in enumerate(df.columns) if c == ""]
    if blank_head:
        used = [i for i in blank_head if (df.iloc[:, i].notna() & (df.iloc[:, i].astype(str).str.strip() != "")).any()]
        if used:
            raise ImportFailed(
                [Problem(name, 1, None, f"column {i + 1} has values but no header; name it or delete it") for i in used]
            )
        df = df.iloc[:, [i for i in range(df.shape[1]) if i not in blank_head]]
    df.insert(0, "_row", np.arange(2, len(df) + 2))
    cells = df.drop(columns="_row")
    blank = cells.apply(lambda c: c.isna() | (c.astype(str).str.strip() == "")).all(axis=1)
    df = df[~blank.to_numpy()].reset_index(drop=True)
    if df.empty:
        raise ImportFailed(
            [
                Problem(
                    name,
                    None,
                    None,
                    "file has a header but no data rows" + (f" on sheet '{sheet_read}'" if sheet_read else ""),
                )
            ]
        )
    df.attrs["sheet"] = sheet_read
    return df


def _clean(v) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()


def _text(s: pd.Series) -> pd.Series:
    """Cells as stripped text ('' for empty). Text columns (every CSV) are cleaned once per distinct value, so a
    million rows of few values cost little time and memory."""
    if len(s) > 1000 and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        codes, uniq = pd.factorize(s, use_na_sentinel=True)
        clean = np.array([_clean(v) for v in uniq] + [""], dtype=object)
        return pd.Series(clean[codes], index=s.index, dtype=object)
    return s.map(_clean)


def _numbers(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numeric values from cells (numbers, '0.87', '0,87', '87 %'), and whether a % sign was used; text is
    parsed once per distinct value."""
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype(float), pd.Series(False, index=raw.index)
    txt = _text(raw)
    if len(txt) > 1000:
        codes, uniq = pd.factorize(txt)
        if len(uniq) < 0.8 * len(txt):
            num_u, pct_u = _parse_numbers(pd.Series(uniq, dtype=object))
            return (
                pd.Series(num_u.to_numpy(float)[codes], index=raw.index),
                pd.Series(pct_u.to_numpy(bool)[codes], index=raw.index),
            )
    return _parse_numbers(txt)


def _parse_numbers(txt: pd.Series) -> tuple[pd.Series, pd.Series]:
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
