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

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, insert, update

from kpis.access.users import User, require
from kpis.config import AppConfig
from kpis.forecast import stream
from kpis.forecast.bulk import (
    _BULK_ROWS,
    _bp,
    _Columns,
    _pg_write,
    _sqlite_write,
    checkpoint_later,
    sqlite_bulk,
)
from kpis.forecast.cache import forecast_version, get_cube
from kpis.forecast.common import (
    Progress,
    period_start,
    release_memory,
)
from kpis.forecast.sql import (
    fetch_keys,
    placeholder,
    stored_cadence,
    stored_cadences,
    stored_items,
)
from kpis.forecast.validate import (
    _read,
    _Rows,
    _validate_demand,
    _validate_forecasts,
)
from kpis.ingest import ImportFailed, ImportResult, Problem, _Collector, check_filename
from kpis.periods import label as periods_label
from kpis.store.models import AuditEvent, ImportBatch, Item, utcnow
from kpis.store.retry import retrying


# ============================================================================ import
@dataclass
class ForecastImportResult(ImportResult):
    """What a demand or forecast import changed (values, and items for demand files)."""

    kind: str = "forecasts"
    items_added: int = 0
    items_changed: int = 0
    ignored_columns: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.items_added or self.items_changed)

    def summary(self) -> str:
        """One line for the UI and the CLI."""
        ignored = f" Ignored column(s): {', '.join(self.ignored_columns)}." if self.ignored_columns else ""
        if not self.changed:
            seen = self.seen_before()
            return f"{self.source}: no changes — all {self.unchanged} values already stored{seen}.{ignored}"
        items = ""
        if self.items_added or self.items_changed:
            items = f"; items: {self.items_added} added, {self.items_changed} with changed attributes"
        return (
            f"{self.source}: {self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged"
            f"{items} (import #{self.batch_id}).{ignored}"
        )


def _noop(_fraction: float, _text: str) -> None:
    return None


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
) -> ForecastImportResult:
    """Validate and store a demand (kind='demand') or forecast (kind='forecasts') file in one transaction."""
    require(user, "import", engine=engine, what=f"import {kind}")
    if kind not in ("demand", "forecasts"):
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
    if stream.streamable(data, name, kind):  # a big Parquet or CSV forecast file: batch by batch (kpis.forecast.stream)
        done = _import_streamed(engine, data, name=name, config=config, user=user, progress=progress)
        if done is not None:
            return done
    if isinstance(data, Path):
        try:
            data = data.read_bytes()
        except FileNotFoundError:
            raise ImportFailed([Problem(name, None, None, "file not found")]) from None
    table = _read(data, name, sheet, max_mb=config.app.max_upload_mb)
    sheet_read = table.sheet
    progress(0.15, f"checking {table.n:,} rows")
    bag = _Collector(name, config.app.max_import_errors)
    with engine.connect() as conn:
        known = stored_items(conn)
        stored = stored_cadence(conn)
    if kind == "demand":
        rows = _validate_demand(table, bag, stored, known)
    else:
        rows = _validate_forecasts(table, bag, stored, known, list(config.forecast.stages))
    sha = hashlib.sha256(data).hexdigest()
    del table, data  # keep the peak memory of big imports down
    progress(0.3, "comparing with stored data")
    write = functools.partial(_write, engine, rows, kind=kind, filename=name, sha256=sha, user=user, progress=progress)
    result = retrying(write)
    result.sheet = sheet_read
    del write, rows  # free the import's arrays before the cube takes its memory
    return _after_import(engine, config, result, progress)


def _after_import(
    engine: Engine, config: AppConfig, result: ForecastImportResult, progress: Progress
) -> ForecastImportResult:
    release_memory()
    if result.changed:
        # Build the cube (and its on-disk snapshot) now, at load time, so the first page render after an
        # import does not pay for it, while a big SQLite load's log is copied into the database file beside it.
        # A failure here never undoes the committed import.
        wait = checkpoint_later(engine) if result.rows > _BULK_ROWS else None
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
    engine: Engine, data: bytes | Path, *, name: str, config: AppConfig, user: User, progress: Progress
) -> ForecastImportResult | None:
    """A big Parquet or CSV forecast file batch by batch in one transaction; None when it has a problem (nothing
    written: the whole-file path then reports it as always)."""
    from kpis.store.repo import find_import

    sha = stream.digest(data)
    n = stream.row_estimate(data, name)

    def run() -> ForecastImportResult | None:
        fresh = ForecastImportResult(filename=name, rows=n, kind="forecasts")
        return stream.import_streamed(
            engine,
            data,  # noqa: F821 -- run() is done before the del below
            name=name,
            config=config,
            user=user,
            sha256=sha,
            now=utcnow(),
            progress=progress,
            result=fresh,
        )

    result = retrying(run)
    if result is None:
        return None
    result.sheet = None
    del data
    if not result.changed:
        result.previous = find_import(engine, sha, "forecasts")
        progress(1.0, "no changes")
    else:
        progress(1.0, result.summary())
    return _after_import(engine, config, result, progress)


