"""Big forecast files in bounded memory: a Parquet or CSV forecast file read, checked, compared and written batch
by batch (Parquet record batches, CSV chunks of rows), all in one transaction.

Only the path for clean files streams. Every batch is checked with the same rules as a whole file
(``kpis.forecast.validate``), and what only the whole file shows (a key repeated in another batch, batches of
different granularity) is checked across batches. At the first problem of any kind the transaction is rolled back
(nothing written) and the whole file is checked the usual way, so a file with problems gets exactly the report
it always got (file, row, column). The memory of a clean import is one batch, 8 bytes per row for the duplicate
check and 16 bytes per stored forecast row for the comparison, instead of every column of every row.
"""

from __future__ import annotations

import codecs
import hashlib
import io
from pathlib import Path

import numpy as np

from kpis.forecast.bulk import BULK_ROWS, Columns, pg_add_fks, pg_drop_fks, pg_write, sqlite_write
from kpis.forecast.common import period_start
from kpis.forecast.sql import fetch_keys, stored_cadence, stored_items
from kpis.forecast.validate import Table, table_of, validate_forecasts
from kpis.forecast.write import CHANGED_ROWS_KEPT, changed_rows, check_granularity
from kpis.imports.problems import ImportFailed, Problem
from kpis.imports.read import arrow_frame, check_headers, without_blank_rows
from kpis.imports.runner import Context, Kind, Writing, run_import
from kpis.imports.source import Source as ImportSource
from kpis.store.retry import retrying

STREAM_ROWS = 1_000_000  # files with more rows than this stream; also the rows of one batch


class Fallback(Exception):
    """Something only the whole-file check can report as it always has: roll back and check the whole file."""


def _refuse(from_file: bool, name: str, message: str) -> Exception:
    """Fallback for a file (the whole-file check reports it); for batches with no file behind them (a data
    connector's) the problem itself."""
    return Fallback() if from_file else ImportFailed([Problem(name, None, None, message)])


def _plain(names: list[str]) -> bool:
    """Column names the whole-file check would take as they are: some, none blank or unnamed, none twice."""
    keys = [n.strip().lower() for n in names]
    return (
        bool(keys)
        and all(k and not k.startswith(("unnamed:", "__index_level_")) for k in keys)
        and len(set(keys)) == len(keys)
    )


# A file to stream is its bytes (an upload) or its path (a file named on the command line: read from disk a block
# or a batch at a time, never held whole, so that memory does not grow with the file).
FileData = bytes | Path
BLOCK = 8 << 20


def _blocks(src: FileData):
    """The file's bytes, BLOCK bytes at a time."""
    if isinstance(src, Path):
        with src.open("rb") as f:
            while block := f.read(BLOCK):
                yield block
    else:
        for i in range(0, len(src), BLOCK):
            yield src[i : i + BLOCK]


def _readable(src: FileData):
    """What pandas and pyarrow read the file from."""
    return str(src) if isinstance(src, Path) else io.BytesIO(src)


def digest(src: FileData) -> str:
    """SHA-256 of the file, as the whole-file import records it."""
    h = hashlib.sha256()
    for block in _blocks(src):
        h.update(block)
    return h.hexdigest()


def _csv_header(src: FileData) -> tuple[list[str], str] | None:
    """The header row's names and the separator (',' or ';', as kpis.imports.read.read_csv_text picks it); None when the
    first line is not UTF-8."""
    import csv

    head = next(_blocks(src), b"")
    start = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    end = head.find(b"\n", start)
    try:
        line = head[start : end if end >= 0 else len(head)].decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None
    sep = ";" if line.count(";") > line.count(",") else ","
    try:
        return next(csv.reader([line], delimiter=sep), []), sep
    except csv.Error:  # e.g. a lone carriage return (old Mac line ends): the whole-file path reads such a file
        return None


def _csv_lines(src: FileData) -> tuple[int, bool]:
    """Rows after the header (exact but for blank lines and quoted line breaks: the streamed import counts the rows
    it read) and whether the file holds a NUL byte."""
    lines, nul, last = 0, False, b"\n"
    for block in _blocks(src):
        lines += block.count(b"\n")
        nul = nul or b"\x00" in block
        last = block[-1:]
    return max(lines + (last != b"\n") - 1, 0), nul


def row_estimate(src: FileData, name: str) -> int:
    """Rows of a Parquet file (its metadata) or of a CSV file (_csv_lines)."""
    if name.lower().endswith(".csv"):
        return _csv_lines(src)[0]
    import pyarrow.parquet as pq

    return pq.ParquetFile(_readable(src)).metadata.num_rows


