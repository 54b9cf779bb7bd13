"""Repository functions: the read queries pages and the CLI use."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from kpis.config import AppConfig
from kpis.store.models import AuditEvent, ImportBatch, KpiValue


def load_values(engine: Engine, kpi_ids: list[str] | None = None, segment: str | None = "") -> pd.DataFrame:
    """KPI values as a frame (kpi_id, segment, period, value, note); segment None = all segments."""
    q = select(KpiValue.kpi_id, KpiValue.segment, KpiValue.period, KpiValue.value, KpiValue.note)
    if kpi_ids is not None:
        q = q.where(KpiValue.kpi_id.in_(kpi_ids))
    if segment is not None:
        q = q.where(KpiValue.segment == segment)
    q = q.order_by(KpiValue.kpi_id, KpiValue.segment, KpiValue.period)
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(q).all(), columns=["kpi_id", "segment", "period", "value", "note"])
    df["period"] = pd.to_datetime(df["period"])
    df["value"] = df["value"].astype(float)
    return df


def segments(engine: Engine, kpi_id: str) -> list[str]:
    """Segments a KPI has values for ('' = total first)."""
    with engine.connect() as conn:
        rows = conn.execute(select(KpiValue.segment).where(KpiValue.kpi_id == kpi_id).distinct()).scalars().all()
    return sorted(rows, key=lambda s: (s != "", s))


def current_through(engine: Engine) -> pd.DataFrame:
    """Per KPI: latest period with data, number of values, segments, last change."""
    q = select(
        KpiValue.kpi_id,
        func.max(KpiValue.period),
        func.count(),
        func.count(func.distinct(KpiValue.segment)),
        func.max(func.coalesce(KpiValue.updated_at, KpiValue.created_at)),
    ).group_by(KpiValue.kpi_id)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return pd.DataFrame(rows, columns=["kpi_id", "last_period", "values", "segments", "last_change"])


def import_history(engine: Engine, limit: int = 100) -> pd.DataFrame:
    """Past imports, newest first."""
    q = (
        select(
            ImportBatch.id,
            ImportBatch.created_at,
            ImportBatch.created_by,
            ImportBatch.kind,
            ImportBatch.filename,
            ImportBatch.rows_in_file,
            ImportBatch.inserted,
            ImportBatch.updated,
            ImportBatch.unchanged,
        )
        .order_by(ImportBatch.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return pd.DataFrame(rows, columns=["id", "when", "who", "kind", "file", "rows", "inserted", "updated", "unchanged"])


def find_import(engine: Engine, sha256: str, kind: str) -> dict[str, Any] | None:
    """The latest import of a file with this content hash, if any."""
    q = (
        select(ImportBatch.created_at, ImportBatch.created_by, ImportBatch.filename)
        .where(ImportBatch.sha256 == sha256, ImportBatch.kind == kind)
        .order_by(ImportBatch.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(q).first()
    return None if row is None else {"when": row[0], "who": row[1], "file": row[2]}


def _audit_filtered(
    q, *, entity: str | None = None, actors=(), entities=(), since: dt.date | None = None, until: dt.date | None = None
):
    """The audit query narrowed in SQL (bound parameters): people, record types, and days from `since` to `until`
    (both included, UTC)."""
    if entity:
        q = q.where(AuditEvent.entity == entity)
    if actors:
        q = q.where(AuditEvent.actor.in_(list(actors)))
    if entities:
        q = q.where(AuditEvent.entity.in_(list(entities)))
    if since is not None:
        q = q.where(AuditEvent.at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    if until is not None:
        q = q.where(AuditEvent.at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), dt.UTC))
    return q


def audit_log(
    engine: Engine,
    limit: int = 200,
    entity: str | None = None,
    *,
    actors=(),
    entities=(),
    since: dt.date | None = None,
    until: dt.date | None = None,
    offset: int = 0,
) -> pd.DataFrame:
    """Newest audit events first, optionally narrowed to people, record types and a UTC date range."""
    q = select(
        AuditEvent.id,
        AuditEvent.at,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.entity,
        AuditEvent.entity_id,
        AuditEvent.details,
    )
    q = _audit_filtered(q, entity=entity, actors=actors, entities=entities, since=since, until=until)
    q = q.order_by(AuditEvent.id.desc()).limit(limit).offset(max(int(offset), 0))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return pd.DataFrame(rows, columns=["id", "at", "actor", "action", "entity", "entity_id", "details"])


def audit_count(
    engine: Engine, *, actors=(), entities=(), since: dt.date | None = None, until: dt.date | None = None
) -> int:
    """How many audit events match the same filters as audit_log."""
    q = _audit_filtered(
        select(func.count()).select_from(AuditEvent), actors=actors, entities=entities, since=since, until=until
    )
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def audit_choices(engine: Engine) -> tuple[list[str], list[str]]:
    """The people and the record types in the audit log, alphabetically (the filters' options)."""
    with engine.connect() as conn:
        actors = conn.execute(select(AuditEvent.actor).distinct().order_by(AuditEvent.actor)).scalars().all()
        entities = conn.execute(select(AuditEvent.entity).distinct().order_by(AuditEvent.entity)).scalars().all()
    return list(actors), list(entities)


def is_empty(engine: Engine) -> bool:
    """True when no KPI value has been loaded yet."""
    with engine.connect() as conn:
        return conn.execute(select(KpiValue.id).limit(1)).first() is None


def today() -> dt.date:
    return dt.date.today()


def kpi_totals(engine: Engine, config: AppConfig, kpi_ids: list[str] | None = None) -> pd.DataFrame:
    """One series per KPI (kpi_id, period, value, partial): the stored total (segment ''), or, for a KPI stored
    only by segment, the segments rolled up in SQL (sum for rollup 'sum', mean otherwise). A rolled-up period in
    which one of the KPI's segments has no value is partial (`segments` of `expected` present), like a rolled-up
    period missing a sub-period: its total is not comparable with the others."""
    has_total = select(KpiValue.kpi_id).where(KpiValue.segment == "").distinct()
    totals = select(KpiValue.kpi_id, KpiValue.period, KpiValue.value).where(KpiValue.segment == "")
    rolled = (
        select(
            KpiValue.kpi_id,
            KpiValue.period,
            func.sum(KpiValue.value),
            func.avg(KpiValue.value),
            func.count(KpiValue.segment),
        )
        .where(KpiValue.segment != "", KpiValue.kpi_id.not_in(has_total))
        .group_by(KpiValue.kpi_id, KpiValue.period)
    )
    segments = (
        select(KpiValue.kpi_id, func.count(func.distinct(KpiValue.segment)))
        .where(KpiValue.segment != "", KpiValue.kpi_id.not_in(has_total))
        .group_by(KpiValue.kpi_id)
    )
    if kpi_ids is not None:
        totals = totals.where(KpiValue.kpi_id.in_(kpi_ids))
        rolled = rolled.where(KpiValue.kpi_id.in_(kpi_ids))
        segments = segments.where(KpiValue.kpi_id.in_(kpi_ids))
    with engine.connect() as conn:
        t = pd.DataFrame(conn.execute(totals).all(), columns=["kpi_id", "period", "value"])
        r = pd.DataFrame(conn.execute(rolled).all(), columns=["kpi_id", "period", "sum", "mean", "segments"])
        expected = dict(conn.execute(segments).all())
    t = t.assign(partial=False, segments=float("nan"), expected=float("nan"))
    if len(r):
        summed = r["kpi_id"].map({k.id: k.rollup == "sum" for k in config.kpis}).fillna(False).astype(bool)
        r["value"] = r["sum"].where(summed, r["mean"])
        r["expected"] = r["kpi_id"].map(expected).astype(float)
        r["segments"] = r["segments"].astype(float)
        r["partial"] = r["segments"] < r["expected"]
        cols = ["kpi_id", "period", "value", "partial", "segments", "expected"]
        t = pd.concat([t, r[cols]], ignore_index=True) if len(t) else r[cols].reset_index(drop=True)
    t["period"] = pd.to_datetime(t["period"])
    t["value"] = t["value"].astype(float)
    t["partial"] = t["partial"].astype(bool)
    return t.sort_values(["kpi_id", "period"], ignore_index=True)
