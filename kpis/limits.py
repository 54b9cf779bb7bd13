"""What one file may hold before the server reads it: rows, decoded size, header columns, segments, periods
and dates, against config [limits] (docs/configuration.md).

Each check is a pure, fast function: `check_parquet` reads only a Parquet file's footer (its metadata), never a
row; `check_header` looks at a CSV's first line and `check_csv` also counts its lines, in time linear in their
length; `check_rows`, `check_columns` and `check_segments` take counts the caller has (an Excel sheet's, the
segments per KPI); `period_problem` and `date_problem` look at one value. The file checks return a list of
`LimitProblem` (empty when the file may be read), located like an import problem (file, row, column, message)
so a runner turns each into its own problem type with `Problem(*p)`; the value checks return the message or
None.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, NamedTuple

from kpis import periods
from kpis.config import LimitsSection

MB = 1048576
# Bytes one value takes once decoded, by Parquet physical type; text (BYTE_ARRAY) counts its offset only, so
# the estimate errs low for real files and the bomb check never refuses a sensible one.
_WIDTH = {"BOOLEAN": 1, "INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8, "BYTE_ARRAY": 8}


class LimitProblem(NamedTuple):
    """A limit a file goes over, located like an import problem (same fields, same order, same text)."""

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


class ParquetFacts(NamedTuple):
    """What a Parquet file's footer says, before any row is decoded."""

    rows: int
    columns: int
    file_bytes: int
    decoded_bytes: int  # an estimate from the row count, the column types and the pages' uncompressed sizes

    @property
    def expansion(self) -> float:
        """Decoded size / file size."""
        return self.decoded_bytes / max(self.file_bytes, 1)


def _size_text(n: float) -> str:
    return f"{n / MB:,.1f} MB" if n >= MB else f"{n / 1024:,.0f} kB"


