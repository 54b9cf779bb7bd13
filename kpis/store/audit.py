"""The append-only audit log: every write records who and when through here."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from kpis.store.models import AuditEvent, utcnow


class Actor(Protocol):
    """Whoever acts (kpis.access.users.User fits): the store names the actor without importing a domain."""

    @property
    def name(self) -> str: ...


def record(
    session: Session,
    *,
    user: Actor,
    action: str,
    entity: str,
    entity_id: Any = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event in the caller's transaction."""
    if getattr(user, "via", None):  # an admin acting as someone else: both names are kept
        details = {**(details or {}), "via": user.via}
    ev = AuditEvent(
        at=utcnow(),
        actor=user.name[:120],
        action=action[:40],
        entity=entity[:40],
        entity_id=None if entity_id is None else str(entity_id),
        details=details,
    )
    session.add(ev)
    return ev


def data_version(engine: Engine) -> int:
    """A number that changes with every write (the newest audit id); used as a cache key."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(AuditEvent.id), 0))).scalar_one())
