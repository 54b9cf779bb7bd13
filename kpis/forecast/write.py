"""Writing checked demand and forecast rows in the import's transaction (kpis.imports.runner): the comparison with
what is stored, the granularity check, the bulk write, and the changed values kept for the audit log."""

from __future__ import annotations

import contextlib
import datetime as dt

import numpy as np
from sqlalchemy import insert, update

from kpis.forecast.bulk import Columns, bp, pg_write, sqlite_bulk, sqlite_write
from kpis.forecast.common import period_start
from kpis.forecast.sql import fetch_keys, placeholder, stored_cadences, stored_items
from kpis.forecast.validate import Rows
from kpis.imports.problems import ImportFailed, Problem
from kpis.imports.runner import Writing
from kpis.periods import label as periods_label
from kpis.store.models import Item


@contextlib.contextmanager
def transaction(engine, rows):
    """The import's transaction on one connection (bulk settings for a big SQLite load); two imports at the same time
    are checked and written one after the other (SQLite BEGIN IMMEDIATE, a PostgreSQL table lock)."""
    with engine.connect() as conn, sqlite_bulk(conn, getattr(rows, "n", 0) or 0):
        trans = conn.begin()
        try:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif conn.dialect.name == "postgresql":
                conn.exec_driver_sql("LOCK TABLE demand_actual, forecast IN SHARE ROW EXCLUSIVE MODE")
            yield conn
            trans.commit()
        except BaseException:
            if trans.is_active:
                trans.rollback()
            raise


def check_granularity(conn, rows: Rows, filename: str) -> None:
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


def store_rows(rows: Rows, w: Writing) -> None:
    """Insert new and update changed rows (and a demand file's items) in the import's transaction; count what
    changed into w.result."""
    conn, result, user, now, progress = w.handle, w.result, w.user, w.now, w.progress
    kind, dialect = result.kind, conn.dialect.name
    check_granularity(conn, rows, w.source.name)
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
        return
    w.batch_id  # noqa: B018 -- opens the import batch the rows point to
    if new_items:
        conn.execute(insert(Item), new_items)
    if changed_items:
        stmt = (
            update(Item)
            .where(Item.id == bp("b_id"))
            .values(attributes=bp("b_attrs"), updated_at=now, updated_by=user.name)
        )
        conn.execute(stmt, [{"b_id": i, "b_attrs": m} for i, _c, _o, m in changed_items])
    if new_items:
        known = stored_items(conn)
        ids = np.array([known[c][0] for c in rows.items], dtype=np.int64)
        row_ids = ids[rows.item_codes]
    kept = changed_rows(rows, changed, old, day, lag, stg, kind)
    cols = Columns(row_ids, day, lag, stg, rows.stages, rows.value, result.batch_id)
    writer = sqlite_write if dialect == "sqlite" else pg_write
    writer(conn, table, cols, is_new, changed, progress)
    w.details.update(
        items_added=result.items_added,
        items_changed=result.items_changed,
        changed_item_attributes=[{"item": c, "old": o, "new": m} for _i, c, o, m in changed_items[:50]],
        changed_values=kept,
    )
    progress(0.98, "committing")


CHANGED_ROWS_KEPT = 500


def changed_rows(
    rows: Rows, changed: np.ndarray, old: np.ndarray, day: np.ndarray, lag: np.ndarray, stg: np.ndarray, kind: str
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