# ---------------------------------------------------------------------------- writing
def _write(
    engine: Engine, rows: _Rows, *, kind: str, filename: str, sha256: str, user: User, progress: Progress
) -> ForecastImportResult:
    """Insert new and update changed rows in one transaction; count what changed; audit the import."""
    from kpis.store.repo import find_import

    result = ForecastImportResult(filename=filename, rows=rows.n, kind=kind, ignored_columns=rows.ignored)
    now = utcnow()
    with engine.connect() as conn, sqlite_bulk(conn, rows.n):  # big SQLite loads: see kpis.forecast.bulk
        trans = conn.begin()
        try:
            changed_anything = _write_in(
                conn, rows, result, kind=kind, filename=filename, sha256=sha256, user=user, now=now, progress=progress
            )
            if changed_anything:
                trans.commit()
            else:
                trans.rollback()
        except BaseException:
            if trans.is_active:
                trans.rollback()
            raise
    if not result.changed:
        result.previous = find_import(engine, sha256, kind)
        progress(1.0, "no changes")
        return result
    progress(1.0, result.summary())
    return result


def _check_granularity(conn, rows: _Rows, filename: str) -> None:
    """Refuse a file whose granularity differs from any demand or forecast period stored (checked inside the
    write transaction, so two imports running at the same time cannot mix granularities)."""
    stored = stored_cadences(conn)
    other = stored - {rows.cadence}
    if not other:
        return
    adj = {"week": "weekly", "month": "monthly"}
    if len(stored) > 1:
        msg = (
            "the stored demand and forecasts already mix weekly and monthly periods; delete one granularity "
            "before importing more"
        )
    else:
        msg = (
            f"this file is {adj.get(rows.cadence, rows.cadence)} but the stored demand and forecasts are "
            f"{adj.get(next(iter(other)), next(iter(other)))}; forecast data has one granularity (import "
            f"{adj.get(next(iter(other)), '')} files, or start from an empty forecast store)"
        )
    raise ImportFailed([Problem(filename, None, None, msg)])


