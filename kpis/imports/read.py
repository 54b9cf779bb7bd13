"""One reader for every import: a CSV, Excel or (demand and forecasts) Parquet file as a table of cells with
the file row number of each record, with one set of messages for the same broken file whatever the kind.

Excel workbooks are checked before any parser reads them (decompression bombs, overlong cells, sheets beyond
Excel's row limit), in bounded memory.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kpis import limits as file_limits
from kpis.config import LimitsSection
from kpis.imports.problems import ImportFailed, Problem, fail, too_long

CSV_EXCEL = (".csv", ".txt", ".xlsx", ".xlsm")
PARQUET = (".parquet", ".pq")
SUPPORTED = CSV_EXCEL
MAX_FILENAME = 255  # import_batch.filename


def check_filename(name: str) -> None:
    """Refuse a file name longer than the import log stores."""
    if len(name) > MAX_FILENAME:
        raise fail(name[:60] + "…", too_long("the file name", len(name), MAX_FILENAME) + "; rename the file")


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


def scan_xml(stream, *, rows: bool) -> tuple[int, int, bool]:
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
                    n_rows, longest, has_f = scan_xml(f, rows=sheet)
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


def refuse(problems: list[file_limits.LimitProblem]) -> None:
    """ImportFailed of the limits a file goes over (kpis.limits), if any."""
    if problems:
        raise ImportFailed([Problem(*p) for p in problems])


def check_sheet_size(ws, name: str, limits: LimitsSection) -> None:
    """Refuse a sheet whose stated size (its dimension, before any cell is read) has more columns or data rows
    than config [limits] allows."""
    rows, cols = ws.max_row, ws.max_column
    refuse(
        file_limits.check_columns(cols or 0, limits, name)
        + file_limits.check_rows(max((rows or 0) - 1, 0), limits, name)
    )


def sheet_rows(ws, name: str, limits: LimitsSection | None = None) -> list[list]:
    """Every row of a read-only sheet as a list, at most EXCEL_MAX_ROWS (a file claiming row numbers beyond
    Excel's is refused) and within config [limits] max_rows and max_columns (a sheet whose stated size was
    smaller than its cells is stopped as soon as it goes over)."""
    limits = limits or LimitsSection()
    rows = []
    for i, r in enumerate(ws.iter_rows(values_only=True), start=1):
        if len(r) > limits.max_columns:
            refuse(file_limits.check_columns(len(r), limits, name))
        if i - 1 > limits.max_rows:
            refuse(file_limits.check_rows(i - 1, limits, name))
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


def read_excel(
    data: bytes, name: str, sheet: str | None = None, *, max_mb: float = 20, limits: LimitsSection | None = None
) -> tuple[pd.DataFrame, str]:
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
        check_sheet_size(ws, name, limits or LimitsSection())  # a stated size over the limits: refused unread
        ws.reset_dimensions()  # never trust the file's stated size (padding rows to it could take gigabytes)
        rows = sheet_rows(ws, name, limits)
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


def _cell_states(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(missing, blank) per cell as (rows, columns) arrays: missing is None/NaN, blank is missing or only
    whitespace. One vectorised pass over the cells: a tall table column by column, a wide one (more columns than
    rows, e.g. a header of thousands of columns) as one flat column, so neither costs a pandas pass per cell row or
    per column beyond what its cells take."""
    n, m = df.shape
    if m <= 32 or n >= m:
        missing = np.empty((n, m), dtype=bool)
        blank = np.empty((n, m), dtype=bool)
        for i in range(m):
            col = df.iloc[:, i]
            na = col.isna().to_numpy(dtype=bool)
            missing[:, i] = na
            blank[:, i] = na | (col.astype(str).str.strip() == "").to_numpy(dtype=bool)
        return missing, blank
    flat = pd.Series(df.to_numpy(dtype=object).ravel(order="F"), dtype=object)
    na = flat.isna().to_numpy(dtype=bool)
    empty = (flat.astype(str).str.strip() == "").to_numpy(dtype=bool)
    return na.reshape((n, m), order="F"), (na | empty).reshape((n, m), order="F")


