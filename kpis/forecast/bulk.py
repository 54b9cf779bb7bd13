"""Bulk writes of demand and forecast rows: SQLite executemany in chunks, PostgreSQL binary COPY."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from dataclasses import dataclass

import numpy as np

from kpis.forecast.common import (
    Progress,
)


def bp(name: str):
    from sqlalchemy import bindparam

    return bindparam(name)


@dataclass
class Columns:
    item_id: np.ndarray
    day: np.ndarray
    lag: np.ndarray
    stage: np.ndarray
    stages: list[str]
    value: np.ndarray
    batch_id: int


def _iso_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes into a table of ISO date strings for day numbers (shares one str object per date)."""
    uniq, inv = np.unique(days, return_inverse=True)
    text = np.array([str(d) for d in uniq.astype("datetime64[D]")], dtype=object)
    return text, inv


def sqlite_write(conn, table: str, c: Columns, is_new: np.ndarray, changed: np.ndarray, progress: Progress) -> None:
    """executemany in chunks on the raw sqlite3 connection (inside the caller's transaction)."""
    raw = conn.connection.driver_connection
    cur = raw.cursor()
    cur.execute("PRAGMA cache_size=-65536")  # 64 MB page cache for the bulk insert
    text, inv = _iso_days(c.day)
    stage_names = np.array(c.stages or [""], dtype=object)
    chunk = 100_000
    try:
        for part, sel in (("insert", np.flatnonzero(is_new)), ("update", np.flatnonzero(changed))):
            if not len(sel):
                continue
            # in primary-key order: index pages fill by appending instead of splitting all over the tree
            sel = sel[np.lexsort((c.stage[sel], c.lag[sel], c.day[sel], c.item_id[sel]))]
            if table == "forecast":
                sql = (
                    "INSERT INTO forecast (forecast, import_id, item_id, period, lag, stage) VALUES (?, ?, ?, ?, ?, ?)"
                    if part == "insert"
                    else "UPDATE forecast SET forecast = ?, import_id = ? "
                    "WHERE item_id = ? AND period = ? AND lag = ? AND stage = ?"
                )
            else:
                sql = (
                    "INSERT INTO demand_actual (actual, import_id, item_id, period) VALUES (?, ?, ?, ?)"
                    if part == "insert"
                    else "UPDATE demand_actual SET actual = ?, import_id = ? WHERE item_id = ? AND period = ?"
                )
            for s in range(0, len(sel), chunk):
                idx = sel[s : s + chunk]
                cols = [
                    c.value[idx].tolist(),
                    itertools.repeat(c.batch_id),
                    c.item_id[idx].tolist(),
                    text[inv[idx]].tolist(),
                ]
                if table == "forecast":
                    cols += [c.lag[idx].tolist(), stage_names[c.stage[idx]].tolist()]
                cur.executemany(sql, zip(*cols))
                done = min(s + chunk, len(sel))
                progress(0.4 + 0.55 * done / max(len(sel), 1), f"{part}: {done:,} of {len(sel):,} rows")
    finally:
        cur.execute("PRAGMA cache_size=-2000")
        cur.close()


BULK_ROWS = 200_000  # above this many rows foreign keys are checked once per load instead of per row


@contextlib.contextmanager
def sqlite_bulk(conn, rows: int):
    """Around a big SQLite load's transaction (pragmas change only outside one, so they are set before and restored
    after): no per-row foreign-key lookups (every item id was read in the write transaction, BEGIN IMMEDIATE, no
    other writer, and import_id is the batch inserted in it), and no checkpoint at commit: the commit returns when
    the load is in the write-ahead log, and `checkpoint_later` copies it into the database file while the accuracy
    views are prepared (on a 20 M-row load, 7 s less to wait)."""
    big = conn.dialect.name == "sqlite" and rows > BULK_ROWS
    if big:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
        conn.commit()
    try:
        yield big
    finally:
        if big:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=1000")
            conn.commit()


def checkpoint_later(engine):
    """Start copying the write-ahead log into the SQLite database file on a thread of its own (a PASSIVE checkpoint:
    it never blocks readers or writers); returns a function that waits for it (None: nothing to do)."""
    if engine.dialect.name != "sqlite":
        return None
    import threading

    def run() -> None:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:
            pass

    worker = threading.Thread(target=run, name="sop-pulse-checkpoint", daemon=True)
    worker.start()
    return worker.join


_PG_EPOCH = (dt.date(2000, 1, 1) - dt.date(1970, 1, 1)).days
_PG_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"