def streamable(src: FileData, name: str, kind: str) -> bool:
    """A Parquet or CSV forecast file with more than STREAM_ROWS rows and plain column names."""
    if kind != "forecasts":
        return False
    if name.lower().endswith(".csv"):
        header = _csv_header(src)
        if header is None or not _plain(header[0]):
            return False
        rows, nul = _csv_lines(src)
        return rows > STREAM_ROWS and not nul  # a NUL byte anywhere: the whole-file check reports it
    if not name.lower().endswith((".parquet", ".pq")):
        return False
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(_readable(src)).schema_arrow
        rows = pq.ParquetFile(_readable(src)).metadata.num_rows
    except Exception:
        return False
    plain = _plain(list(meta.names)) and not (meta.pandas_metadata or {}).get("index_columns")
    return plain and rows > STREAM_ROWS


def _batches(src: FileData, name: str):
    """(first file row, Table) per batch of STREAM_ROWS rows, as validate._read makes them."""
    if name.lower().endswith(".csv"):
        yield from _csv_batches(src, name)
    else:
        yield from _parquet_batches(src, name)


def _csv_batches(src: FileData, name: str):
    """(first file row, Table) per chunk of a CSV file: text cells, as kpis.imports.read.read_csv_text reads the whole
    file (UTF-8, ',' or ';', the header kept as written), rows numbered as in the file (the header is row 1) and rows
    with every cell blank left out, as validate._read does."""
    import pandas as pd

    names, sep = _csv_header(src)
    # Read as kpis.imports.read.read_csv_text reads the whole file: no header row for pandas (it would take a first
    # column as the index when every row has one cell more than the header), the header line skipped; a chunk whose
    # width is not the header's falls back to the whole-file check, which names the row.
    reader = None
    first = 2
    while True:
        try:
            if reader is None:  # the parser reads its first block when it is made
                reader = pd.read_csv(
                    _readable(src),
                    dtype=str,
                    keep_default_na=False,
                    sep=sep,
                    skip_blank_lines=False,
                    header=None,
                    skiprows=1,
                    encoding="utf-8-sig",
                    chunksize=STREAM_ROWS,
                )
            df = next(reader)
        except StopIteration:
            return
        except Exception:
            raise Fallback from None  # reads the file again and names the problem as it always has
        rows = np.arange(first, first + len(df), dtype=np.int64)
        first += len(df)
        df, rows = without_blank_rows(df, rows)
        if not len(df):
            continue
        if df.shape[1] != len(names):
            raise Fallback  # the header row read otherwise than here: let the whole-file check read the file
        labels = {n.strip().lower(): n.strip() for n in names}
        columns = {n.strip().lower(): df.iloc[:, i] for i, n in enumerate(names)}
        yield int(rows[0]), Table(name, columns, labels, rows)
        del df, columns