def _open(source: str | Path | bytes | bytearray | memoryview | IO[bytes]) -> tuple[object, int]:
    """Something pyarrow reads, and the file's size in bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        import pyarrow as pa

        return pa.BufferReader(source), len(source)
    if isinstance(source, (str, Path)):
        return str(source), os.path.getsize(source)
    here = source.tell()
    size = source.seek(0, io.SEEK_END) - here
    source.seek(here)
    return source, size


def parquet_facts(source: str | Path | bytes | bytearray | memoryview | IO[bytes]) -> ParquetFacts:
    """Rows, columns, file size and estimated decoded size from the footer alone (raises what pyarrow raises
    for a file that is not Parquet)."""
    import pyarrow.parquet as pq

    src, size = _open(source)
    md = pq.read_metadata(src)
    schema = md.schema
    rows, ncols = md.num_rows, md.num_columns
    decoded = 0
    for j in range(ncols):
        col = schema.column(j)
        width = col.length if col.physical_type == "FIXED_LEN_BYTE_ARRAY" else _WIDTH.get(col.physical_type, 8)
        pages = sum(md.row_group(i).column(j).total_uncompressed_size for i in range(md.num_row_groups))
        decoded += max(rows * width, pages)
    return ParquetFacts(rows, ncols, size, decoded)


def check_parquet(
    source: str | Path | bytes | bytearray | memoryview | IO[bytes], limits: LimitsSection, name: str | None = None
) -> list[LimitProblem]:
    """Refuse a Parquet file too big to decode, from its footer metadata only: more rows than
    `max_rows`, an estimated decoded size over `max_decoded_mb`, or one that decodes to more than
    `max_expansion` times its own size (a "bomb": 224 kB holding 20 million identical rows). `name` is the file
    name shown (default: the path's name, or 'file')."""
    if name is None:
        name = Path(source).name if isinstance(source, (str, Path)) else "file"
    try:
        facts = parquet_facts(source)
    except Exception as e:  # pyarrow's own errors (ArrowInvalid, OSError) say what is wrong with the file
        return [LimitProblem(name, None, None, f"cannot read the file as Parquet: {str(e)[:300]}")]
    out = check_columns(facts.columns, limits, name) + check_rows(facts.rows, limits, name)
    rows = f"{facts.rows:,} rows"
    if facts.decoded_bytes > limits.max_decoded_mb * MB:
        out.append(
            LimitProblem(
                name,
                None,
                None,
                f"file's {rows} take about {_size_text(facts.decoded_bytes)} once read, over the limit of "
                f"{limits.max_decoded_mb:,g} MB (config [limits] max_decoded_mb); split the file",
            )
        )
    if facts.expansion > limits.max_expansion:
        out.append(
            LimitProblem(
                name,
                None,
                None,
                f"file of {_size_text(facts.file_bytes)} holds {rows} that take about "
                f"{_size_text(facts.decoded_bytes)} once read, {facts.expansion:,.0f} times its size, over the "
                f"limit of {limits.max_expansion:,g} times (config [limits] max_expansion); real data does not "
                "compress this far, so the file is refused unread",
            )
        )
    return out


def check_rows(n: int, limits: LimitsSection, name: str, *, lines: bool = False) -> list[LimitProblem]:
    """Refuse a file with more data rows than `max_rows`; `lines` when `n` counts a CSV's lines (an upper bound:
    a quoted cell may span lines)."""
    if n <= limits.max_rows:
        return []
    what = f"{n:,} lines of data" if lines else f"{n:,} rows"
    return [
        LimitProblem(
            name,
            None,
            None,
            f"file holds {what}, over the limit of {limits.max_rows:,} rows an import may have "
            "(config [limits] max_rows); split the file",
        )
    ]


def check_csv(data: bytes, limits: LimitsSection, name: str) -> list[LimitProblem]:
    """`check_header` and `check_rows` for a whole CSV before pandas reads it: the header's columns and the
    number of lines after it, both counted in time linear in the file's size."""
    end = data.find(b"\n")
    body = 0 if end < 0 else data.count(b"\n", end + 1) + (0 if data.endswith(b"\n") else 1)
    return check_header(data, limits, name) + check_rows(body, limits, name, lines=True)


def check_columns(n: int, limits: LimitsSection, name: str) -> list[LimitProblem]:
    """Refuse a table with more columns than `max_columns` (no import uses that many)."""
    if n <= limits.max_columns:
        return []
    return [
        LimitProblem(
            name,
            1,
            None,
            f"header has {n:,} columns, more than any import uses (at most {limits.max_columns:,}, "
            "config [limits] max_columns); is this the right file?",
        )
    ]


def header_columns(data: bytes) -> int:
    """Columns of a CSV's header line (UTF-8, ',' or ';' as the import reads it), in time linear in the
    line's length; `data` may be the whole file: only its first line is read."""
    end = data.find(b"\n")
    line = (data if end < 0 else data[:end]).removeprefix(b"\xef\xbb\xbf").rstrip(b"\r")
    sep = b";" if line.count(b";") > line.count(b",") else b","
    if b'"' not in line:
        return line.count(sep) + 1
    text = line.decode("utf-8", "replace")
    try:
        return len(next(csv.reader([text], delimiter=sep.decode(), strict=False), []))
    except csv.Error:  # an unbalanced quote: count every separator (errs high, never quadratic)
        return line.count(sep) + 1


def check_header(first_line_bytes: bytes, limits: LimitsSection, name: str) -> list[LimitProblem]:
    """Refuse a CSV whose header has more columns than `max_columns` before pandas reads it (a 1 MB line of
    commas is a million columns); `first_line_bytes` may be the whole file."""
    return check_columns(header_columns(first_line_bytes), limits, name)


def check_segments(count_by_kpi: Mapping[str, int], limits: LimitsSection, name: str) -> list[LimitProblem]:
    """Refuse KPIs with more distinct segments than `max_segments_per_kpi`; `count_by_kpi` is the number
    of segments each KPI would have after the import (stored and new), e.g.
    `rows.groupby("kpi_id")["segment"].nunique()`."""
    over = [(k, int(n)) for k, n in count_by_kpi.items() if int(n) > limits.max_segments_per_kpi]
    return [
        LimitProblem(
            name,
            None,
            "segment",
            f"KPI '{k}' would have {n:,} segments, more than the {limits.max_segments_per_kpi:,} a KPI may have "
            "(config [limits] max_segments_per_kpi); is the segment column holding something else, like an "
            "order number?",
        )
        for k, n in over
    ]


def period_problem(text: str, limits: LimitsSection | None = None) -> str | None:
    """'period '9999-12' is outside the supported years …' for a period whose year lies outside
    `min_period_year`..`max_period_year` (default 1700 to 2199, inside what pandas can hold); None when the
    year is fine or the text is no period (periods.normalise says what is wrong with that)."""
    years = limits.period_years if limits is not None else periods.SUPPORTED_YEARS
    problem = periods.year_problem(str(text), years)
    return f"period '{str(text).strip()}' {problem}" if problem else None


def date_problem(date: dt.date, limits: LimitsSection, what: str = "date") -> str | None:
    """'due date 9999-12-31 is outside the plausible range …' for a date outside `min_date`..`max_date`;
    None when it lies inside (a datetime counts by its day)."""
    day = date.date() if isinstance(date, dt.datetime) else date
    if limits.min_date <= day <= limits.max_date:
        return None
    return (
        f"{what} {day.isoformat()} is outside the plausible range {limits.min_date.isoformat()} to "
        f"{limits.max_date.isoformat()} (config [limits] min_date, max_date)"
    )
