"""Fast reads of stored demand and forecast rows as packed numpy arrays (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import itertools
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
    raw = conn.connection.driver_connection
    rows = raw.execute(sql, params).fetchall()
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    max_id = raw.execute(f"SELECT max(item_id) FROM {table}").fetchone()[0] or 0
    if max_id < (1 << 21):  # keys are exact in float64: one C-level pass over the row tuples
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=2 * len(rows))
        del rows
        pairs = flat.reshape(-1, 2)
        return pairs[:, 0].astype(np.int64), pairs[:, 1].copy()
    k, v = zip(*rows)
    del rows
    return np.array(k, dtype=np.int64), np.array(v, dtype=np.float64)


def _pg_fetch(conn, sql: str, params: list) -> tuple[np.ndarray, np.ndarray]:
    """Run `SELECT k (int8), v (float8) ...` on PostgreSQL as one binary COPY of two arrays."""
    raw = conn.connection.driver_connection
    buf = bytearray()
    with raw.cursor() as cur:
        # COPY takes no server-side parameters; psycopg binds them client-side with proper quoting.
        with cur.copy(f"COPY (SELECT array_agg(k), array_agg(v::float8) FROM ({sql}) q) TO STDOUT (FORMAT binary)",
                      params or None) as cp:
            while True:
                chunk = cp.read()
                if not chunk:
                    break
                buf += chunk
    mv = memoryview(buf)
    pos = 19 + 2  # header, field count
    out = []
    for dtype in (">i8", ">f8"):
        (length,) = np.frombuffer(mv[pos:pos + 4], dtype=">i4")
        pos += 4
        if length < 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        ndim = int(np.frombuffer(mv[pos:pos + 4], dtype=">i4")[0])
        n = int(np.frombuffer(mv[pos + 12:pos + 16], dtype=">i4")[0]) if ndim else 0
        start = pos + 12 + 8 * ndim
        rec = np.frombuffer(mv[start:start + 12 * n], dtype=np.dtype([("l", ">i4"), ("v", dtype)]))
        out.append(rec["v"].astype(np.int64 if dtype == ">i8" else np.float64))
        pos += int(length)
    return out[0], out[1]


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
    stages = list(config.forecast.stages)
    with engine.connect() as conn:
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
    return _Raw(np.array([r[0] for r in items], dtype=np.int64), [r[1] for r in items], [r[2] or {} for r in items],
                d_key, d_val, f_key, f_val, stages)