def check_headers(columns: list, cells: pd.DataFrame, name: str) -> list[int]:
    """The positions of the columns to keep: a blank (or pandas 'Unnamed: n') header over empty cells is
    dropped; a repeated header, or a blank one over values, is a problem (all of them raised at once). Time
    linear in the number of cells (the cells under blank headers are looked at together, once)."""
    keys = [str(c).strip().lower() for c in columns]
    candidates = [i for i, k in enumerate(keys) if k == "" or k.startswith("unnamed:")]
    all_missing: dict[int, bool] = {}
    has_values: dict[int, bool] = {}
    if candidates:
        missing, blank = _cell_states(cells.iloc[:, candidates])
        for j, i in enumerate(candidates):
            all_missing[i] = bool(missing[:, j].all())
            has_values[i] = not bool(blank[:, j].all())
    keep, seen, problems = [], {}, []
    for i, c in enumerate(columns):
        raw = str(c).strip()
        key = keys[i]
        if key == "" or (key.startswith("unnamed:") and all_missing[i]):
            if has_values[i]:
                problems.append(
                    Problem(name, 1, None, f"column {i + 1} has values but no header; name it or delete it")
                )
            continue
        if key in seen:
            same = seen[key] == raw
            problems.append(
                Problem(
                    name,
                    1,
                    raw,
                    f"column '{raw}' appears twice" + ("" if same else f" (as '{seen[key]}')") + "; keep one",
                )
            )
            continue
        seen[key] = raw
        keep.append(i)
    if problems:
        raise ImportFailed(problems)
    return keep


