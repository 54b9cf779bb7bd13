"""Fast reads of stored demand and forecast rows as packed numpy arrays (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, select

from kpis.config import AppConfig
from kpis.forecast.common import _cadence_of_days
from kpis.store.models import ForecastValue, Item


# ---------------------------------------------------------------------------- database reads
def _items(conn) -> dict[str, tuple[int, dict]]:
    """Stored items: code -> (id, attributes)."""
    return {code: (int(i), attrs or {}) for i, code, attrs in conn.execute(select(Item.id, Item.code, Item.attributes))}


def _stored_cadences(conn) -> set[str]:
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
        c = _cadence_of_days(d)
        out = {c} if c else set()
    return out


def _stored_cadence(conn) -> str | None:
    """Cadence of the demand/forecast periods already stored (None when empty or already mixed)."""
    found = _stored_cadences(conn)
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


def _placeholder(conn) -> str:
    """The DBAPI parameter marker of the connection's driver."""
    return "%s" if conn.dialect.name == "postgresql" else "?"


def _fetch_keys(conn, table: str, stages: list[str] | None, where: str = "", where_params: list | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(packed key, value) of stored rows (see the packed row key above); every value is a bound parameter."""
    assert table in ("forecast", "demand_actual")  # identifiers come from this module only
    dialect = conn.dialect.name
    day = _PG_DAY if dialect == "postgresql" else _SQLITE_DAY
    params: list = []
    if table == "forecast":
        case, params = _stage_case(stages or [], _placeholder(conn))
        key = (f"((item_id::int8 << 32) | ({day}::int8 << 16) | (lag::int8 << 6) | {case})"
               if dialect == "postgresql" else
               f"((item_id << 32) | ({day} << 16) | (lag << 6) | {case})")
        val = "forecast"
    else:
        key = f"((item_id::int8 << 32) | ({day}::int8 << 16))" if dialect == "postgresql" else f"((item_id << 32) | ({day} << 16))"
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
_ARROW_MIN_ROWS = 200_000   # below this the plain sqlite3 read is as fast
_READERS = 4                 # at most this many parallel readers (one per core)


def _reader_count() -> int:
    return max(1, min(_READERS, os.cpu_count() or 1))


def _sqlite_file(conn) -> str | None:
    """The absolute path of the connection's SQLite database file (None: in memory, a URI, or not found)."""
    db = conn.engine.url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    path = os.path.abspath(db)
    return path if os.path.isfile(path) else None


def _arrow_fetch(conn, table: str, sql: str, params: list, filtered: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of `sql` read through Apache Arrow's SQLite driver (ADBC), in parallel rowid ranges: the values go
    from SQLite into Arrow columns in C, with no Python object per value (about 4x faster than the sqlite3 module on
    20 M rows, and each reader runs on its own core). None when it cannot answer (no such driver, a database in
    memory, a small table, any error): the caller reads through sqlite3 instead.

    Readers open their own read-only connections, so they see what is committed. Callers use it only where that is
    what their own connection sees: before their transaction has written anything (an import holds the write lock
    but has not written yet), or outside a transaction; _load_raw checks the data version around the reads."""
    import urllib.parse

    path = _sqlite_file(conn)
    if path is None:
        return None
    try:
        import adbc_driver_sqlite.dbapi as adbc
    except ImportError:
        return None
    try:
        # two queries: SQLite answers min(rowid) or max(rowid) alone from the b-tree's ends, both at once by a scan
        lo = conn.exec_driver_sql(f"SELECT min(rowid) FROM {table}").scalar()
        hi = conn.exec_driver_sql(f"SELECT max(rowid) FROM {table}").scalar()
        if lo is None or hi - lo < _ARROW_MIN_ROWS:
            return None
        parts = _reader_count()
        bounds = np.linspace(lo, hi + 1, parts + 1).astype(np.int64)
        uri = "file:" + urllib.parse.quote(path) + "?mode=ro"
        ranged = sql + (" AND" if filtered else " WHERE") + " rowid >= ? AND rowid < ?"
        ranged = f"SELECT CAST(k AS INTEGER) AS k, CAST(v AS REAL) AS v FROM ({ranged})"
        out: list = [None] * parts
        errors: list = []
        # Connections are opened one after the other here (the driver manager's first load is not safe to race);
        # each reader then runs its query on its own thread (the driver releases the GIL while SQLite works).
        dbs = [adbc.connect(uri) for _ in range(parts)]
        for db in dbs:   # wait for a moment's lock (a checkpoint, another reader setting up) as the app's engine does
            with db.cursor() as cur:
                cur.execute("PRAGMA busy_timeout=10000")

        def read(i: int) -> None:
            try:
                with dbs[i].cursor() as cur:
                    cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(_FETCH_ROWS)})
                    cur.execute(ranged, [*params, int(bounds[i]), int(bounds[i + 1])])
                    out[i] = cur.fetch_arrow_table()
            except Exception as e:  # noqa: BLE001 - reported to the caller, which falls back
                errors.append(e)

        try:
            if parts == 1:
                read(0)
            else:
                import threading

                threads = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(parts)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
        finally:
            for db in dbs:
                db.close()
        if errors or any(o is None for o in out):
            return None
        import pyarrow as pa

        got = pa.concat_tables(out)   # no copy: the parts' chunks side by side
        out.clear()
        if not got.num_rows:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        keys = got.column(0).to_numpy().astype(np.int64, copy=False)   # one copy, from the chunks into numpy
        vals = got.column(1).to_numpy().astype(np.float64, copy=False)
        return keys, vals
    except Exception:  # noqa: BLE001 - the sqlite3 path below answers (or reports a real problem)
        return None
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
        with cur.copy(f"COPY (SELECT k::int8, v::float8 FROM ({sql}) q) TO STDOUT (FORMAT binary)",
                      params or None) as cp:
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
                    del buf[:19 + ext]
                    header = False
                n = len(buf) // size
                if n >= 65536:
                    rec = np.frombuffer(buf, dtype=_PG_RECORD, count=n)
                    keys.append(rec["k"].astype(np.int64))
                    vals.append(rec["v"].astype(np.float64))
                    del rec
                    del buf[:n * size]
    n = len(buf) // size
    if n:
        rec = np.frombuffer(buf, dtype=_PG_RECORD, count=n)
        keys.append(rec["k"].astype(np.int64))
        vals.append(rec["v"].astype(np.float64))
        del rec
    return _joined(keys, vals)


@dataclass
class _Raw:
    item_ids: np.ndarray
    item_codes: list[str]
    item_attrs: list[dict]
    d_key: np.ndarray
    d_val: np.ndarray
    f_key: np.ndarray
    f_val: np.ndarray
    stages: list[str]


def _load_raw(engine: Engine, config: AppConfig) -> _Raw | None:
    """Items, demand and forecasts from the database as packed numpy arrays."""
    for _attempt in range(3):
        raw = _read_raw(engine, config)
        if raw is None or raw[0] == raw[1]:
            return None if raw is None else raw[2]
    return raw[2]   # data kept changing while read: the last read (the next page asks again for the new version)


def _read_raw(engine: Engine, config: AppConfig) -> tuple[int, int, _Raw | None] | None:
    """(data version before, after, the arrays); None when there are no forecasts. The version is read around
    the reads: parallel readers each see their own moment, so a commit in between shows as a changed version."""
    from kpis.forecast.cache import _VERSION_SQL

    stages = list(config.forecast.stages)
    with engine.connect() as conn:
        before = conn.exec_driver_sql(_VERSION_SQL).scalar()
        items = conn.execute(select(Item.id, Item.code, Item.attributes).order_by(Item.id)).all()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        f_key, f_val = _fetch_keys(conn, "forecast", stages)
        if not len(f_key):
            return None
        if ((f_key & 63) == 63).any():  # stages not in config: read again with them appended
            extra = sorted(conn.execute(select(ForecastValue.stage).where(ForecastValue.stage.not_in(stages))
                                        .distinct()).scalars())
            stages = stages + extra
            f_key, f_val = _fetch_keys(conn, "forecast", stages)
        d_key, d_val = _fetch_keys(conn, "demand_actual", None)
        after = conn.exec_driver_sql(_VERSION_SQL).scalar()
    return before, after, _Raw(np.array([r[0] for r in items], dtype=np.int64), [r[1] for r in items],
                               [r[2] or {} for r in items], d_key, d_val, f_key, f_val, stages)