def _write_in(
    conn,
    rows: _Rows,
    result: ForecastImportResult,
    *,
    kind: str,
    filename: str,
    sha256: str,
    user: User,
    now: dt.datetime,
    progress: Progress,
) -> bool:
    """The body of _write inside its transaction; False when nothing changed (caller rolls back)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":  # two imports at the same time are checked one after the other
        conn.exec_driver_sql("LOCK TABLE demand_actual, forecast IN SHARE ROW EXCLUSIVE MODE")
    _check_granularity(conn, rows, filename)
    known = stored_items(conn)
    new_items, changed_items = [], []
    if kind == "demand":
        for code in rows.items:
            attrs = rows.attributes.get(code, {})
            if code not in known:
                new_items.append({"code": code, "attributes": attrs, "created_at": now, "created_by": user.name})
            else:
                merged = {**known[code][1], **attrs}
                if merged != known[code][1]:
                    changed_items.append((known[code][0], code, known[code][1], merged))
    result.items_added, result.items_changed = len(new_items), len(changed_items)
    # compare values (item ids of new items are unknown yet: all their rows are new)
    ids = np.array([known[c][0] if c in known else -1 for c in rows.items], dtype=np.int64)
    row_ids = ids[rows.item_codes]
    day = period_start(rows.period, rows.cadence).astype(np.int64)
    lag = rows.lag if rows.lag is not None else np.zeros(rows.n, dtype=np.int64)
    stg = rows.stage_codes if rows.stage_codes is not None else np.zeros(rows.n, dtype=np.int64)
    table = "demand_actual" if kind == "demand" else "forecast"
    d0, d1 = int(day.min()), int(day.max())
    lo, hi = (np.datetime64(d0, "D").astype(dt.date), np.datetime64(d1, "D").astype(dt.date))
    ph = placeholder(conn)
    where = f"period BETWEEN {ph} AND {ph}"
    where_params: list = [lo, hi] if conn.dialect.name == "postgresql" else [lo.isoformat(), hi.isoformat()]
    if kind == "forecasts":
        where += " AND stage IN (" + ", ".join([ph] * len(rows.stages)) + ")"
        where_params += list(rows.stages)
    old_k, old_v = fetch_keys(conn, table, rows.stages, where, where_params)
    is_new = np.ones(rows.n, dtype=bool)
    changed = np.zeros(rows.n, dtype=bool)
    old = np.full(rows.n, np.nan)
    if len(old_k):
        known_rows = row_ids >= 0
        key = (row_ids << 32) | (day << 16) | (lag << 6) | stg
        order = np.argsort(old_k)
        ks, vs = old_k[order], old_v[order]
        pos = np.minimum(np.searchsorted(ks, key), len(ks) - 1)
        found = known_rows & (ks[pos] == key)
        is_new = ~found
        old = vs[pos]
        same = np.isclose(rows.value, old, rtol=1e-12, atol=1e-12)
        changed = found & ~same
    result.inserted, result.updated = int(is_new.sum()), int(changed.sum())
    result.unchanged = rows.n - result.inserted - result.updated
    progress(0.4, f"{result.inserted:,} new, {result.updated:,} changed, {result.unchanged:,} unchanged")
    if not result.changed:
        return False
    batch_id = conn.execute(
        insert(ImportBatch)
        .values(
            kind=kind,
            filename=filename,
            sha256=sha256,
            rows_in_file=rows.n,
            inserted=result.inserted,
            updated=result.updated,
            unchanged=result.unchanged,
            created_at=now,
            created_by=user.name,
        )
        .returning(ImportBatch.id)
    ).scalar_one()
    result.batch_id = int(batch_id)
    if new_items:
        conn.execute(insert(Item), new_items)
    if changed_items:
        stmt = (
            update(Item)
            .where(Item.id == _bp("b_id"))
            .values(attributes=_bp("b_attrs"), updated_at=now, updated_by=user.name)
        )
        conn.execute(stmt, [{"b_id": i, "b_attrs": m} for i, _c, _o, m in changed_items])
    if new_items:
        known = stored_items(conn)
        ids = np.array([known[c][0] for c in rows.items], dtype=np.int64)
        row_ids = ids[rows.item_codes]
    changed_rows = _changed_rows(rows, changed, old, day, lag, stg, kind)
    cols = _Columns(row_ids, day, lag, stg, rows.stages, rows.value, result.batch_id)
    writer = _sqlite_write if dialect == "sqlite" else _pg_write
    writer(conn, table, cols, is_new, changed, progress)
    conn.execute(
        insert(AuditEvent),
        [
            {
                "at": now,
                "actor": user.name,
                "action": "import",
                "entity": "import_batch",
                "entity_id": str(batch_id),
                "details": {
                    "file": filename,
                    "kind": kind,
                    "inserted": result.inserted,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                    "sha256": sha256,
                    "items_added": result.items_added,
                    "items_changed": result.items_changed,
                    "changed_item_attributes": [{"item": c, "old": o, "new": m} for _i, c, o, m in changed_items[:50]],
                    "changed_values": changed_rows,
                },
            }
        ],
    )
    progress(0.98, "committing")
    return True


CHANGED_ROWS_KEPT = 500


def _changed_rows(
    rows: _Rows, changed: np.ndarray, old: np.ndarray, day: np.ndarray, lag: np.ndarray, stg: np.ndarray, kind: str
) -> list[dict]:
    """The first CHANGED_ROWS_KEPT updated values with old and new value, for the audit log (the count is in
    'updated')."""
    idx = np.flatnonzero(changed)[:CHANGED_ROWS_KEPT]
    out = []
    for i in idx:
        period = periods_label(np.datetime64(int(day[i]), "D"), rows.cadence)
        rec = {
            "item": str(rows.items[rows.item_codes[i]]),
            "period": period,
            "old": float(old[i]),
            "new": float(rows.value[i]),
        }
        if kind == "forecasts":
            rec["lag"] = int(lag[i])
            rec["stage"] = str(rows.stages[int(stg[i])])
        out.append(rec)
    return out


def import_demand_file(
    engine: Engine, path: Path, *, config: AppConfig, user: User, sheet: str | None = None
) -> ForecastImportResult:
    """import_file(kind='demand') on a file named on the command line."""
    return import_file(engine, path, kind="demand", config=config, user=user, sheet=sheet)


def import_forecasts_file(
    engine: Engine, path: Path, *, config: AppConfig, user: User, sheet: str | None = None
) -> ForecastImportResult:
    """import_file(kind='forecasts') on a file named on the command line."""
    return import_file(engine, path, kind="forecasts", config=config, user=user, sheet=sheet)