def without_blank_rows(df: pd.DataFrame, rows: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """A text table without the rows whose every cell is blank, and the file row numbers of the rows kept."""
    blank = _cell_states(df)[1].all(axis=1) if df.shape[1] else np.ones(len(df), dtype=bool)
    if blank.any():
        return df[~blank].reset_index(drop=True), rows[~blank]
    return df, rows


def refuse_nul_cells(df: pd.DataFrame, name: str, first: int) -> None:
    """Refuse text cells holding a NUL character (no database stores it in text), naming row and column."""
    for c in df.columns:
        col = df[c]
        values = (
            col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else (col if col.dtype == object else None)
        )
        if values is None:
            continue
        bad = {v for v in values if isinstance(v, str) and "\x00" in v}
        if bad:
            row = int(np.flatnonzero(col.isin(list(bad)).to_numpy())[0]) + first
            raise fail(name, "contains a NUL character (byte 0), which cannot be stored as text", row, str(c))


def arrow_frame(table) -> pd.DataFrame:
    """An Arrow table or record batch as a frame; text columns come back categorical (dictionary-encoded), which
    is fast and small for the few distinct values of item, stage and period columns."""
    import pyarrow as pa

    cols = []
    for i, f in enumerate(table.schema):
        col = table.column(i)
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            col = col.dictionary_encode()
        cols.append(col)
    return pa.table(cols, names=table.schema.names).to_pandas(date_as_object=False)


def read_parquet(data: bytes, name: str = "file", limits: LimitsSection | None = None) -> pd.DataFrame:
    """Parquet bytes as a frame (arrow_frame), once the footer says the rows fit config [limits]
    (kpis.limits.check_parquet: row count, decoded size, expansion) so a "bomb" is refused undecoded."""
    import pyarrow.parquet as pq

    refuse(file_limits.check_parquet(data, limits or LimitsSection(), name))
    return arrow_frame(pq.read_table(io.BytesIO(data)))


def check_file(src: bytes | Path, name: str, limits: LimitsSection, block: int = 8 << 20) -> None:
    """Refuse a CSV or Parquet file (its bytes, or its path: read a block at a time, never whole) with more rows,
    columns or, for Parquet, decoded size than config [limits] allows, before any of it is decoded: a CSV's
    header and line count (linear time), a Parquet file's footer."""
    ext = Path(name).suffix.lower()
    if ext in PARQUET:
        refuse(file_limits.check_parquet(src, limits, name))
    elif ext in (".csv", ".txt"):
        if isinstance(src, (bytes, bytearray, memoryview)):
            refuse(file_limits.check_csv(bytes(src), limits, name))
            return
        with Path(src).open("rb") as f:
            head = f.read(block)
            problems = file_limits.check_header(head, limits, name)
            lines, last, chunk = 0, head[-1:], head
            while chunk:
                lines += chunk.count(b"\n")
                last = chunk[-1:] or last
                chunk = f.read(block)
        body = max(lines - 1 + (last not in (b"\n", b"")), 0) if b"\n" in head else 0
        refuse(problems + file_limits.check_rows(body, limits, name, lines=True))


@dataclass
class Frame:
    """A file read: its cells under their headers (stripped, each once), the file row number of every record
    (the header is row 1 in CSV and Excel; Parquet records count from 1) and the Excel sheet read."""

    name: str
    cells: pd.DataFrame
    rows: np.ndarray
    sheet: str | None = None


def _expected(formats: tuple[str, ...]) -> str:
    return ".csv, .xlsx or .parquet" if set(PARQUET) & set(formats) else ".csv or .xlsx"


def read_frame(
    data: bytes,
    filename: str,
    *,
    sheet: str | None = None,
    max_mb: float = 20,
    limit_mb: float | None = None,
    formats: tuple[str, ...] = CSV_EXCEL,
    limits: LimitsSection | None = None,
) -> Frame:
    """The file's table (an Excel file's first sheet, or `sheet`) without blank rows, or ImportFailed naming what is
    wrong: the same checks and messages for every kind. `limit_mb` refuses a bigger file (uploads); `limits`
    (config [limits], default its defaults) refuses a file with more rows or columns than an import may have
    before its cells are read: a CSV from its bytes, a Parquet file from its footer, a sheet from its size."""
    limits = limits or LimitsSection()
    name = Path(filename).name
    check_filename(name)
    ext = Path(name).suffix.lower()
    if ext not in formats:
        raise fail(name, f"unsupported file type '{ext or '(none)'}'; expected {_expected(formats)}")
    if limit_mb is not None and len(data) > limit_mb * 1024 * 1024:
        raise fail(
            name, f"file is {len(data) / 1048576:.1f} MB, over the {limit_mb:g} MB limit (config [app] max_upload_mb)"
        )
    if not data or data.isspace():
        raise fail(name, "file is empty; expected a header row and at least one data row")
    first, sheet_read = 2, None
    try:
        if ext in PARQUET:
            df, first = read_parquet(data, name, limits), 1
        elif ext in (".xlsx", ".xlsm"):
            df, sheet_read = read_excel(data, name, sheet, max_mb=max_mb, limits=limits)
        else:
            refuse(file_limits.check_csv(data, limits, name))
            refuse_nul(data, name)
            df = read_csv_text(data)
    except UnicodeDecodeError:
        raise fail(name, "file is not UTF-8 text; save the CSV as UTF-8") from None
    except ImportFailed:
        raise
    except Exception as e:  # parser errors name the line themselves
        raise fail(name, f"cannot read the file: {e}") from None
    rows = np.arange(first, first + len(df), dtype=np.int64)
    if ext in PARQUET:
        refuse_nul_cells(df, name, first)
    elif len(df):
        df, rows = without_blank_rows(df, rows)
    return frame_of(df, rows, name, sheet_read)


def frame_of(df: pd.DataFrame, rows: np.ndarray, name: str, sheet: str | None = None) -> Frame:
    """A Frame of cells already read (a file, a query, Arrow batches): headers checked, blank rows gone."""
    labels = [c.strftime("%Y-%m-%d") if isinstance(c, (pd.Timestamp, dt.date)) else str(c) for c in df.columns]
    keep = check_headers(labels, df, name)
    cells = df.iloc[:, keep]
    cells.columns = [labels[i].strip() for i in keep]
    if not len(rows):
        raise fail(name, "file has a header but no data rows" + (f" on sheet '{sheet}'" if sheet else ""))
    return Frame(name, cells, rows, sheet)


def read_table(
    data: bytes,
    filename: str,
    *,
    max_mb: float,
    cap: int = 50,
    sheet: str | None = None,
    limits: LimitsSection | None = None,
) -> pd.DataFrame:
    """The file's table (an Excel file's first sheet, or `sheet`) as text cells with a `_row` column holding
    file row numbers; `df.attrs['sheet']` names the sheet read; `limits` as read_frame."""
    return row_table(read_frame(data, filename, sheet=sheet, max_mb=max_mb, limit_mb=max_mb, limits=limits))


def row_table(frame: Frame) -> pd.DataFrame:
    """A Frame as one DataFrame: a `_row` column first, then the cells; `attrs['sheet']` names the sheet."""
    df = frame.cells.reset_index(drop=True)
    df.insert(0, "_row", frame.rows)
    df.attrs["sheet"] = frame.sheet
    return df
