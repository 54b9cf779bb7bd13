"""Two people editing the same record: every editable row (action, review, meeting) carries a version that
the ORM checks in its UPDATE (``UPDATE ... WHERE id = :id AND version = :loaded``, SQLAlchemy's
``version_id_col``), and a write that names the version its form was opened at is refused with
:class:`EditConflict` when the row has moved on. Nothing is overwritten silently; the refusal says who changed
the row and when, so the page can keep the person's typed text and ask them to reload."""

from __future__ import annotations

import datetime as dt
from typing import Any


class EditConflict(ValueError):
    """Someone else changed the record since the form was opened; never retried, always shown to the person."""

    def __init__(
        self,
        *,
        entity: str,
        entity_id: Any,
        by: str | None,
        at: dt.datetime | None,
        expected: int | None = None,
        current: int | None = None,
    ):
        self.entity, self.entity_id, self.by, self.at = entity, entity_id, by or "someone", at
        self.expected, self.current = expected, current
        super().__init__(self.said())

    def said(self, by: str | None = None) -> str:
        """The refusal in words, naming who changed the record as `by` (default: the stored key; a page passes
        the name kpis.access.people shows for it)."""
        when = f" at {format_at(self.at)}" if self.at is not None else ""
        return f"{self.entity} #{self.entity_id} was changed by {by or self.by}{when} since you opened it"


def format_at(at: dt.datetime) -> str:
    """A stamp as 'YYYY-MM-DD HH:MM UTC' (SQLite returns naive UTC datetimes, PostgreSQL aware ones)."""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC)
    return f"{at:%Y-%m-%d %H:%M} UTC"


def check(row: Any, expected_version: int | None, *, entity: str) -> None:
    """Refuse (EditConflict) when the caller opened `row` at another version; None = no expectation (CLI, import)."""
    if expected_version is None:
        return
    current = row.version or 1
    if int(expected_version) != current:
        raise EditConflict(
            entity=entity,
            entity_id=row.id,
            by=row.updated_by or row.created_by,
            at=row.updated_at or row.created_at,
            expected=int(expected_version),
            current=current,
        )
