"""Fast reads of stored demand and forecast rows as packed numpy arrays (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, select

from kpis.config import AppConfig
from kpis.forecast.common import VERSION_SQL, cadence_of_days
from kpis.store.models import ForecastValue, Item


# ---------------------------------------------------------------------------- database reads
def stored_items(conn) -> dict[str, tuple[int, dict]]:
    """Stored items: code -> (id, attributes)."""
    return {code: (int(i), attrs or {}) for i, code, attrs in conn.execute(select(Item.id, Item.code, Item.attributes))}


def stored_cadences(conn) -> set[str]:
    """Cadences of every demand and forecast period already stored ({'month'}, {'week'}, both when the stored
    data is already mixed, empty when nothing is stored). Reads the distinct periods of both tables."""
    days = []
    for table in ("demand_actual", "forecast"):
        days += [_days(r[0]) for r in conn.exec_driver_sql(f"SELECT DISTINCT period FROM {table}").all()]
    d = np.unique(np.array(days, dtype=np.int64))
    if not len(d):
        return set()
    dd = d.astype("datetime64[D]")
    first = dd.astype("datetime64[M]").astype("datetime64[D]") == dd
    monday = ((d - 4) % 7) == 0
    out = set()
    if (first & ~monday).any():
        out.add("month")
    if (monday & ~first).any():
        out.add("week")
    if not out:
        c = cadence_of_days(d)
        out = {c} if c else set()
    return out


def stored_cadence(conn) -> str | None:
    """Cadence of the demand/forecast periods already stored (None when empty or already mixed)."""
    found = stored_cadences(conn)
    return next(iter(found)) if len(found) == 1 else None


def _days(v) -> int:
    if isinstance(v, str):
        v = dt.date.fromisoformat(v[:10])
    return (v - dt.date(1970, 1, 1)).days


_SQLITE_DAY = "CAST(julianday(period) - 2440587.5 AS INTEGER)"
_PG_DAY = "(period - DATE '1970-01-01')"
# Packed row key: item_id << 32 | day << 16 | lag << 6 | stage (day = days since 1970, < 2^16, i.e. up to 2149;
# lag < 1024; stage index < 63, 63 = a stage not asked for). Below 2^53 for item ids < 2^21, so a key survives a
# round trip through float64 (fast fetch of (key, value) pairs from SQLite).


def _stage_case(stages: list[str], ph: str) -> tuple[str, list[str]]:
    """SQL for a stage's index in the list (63 = not listed), with its bound parameters."""
    if not stages:
        return "63", []
    whens = " ".join(f"WHEN {ph} THEN {i}" for i in range(len(stages)))
    return f"(CASE stage {whens} ELSE 63 END)", list(stages)


def placeholder(conn) -> str:
    """The DBAPI parameter marker of the connection's driver."""
    return "%s" if conn.dialect.name == "postgresql" else "?"