def _pg_binary(c: Columns, idx: np.ndarray, table: str):
    """Yield rows idx as PostgreSQL binary COPY chunks (value, import_id, item_id, period[, lag, stage])."""
    yield _PG_HEADER
    groups = [(None, idx)] if table != "forecast" else [(s, idx[c.stage[idx] == s]) for s in np.unique(c.stage[idx])]
    for s, sub in groups:
        if not len(sub):
            continue
        fields = [
            ("nf", ">i2"),
            ("l0", ">i4"),
            ("v0", ">f8"),
            ("l1", ">i4"),
            ("v1", ">i8"),
            ("l2", ">i4"),
            ("v2", ">i4"),
            ("l3", ">i4"),
            ("v3", ">i4"),
        ]
        sb = b""
        if table == "forecast":
            sb = c.stages[s].encode()
            fields += [("l4", ">i4"), ("v4", ">i2"), ("l5", ">i4"), ("v5", f"S{max(len(sb), 1)}")]
        for start in range(0, len(sub), 500_000):
            j = sub[start : start + 500_000]
            rec = np.empty(len(j), dtype=np.dtype(fields))
            rec["nf"] = 6 if table == "forecast" else 4
            rec["l0"], rec["v0"] = 8, c.value[j]
            rec["l1"], rec["v1"] = 8, c.batch_id
            rec["l2"], rec["v2"] = 4, c.item_id[j]
            rec["l3"], rec["v3"] = 4, c.day[j] - _PG_EPOCH
            if table == "forecast":
                rec["l4"], rec["v4"] = 2, c.lag[j]
                rec["l5"], rec["v5"] = len(sb), sb
            yield rec.tobytes()
    yield b"\xff\xff"


def pg_drop_fks(cur, table: str) -> list[tuple[str, str]]:
    """Drop the table's foreign keys (bulk load: per-row FK triggers dominate); returns them for pg_add_fks.
    Only the table's owner may: an app role that does not own the schema (README) keeps the per-row checks."""
    owner = cur.execute(
        "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass", (table,)
    ).fetchone()[0]
    if not owner:
        return []
    fks = cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        (table,),
    ).fetchall()
    for name, _def in fks:
        cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return fks


def pg_add_fks(cur, table: str, fks: list[tuple[str, str]]) -> None:
    """Re-add (and so validate) the foreign keys pg_drop_fks dropped."""
    for name, definition in fks:
        cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def pg_write(
    conn, table: str, c: Columns, is_new: np.ndarray, changed: np.ndarray, progress: Progress, manage_fks: bool = True
) -> None:
    """Binary COPY of new rows straight into the table; changed rows through a temp table and one UPDATE.
    manage_fks=False leaves the foreign keys to the caller (a load written in several parts)."""
    raw = conn.connection.driver_connection
    cols = (
        "forecast, import_id, item_id, period, lag, stage"
        if table == "forecast"
        else "actual, import_id, item_id, period"
    )
    keys = ["item_id", "period", "lag", "stage"] if table == "forecast" else ["item_id", "period"]
    val = "forecast" if table == "forecast" else "actual"
    new_idx = np.flatnonzero(is_new)
    with raw.cursor() as cur:
        fks = []
        if manage_fks and len(new_idx) > BULK_ROWS:
            fks = pg_drop_fks(cur, table)
        if len(new_idx):
            done = 0
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT binary)") as cp:
                for p in _pg_binary(c, new_idx, table):
                    cp.write(p)
                    done += max(len(p) // 60, 0)
                    progress(0.4 + 0.45 * min(done / len(new_idx), 1.0), f"insert: {min(done, len(new_idx)):,} rows")
        if fks:
            progress(0.87, "checking references")
            pg_add_fks(cur, table, fks)
        ch_idx = np.flatnonzero(changed)
        if len(ch_idx):
            progress(0.9, f"update: {len(ch_idx):,} rows")
            ddl = (
                "forecast float8, import_id int8, item_id int4, period date, lag int2, stage varchar(40)"
                if table == "forecast"
                else "actual float8, import_id int8, item_id int4, period date"
            )
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS _stage_{table} ({ddl}) ON COMMIT DROP")
            cur.execute(f"TRUNCATE _stage_{table}")
            with cur.copy(f"COPY _stage_{table} ({cols}) FROM STDIN (FORMAT binary)") as cp:
                for p in _pg_binary(c, ch_idx, table):
                    cp.write(p)
            match = " AND ".join(f"t.{k} = s.{k}" for k in keys)
            cur.execute(
                f"UPDATE {table} t SET {val} = s.{val}, import_id = s.import_id FROM _stage_{table} s WHERE {match}"
            )
