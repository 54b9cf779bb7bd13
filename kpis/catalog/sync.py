"""Keeping the kpi table in step with config.toml; every change (a target change too) is audited."""

from __future__ import annotations

from sqlalchemy import Engine, select

from kpis.access.users import User
from kpis.config import AppConfig
from kpis.store import audit
from kpis.store.engine import session_factory
from kpis.store.models import Kpi, utcnow

_TRACKED = (
    "name",
    "function",
    "owner",
    "unit",
    "direction",
    "cadence",
    "target",
    "band",
    "amber",
    "red",
    "rollup",
    "practices",
    "min",
    "max",
    "source",
    "forecast_metric",
    "forecast_lag",
    "records_metric",
    "description",
)


def sync_catalog(engine: Engine, config: AppConfig, user: User) -> list[str]:
    """Upsert the config's KPIs into the kpi table; audit every change (target changes included)."""
    changes: list[str] = []
    wanted = {k.id: k for k in config.kpis}
    with session_factory(engine).begin() as s:
        existing = {k.id: k for k in s.scalars(select(Kpi))}
        for kid, kpi in wanted.items():
            definition = kpi.model_dump(mode="json", by_alias=True)
            row = existing.get(kid)
            if row is None:
                s.add(
                    Kpi(
                        id=kid,
                        name=kpi.name,
                        function=kpi.function,
                        owner=kpi.owner,
                        unit=kpi.unit,
                        direction=kpi.direction,
                        cadence=kpi.cadence,
                        definition=definition,
                        active=True,
                        synced_at=utcnow(),
                        synced_by=user.name,
                    )
                )
                audit.record(
                    s, user=user, action="create", entity="kpi", entity_id=kid, details={"definition": definition}
                )
                changes.append(f"added KPI {kid}")
                continue
            diff = {
                f: {"old": row.definition.get(f), "new": definition.get(f)}
                for f in _TRACKED
                if row.definition.get(f) != definition.get(f)
            }
            if diff or not row.active:
                row.name, row.function, row.owner, row.unit = kpi.name, kpi.function, kpi.owner, kpi.unit
                row.direction, row.cadence, row.definition, row.active = kpi.direction, kpi.cadence, definition, True
                row.synced_at, row.synced_by = utcnow(), user.name
                audit.record(s, user=user, action="update", entity="kpi", entity_id=kid, details={"changed": diff})
                changes.append(f"updated KPI {kid}: {', '.join(diff) or 'reactivated'}")
        for kid, row in existing.items():
            if kid not in wanted and row.active:
                row.active = False
                row.synced_at, row.synced_by = utcnow(), user.name
                audit.record(s, user=user, action="deactivate", entity="kpi", entity_id=kid)
                changes.append(f"deactivated KPI {kid} (no longer in config)")
    return changes