def fetch_keys(
    conn, table: str, stages: list[str] | None, where: str = "", where_params: list | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(packed key, value) of stored rows (see the packed row key above); every value is a bound parameter."""
    assert table in ("forecast", "demand_actual")  # identifiers come from this module only
    dialect = conn.dialect.name
    day = _PG_DAY if dialect == "postgresql" else _SQLITE_DAY
    params: list = []
    if table == "forecast":
        case, params = _stage_case(stages or [], placeholder(conn))
        key = (
            f"((item_id::int8 << 32) | ({day}::int8 << 16) | (lag::int8 << 6) | {case})"
            if dialect == "postgresql"
            else f"((item_id << 32) | ({day} << 16) | (lag << 6) | {case})"
        )
        val = "forecast"
    else:
        key = (
            f"((item_id::int8 << 32) | ({day}::int8 << 16))"
            if dialect == "postgresql"
            else f"((item_id << 32) | ({day} << 16))"
        )
        val = "actual"
    sql = f"SELECT {key} AS k, {val} AS v FROM {table}" + (f" WHERE {where}" if where else "")
    params = params + list(where_params or [])
    if dialect == "postgresql":
        return _pg_fetch(conn, sql, params)
    fast = _arrow_fetch(conn, table, sql, params, bool(where))
    if fast is not None:
        return fast
    raw = conn.connection.driver_connection
    max_id = raw.execute(f"SELECT max(item_id) FROM {table}").fetchone()[0] or 0
    exact = max_id < (1 << 21)  # keys are exact in float64: one C-level pass over the row tuples
    cur = raw.execute(sql, params)
    keys, vals = [], []
    try:
        while True:  # in chunks: never a list of every row as Python tuples
            rows = cur.fetchmany(_FETCH_ROWS)
            if not rows:
                break
            if exact:
                flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=2 * len(rows))
                del rows
                pairs = flat.reshape(-1, 2)
                keys.append(pairs[:, 0].astype(np.int64))
                vals.append(pairs[:, 1].copy())
                del flat, pairs
            else:
                k, v = zip(*rows)
                del rows
                keys.append(np.array(k, dtype=np.int64))
                vals.append(np.array(v, dtype=np.float64))
    finally:
        cur.close()
    return _joined(keys, vals)


def _joined(keys: list[np.ndarray], vals: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not keys:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    if len(keys) == 1:
        return keys[0], vals[0]
    k = np.concatenate(keys)
    keys.clear()
    v = np.concatenate(vals)
    vals.clear()
    return k, v


_FETCH_ROWS = 500_000
_ARROW_MIN_ROWS = 1_000_000  # below this the plain sqlite3 read is as fast (the reader process takes ~0.5 s to start)
_ARROW_TIMEOUT_S = 900
_READERS = 4  # at most this many parallel readers (one per core)


def _reader_count() -> int:
    return max(1, min(_READERS, os.cpu_count() or 1))


def _driver_installed() -> bool:
    """Whether Arrow's SQLite driver is installed (it is never loaded into this process: see _arrow_fetch)."""
    import importlib.util

    return importlib.util.find_spec("adbc_driver_sqlite") is not None


def _sqlite_file(conn) -> str | None:
    """The absolute path of the connection's SQLite database file (None: in memory, a URI, or not found)."""
    db = conn.engine.url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    path = os.path.abspath(db)
    return path if os.path.isfile(path) else None


def _arrow_fetch(conn, table: str, sql: str, params: list, filtered: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of `sql` read through Apache Arrow's SQLite driver (ADBC) in a process of its own
    (kpis/forecast/arrow_reader.py: the driver carries its own copy of SQLite, which must never share a process
    with the sqlite3 module's), in parallel ranges of rowid (or of item_id for a table stored in primary-key order):
    the values go from SQLite into Arrow columns in C, with no Python object per value (20.8 M rows: 5 s instead of
    17 s on 2 cores). None when it cannot answer (no such driver, a database in memory, a small table, any error):
    the caller reads through sqlite3 instead.

    The reader sees what is committed. Callers use it only where that is what their own connection sees: before
    their transaction has written anything (an import holds the write lock but has not written yet), or outside a
    transaction; load_raw checks the data version around the reads."""
    import json
    import shutil
    import subprocess
    import sys
    import tempfile
    import urllib.parse
    from pathlib import Path

    path = _sqlite_file(conn)
    if path is None:
        return None
    if not _driver_installed():
        return None
    folder = None
    try:
        # Ranges of the column the table is stored in order of: the rowid, or item_id for a table WITHOUT ROWID
        # (stored in primary-key order, item_id first). Two queries: SQLite answers min() or max() alone from the
        # b-tree's ends, both at once by a scan.
        ddl = (
            conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
            or ""
        )
        col = "item_id" if ddl.rstrip().upper().endswith("WITHOUT ROWID") else "rowid"
        lo = conn.exec_driver_sql(f"SELECT min({col}) FROM {table}").scalar()
        hi = conn.exec_driver_sql(f"SELECT max({col}) FROM {table}").scalar()
        big = conn.exec_driver_sql(f"SELECT 1 FROM {table} LIMIT 1 OFFSET {int(_ARROW_MIN_ROWS)}").scalar()
        if lo is None or big is None:  # empty, or fewer rows than pay for the reader process
            return None
        parts = _reader_count()
        bounds = [int(b) for b in np.linspace(lo, hi + 1, parts + 1).astype(np.int64)]
        ranged = sql + (" AND" if filtered else " WHERE") + f" {col} >= ? AND {col} < ?"
        folder = tempfile.mkdtemp(prefix="sop-pulse-read-")  # private (0700): the arrays pass through it
        out = str(Path(folder) / "rows")
        job = {
            "uri": "file:" + urllib.parse.quote(path) + "?mode=ro",
            "sql": f"SELECT CAST(k AS INTEGER) AS k, CAST(v AS REAL) AS v FROM ({ranged})",
            "params": [p.isoformat() if isinstance(p, (dt.date, dt.datetime)) else p for p in params],
            "bounds": bounds,
            "out": out,
        }
        reader = Path(__file__).with_name("arrow_reader.py")
        done = subprocess.run(
            [sys.executable, "-I", str(reader)],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=_ARROW_TIMEOUT_S,
        )
        if done.returncode != 0:
            return None
        n = int(done.stdout.strip())
        keys = np.fromfile(out + ".k", dtype=np.int64)
        vals = np.fromfile(out + ".v", dtype=np.float64)
        if len(keys) != n or len(vals) != n:
            return None
        return keys, vals
    except Exception:
        return None
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


_PG_RECORD = np.dtype([("nf", ">i2"), ("l0", ">i4"), ("k", ">i8"), ("l1", ">i4"), ("v", ">f8")])


def _pg_fetch(conn, sql: str, params: list) -> tuple[np.ndarray, np.ndarray]:
    """Run `SELECT k (int8), v (float8) ...` on PostgreSQL as a binary COPY, decoded record batch by batch (the
    memory is the arrays, never the whole COPY stream)."""
    raw = conn.connection.driver_connection
    buf = bytearray()
    keys, vals = [], []
    header = True
    size = _PG_RECORD.itemsize
    with raw.cursor() as cur:
        # COPY takes no server-side parameters; psycopg binds them client-side with proper quoting.
        with cur.copy(
            f"COPY (SELECT k::int8, v::float8 FROM ({sql}) q) TO STDOUT (FORMAT binary)", params or None
        ) as cp:
            while True:
                chunk = cp.read()
                if not chunk:
                    break
                buf += chunk
                if header:
                    if len(buf) < 19:
                        continue
                    ext = int.from_bytes(buf[15:19], "big")
                    if len(buf) < 19 + ext:
                        continue
                    del buf[: 19 + ext]
                    header = False
                n = len(buf) // size
                if n >= 65536:
                    rec = np.frombuffer(buf, dtype=_PG_RECORD, count=n)
                    keys.append(rec["k"].astype(np.int64))
                    vals.append(rec["v"].astype(np.float64))
                    del rec
                    del buf[: n * size]
    n = len(buf) // size
    if n:
        rec = np.frombuffer(buf, dtype=_PG_RECORD, count=n)
        keys.append(rec["k"].astype(np.int64))
        vals.append(rec["v"].astype(np.float64))
        del rec
    return _joined(keys, vals)


@dataclass
class Raw:
    item_ids: np.ndarray
    item_codes: list[str]
    item_attrs: list[dict]
    d_key: np.ndarray
    d_val: np.ndarray
    f_key: np.ndarray
    f_val: np.ndarray
    stages: list[str]


def load_raw(engine: Engine, config: AppConfig) -> Raw | None:
    """Items, demand and forecasts from the database as packed numpy arrays."""
    for _attempt in range(3):
        raw = _read_raw(engine, config)
        if raw is None or raw[0] == raw[1]:
            return None if raw is None else raw[2]
    return raw[2]  # data kept changing while read: the last read (the next page asks again for the new version)


def _read_raw(engine: Engine, config: AppConfig) -> tuple[int, int, Raw | None] | None:
    """(data version before, after, the arrays); None when there are no forecasts. The version is read around
    the reads: parallel readers each see their own moment, so a commit in between shows as a changed version."""
    stages = list(config.forecast.stages)
    with engine.connect() as conn:
        before = conn.exec_driver_sql(VERSION_SQL).scalar()
        items = conn.execute(select(Item.id, Item.code, Item.attributes).order_by(Item.id)).all()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        f_key, f_val = fetch_keys(conn, "forecast", stages)
        if not len(f_key):
            return None
        if ((f_key & 63) == 63).any():  # stages not in config: read again with them appended
            extra = sorted(
                conn.execute(select(ForecastValue.stage).where(ForecastValue.stage.not_in(stages)).distinct()).scalars()
            )
            stages = stages + extra
            f_key, f_val = fetch_keys(conn, "forecast", stages)
        d_key, d_val = fetch_keys(conn, "demand_actual", None)
        after = conn.exec_driver_sql(VERSION_SQL).scalar()
    return (
        before,
        after,
        Raw(
            np.array([r[0] for r in items], dtype=np.int64),
            [r[1] for r in items],
            [r[2] or {} for r in items],
            d_key,
            d_val,
            f_key,
            f_val,
            stages,
        ),
    )
