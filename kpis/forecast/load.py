"""Importing demand actuals and forecast snapshots (CSV, Excel, Parquet) with row-level errors.

Import rules (``import_file``)
------------------------------
* Demand files: ``item, period, actual`` plus any attribute columns (family, region, ...).
  Attribute columns become the item hierarchy; an item must have one value per attribute
  in a file. Attributes not in the file keep their stored value; a blank cell means "not
  set" (shown as ``(none)``).
* Forecast files: ``item, period, stage, forecast`` and ``lag`` or ``snapshot`` (the period
  the forecast was made in; lag = period − snapshot in period units). With both, they must
  agree. Stages must be configured ([forecast] stages; matched case-insensitively).
* **Demand comes first**: a forecast file may only name items that already exist (created
  by a demand file with their attributes). Forecasts for unknown items are refused, so the
  hierarchy is never silently incomplete.
* CSV (comma or semicolon), Excel (first sheet) and Parquet. Rows are numbered as in a
  spreadsheet for CSV/Excel (header = row 1) and from 1 for Parquet records.
* One granularity per file (weeks or months; ISO dates, ``YYYY-MM`` or ``YYYY-Www``), and
  the same granularity as the data already stored.
* Every problem is reported with file, row and column; a file with any problem writes
  nothing (one transaction). Re-importing the same content writes nothing and says so;
  changed values are updated and counted. Extra columns in a forecast file are ignored and
  reported in the summary.
* Bulk writes: SQLite through the raw connection (executemany in chunks), PostgreSQL
  through binary COPY. For big PostgreSQL loads the table's foreign keys are dropped and
  re-added (validated) inside the same transaction, which takes an exclusive lock on the
  table for the duration of the import.
* A Parquet forecast file of more than ``stream.STREAM_ROWS`` rows is read, checked, compared and
  written batch by batch in one transaction (``kpis.forecast.stream``); at any problem it is rolled
  back and the whole file is checked as above, so the report is the same.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from kpis.access.users import User, require
from kpis.config import AppConfig
from kpis.forecast import stream
from kpis.forecast.bulk import BULK_ROWS, checkpoint_later
from kpis.forecast.cache import forecast_version, get_cube
from kpis.forecast.common import Progress, release_memory
from kpis.forecast.sql import stored_cadence, stored_items
from kpis.forecast.validate import SUPPORTED, Rows, table_from_rows, validate_demand, validate_forecasts
from kpis.forecast.write import store_rows, transaction
from kpis.imports.problems import ImportFailed, Problem
from kpis.imports.read import check_file, check_filename, read_frame, row_table
from kpis.imports.result import ImportResult
from kpis.imports.runner import Context, Kind, run_import
from kpis.imports.source import Source

# kept for callers of the former name: every kind now reports the one kpis.imports.result.ImportResult
ForecastImportResult = ImportResult


def _noop(_fraction: float, _text: str) -> None:
    return None


def _check(kind: str, df: pd.DataFrame, ctx: Context) -> Rows:
    """Checked rows of a demand or forecast table (kpis.forecast.validate)."""
    table = table_from_rows(df, ctx.file)
    ctx.progress(0.15, f"checking {table.n:,} rows")
    bag = ctx.collector()
    with ctx.engine.connect() as conn:
        known = stored_items(conn)
        stored = stored_cadence(conn)
    if kind == "demand":
        rows = validate_demand(table, bag, stored, known, ctx.config.limits.period_years)
    else:
        rows = validate_forecasts(
            table, bag, stored, known, list(ctx.config.forecast.stages), ctx.config.limits.period_years
        )
    ctx.progress(0.3, "comparing with stored data")
    return rows


def check_demand(df: pd.DataFrame, ctx: Context) -> Rows:
    return _check("demand", df, ctx)


def check_forecasts(df: pd.DataFrame, ctx: Context) -> Rows:
    return _check("forecasts", df, ctx)


DEMAND = Kind(
    name="demand",
    columns="item, period, actual and any attribute columns (family, region, channel, ...)",
    parse=check_demand,
    write=store_rows,
    what="import demand",
    count=lambda rows: rows.n,
    ignored=lambda rows: rows.ignored,
    transaction=transaction,
)
FORECASTS = Kind(
    name="forecasts",
    columns="item, period, stage, forecast and lag or snapshot",
    parse=check_forecasts,
    write=store_rows,
    what="import forecasts",
    count=lambda rows: rows.n,
    ignored=lambda rows: rows.ignored,
    transaction=transaction,
    stream=stream.stream_write,
)
KINDS = {"demand": DEMAND, "forecasts": FORECASTS}


def import_file(
    engine: Engine,
    path_or_bytes: str | Path | bytes,
    *,
    kind: str,
    config: AppConfig,
    user: User,
    filename: str | None = None,
    progress: Progress | None = None,
    sheet: str | None = None,
    cancel=None,
) -> ImportResult:
    """Validate and store a demand (kind='demand') or forecast (kind='forecasts') file in one transaction;
    `cancel` (a threading.Event) stops it between batches or before it commits, writing nothing."""
    require(user, "import", engine=engine, what=f"import {kind}")
    if kind not in KINDS:
        raise ValueError(f"kind must be 'demand' or 'forecasts', not {kind!r}")
    progress = progress or _noop
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        name = Path(filename or "upload").name
        limit = config.app.max_upload_mb
        if len(data) > limit * 1024 * 1024:  # uploads only; files named on the CLI are not limited
            raise ImportFailed(
                [
                    Problem(
                        name,
                        None,
                        None,
                        f"file is {len(data) / 1048576:.1f} MB, over the "
                        f"{limit:g} MB limit (config [app] max_upload_mb)",
                    )
                ]
            )
    else:
        path = Path(path_or_bytes)
        name = Path(filename or path.name).name
        if not path.is_file():
            raise ImportFailed([Problem(name, None, None, "file not found")])
        data = path  # a big forecast file streams from disk; any other is read whole below
    progress(0.02, f"reading {name}")
    check_filename(name)  # before either path: the streamed one records the name too
    check_file(data, name, config.limits)  # rows, columns, decoded size: from the footer or the bytes, undecoded
    if stream.streamable(data, name, kind):  # a big Parquet or CSV forecast file: batch by batch (kpis.forecast.stream)
        done = _import_streamed(engine, data, name=name, config=config, user=user, progress=progress, cancel=cancel)
        if done is not None:
            return done
    if isinstance(data, Path):
        try:
            data = data.read_bytes()
        except FileNotFoundError:
            raise ImportFailed([Problem(name, None, None, "file not found")]) from None
    frame = read_frame(
        data, name, sheet=sheet, max_mb=config.app.max_upload_mb, formats=SUPPORTED, limits=config.limits
    )
    source = Source(name, hashlib.sha256(data).hexdigest(), sheet=frame.sheet)
    del data  # keep the peak memory of big imports down
    table = row_table(frame)
    del frame
    result = run_import(engine, KINDS[kind], table, source, config=config, user=user, progress=progress, cancel=cancel)
    del table  # free the import's arrays before the cube takes its memory
    progress(1.0, result.summary() if result.changed else "no changes")
    return _after_import(engine, config, result, progress)


def _after_import(engine: Engine, config: AppConfig, result: ImportResult, progress: Progress) -> ImportResult:
    release_memory()
    if result.changed:
        # Build the cube (and its on-disk snapshot) now, at load time, so the first page render after an
        # import does not pay for it, while a big SQLite load's log is copied into the database file beside it.
        # A failure here never undoes the committed import.
        wait = checkpoint_later(engine) if result.rows > BULK_ROWS else None
        progress(1.0, "preparing the accuracy views")
        try:
            get_cube(engine, config, forecast_version(engine))
        except Exception:
            pass
        finally:
            if wait is not None:
                wait()
    return result


def _import_streamed(
    engine: Engine, data: bytes | Path, *, name: str, config: AppConfig, user: User, progress: Progress, cancel=None
) -> ImportResult | None:
    """A big Parquet or CSV forecast file batch by batch in one transaction (run_import with the file's batches);
    None when it has a problem (nothing written: the whole-file path then reports it as always)."""
    result = stream.import_streamed(
        engine, data, kind=FORECASTS, name=name, config=config, user=user, progress=progress, cancel=cancel
    )
    if result is None:
        return None
    progress(1.0, result.summary() if result.changed else "no changes")
    return _after_import(engine, config, result, progress)


def import_demand_file(
    engine: Engine, path: Path, *, config: AppConfig, user: User, sheet: str | None = None
) -> ImportResult:
    """import_file(kind='demand') on a file named on the command line."""
    return import_file(engine, path, kind="demand", config=config, user=user, sheet=sheet)


def import_forecasts_file(
    engine: Engine, path: Path, *, config: AppConfig, user: User, sheet: str | None = None
) -> ImportResult:
    """import_file(kind='forecasts') on a file named on the command line."""
    return import_file(engine, path, kind="forecasts", config=config, user=user, sheet=sheet)