def _parquet_batches(src: FileData, name: str):
    """(first file row, Table) per record batch of a Parquet file."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(_readable(src))
    first = 1
    for batch in pf.iter_batches(batch_size=STREAM_ROWS):
        df = arrow_frame(batch)
        del batch
        rows = np.arange(first, first + len(df), dtype=np.int64)
        labels, columns = {}, {}
        for i, c in enumerate(df.columns):
            labels[str(c).strip().lower()] = str(c).strip()
            columns[str(c).strip().lower()] = df.iloc[:, i]
        yield first, Table(name, columns, labels, rows)
        first += len(df)
        del df, columns


class FileBatches:
    """The batches of a big file (`n`: its rows, estimated for CSV), read afresh each time they are iterated."""

    from_file = True  # a problem: the whole file is checked again (Fallback), which names it as it always has

    def __init__(self, src: FileData, name: str):
        self.src, self.name, self.n = src, name, row_estimate(src, name)

    def __iter__(self):
        return _batches(self.src, self.name)


def _tables(batches):
    """(first row, Table) per batch: file batches as they come, Arrow record batches (a data connector's) with
    headers checked and records numbered from 1."""
    first = 1
    for b in batches:
        if isinstance(b, tuple):
            yield b
            continue
        df = arrow_frame(b)
        keep = check_headers(list(df.columns), df, "batch")
        df = df.iloc[:, keep]
        df.columns = [str(c).strip() for c in df.columns]
        rows = np.arange(first, first + len(df), dtype=np.int64)
        yield first, table_of(df, rows, "")
        first += len(df)


DUPLICATE = "duplicate: a row repeats the item, period, lag and stage of a row in another batch"


def stream_write(batches, w: Writing, ctx: Context) -> None:
    """Check, compare and write a clean forecast file batch by batch in the import's transaction (w.handle); raise
    Fallback when the whole-file path must run instead (any problem: nothing written)."""
    conn, result, progress = w.handle, w.result, w.progress
    name = w.source.name
    stages_cfg = list(ctx.config.forecast.stages)
    stored = stored_cadence(conn)
    n_total = max(result.rows, 1)
    dialect = conn.dialect.name
    raw_cur = None
    try:
        known = stored_items(conn)
        old_k, old_v = fetch_keys(conn, "forecast", stages_cfg)
        order = np.argsort(old_k)
        ks, vs = old_k[order], old_v[order]
        del old_k, old_v, order
        batch_id = w.batch_id
        keys, kept, cadence, ignored = [], [], None, ()
        inserted = updated = 0
        fks = []
        writer = sqlite_write if dialect == "sqlite" else pg_write
        if dialect == "postgresql" and result.rows > BULK_ROWS:
            raw_cur = conn.connection.driver_connection.cursor()
            fks = pg_drop_fks(raw_cur, "forecast")
        seen = 0  # rows read: a CSV file's line count is only an estimate (blank lines, quoted line breaks)
        from_file = getattr(batches, "from_file", False)
        for _first, table in _tables(batches):
            table.name = name
            bag = ctx.collector()
            try:
                rows = validate_forecasts(
                    table, bag, stored or cadence, known, stages_cfg, ctx.config.limits.period_years
                )
            except ImportFailed:
                if from_file:
                    raise Fallback from None
                raise
            del table
            if cadence is None:
                cadence, ignored = rows.cadence, rows.ignored
                check_granularity(conn, rows, name)
            elif rows.cadence != cadence:
                raise _refuse(from_file, name, "batches of different granularity; use one granularity per import")
            ids = np.array([known[c][0] for c in rows.items], dtype=np.int64)
            row_ids = ids[rows.item_codes]
            day = period_start(rows.period, rows.cadence).astype(np.int64)
            stg = np.array([stages_cfg.index(s) for s in rows.stages], dtype=np.int64)[rows.stage_codes]
            key = (row_ids << 32) | (day << 16) | (rows.lag << 6) | stg
            keys.append(key)
            if len(ks):
                pos = np.minimum(np.searchsorted(ks, key), len(ks) - 1)
                found = ks[pos] == key
                old = vs[pos]
                changed = found & ~np.isclose(rows.value, old, rtol=1e-12, atol=1e-12)
                is_new = ~found
            else:
                old = np.full(rows.n, np.nan)
                changed = np.zeros(rows.n, dtype=bool)
                is_new = np.ones(rows.n, dtype=bool)
            inserted += int(is_new.sum())
            updated += int(changed.sum())
            if changed.any() and len(kept) < CHANGED_ROWS_KEPT:
                more = changed_rows(rows, changed, old, day, rows.lag, rows.stage_codes, "forecasts")
                kept += more[: CHANGED_ROWS_KEPT - len(kept)]
            cols = Columns(row_ids, day, rows.lag, rows.stage_codes, rows.stages, rows.value, int(batch_id))
            done = seen
            seen += rows.n

            def part(frac: float, text: str, done=done, n=rows.n) -> None:
                progress(0.05 + 0.9 * (done + n * min(max(frac - 0.4, 0) / 0.55, 1.0)) / n_total, text)

            if is_new.any() or changed.any():
                try:
                    if dialect == "postgresql":
                        writer(conn, "forecast", cols, is_new, changed, part, manage_fks=False)
                    else:
                        writer(conn, "forecast", cols, is_new, changed, part)
                except Exception as e:  # a key repeated across batches, both new: the whole-file check says so
                    if "IntegrityError" in {c.__name__ for c in type(e).__mro__}:
                        raise _refuse(from_file, name, DUPLICATE) from None
                    raise
            progress(0.05 + 0.9 * (done + rows.n) / n_total, f"{done + rows.n:,} of {n_total:,} rows")
            del rows, cols, key, is_new, changed, old, row_ids, day, stg
        if not seen:
            raise _refuse(from_file, name, "no data rows")  # a file: the whole-file check says so
        all_keys = np.concatenate(keys) if keys else np.empty(0, dtype=np.int64)
        keys.clear()
        all_keys.sort()
        if len(all_keys) > 1 and (all_keys[1:] == all_keys[:-1]).any():
            raise _refuse(from_file, name, DUPLICATE)  # a file: the whole-file check names both rows
        del all_keys
        if fks:
            progress(0.96, "checking references")
            pg_add_fks(raw_cur, "forecast", fks)
        result.rows = seen
        result.inserted, result.updated = inserted, updated
        result.unchanged = seen - inserted - updated
        result.ignored_columns = ignored
        w.details.update(items_added=0, items_changed=0, changed_item_attributes=[], changed_values=kept)
        progress(0.98, "committing")
    finally:
        if raw_cur is not None:
            raw_cur.close()


def import_streamed(engine, data: FileData, *, kind: Kind, name: str, config, user, progress, cancel=None):
    """Import a big clean forecast file batch by batch through the runner (one transaction, rerun when the database
    asks); None when the whole-file path must run instead (any problem: nothing written)."""
    source = ImportSource(name, digest(data))

    def run():
        return run_import(
            engine, kind, FileBatches(data, name), source, config=config, user=user, progress=progress, cancel=cancel
        )

    try:
        return retrying(run)
    except Fallback:
        return None
