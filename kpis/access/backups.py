"""Backing up and restoring the database as an admin, with an audit event for each (kpis.store.backup does the file
work and the checks).

A restore must never bring back a data version a running server has already seen: caches (the pages', the forecast
cube's) are keyed on the newest audit id, and the restored database's ids would otherwise come round again (162 ->
restore of a backup at 160 -> 162 after one more import, showing the figures cached before the restore). So the
restore's own audit event takes an id above every id the live database and the backup ever had: the data version
only ever grows, and the forecast data version (kpis.forecast.common.VERSION_SQL counts restores) moves too.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, func, select

from kpis.access.users import User, require
from kpis.store import audit, backup
from kpis.store.engine import current_revision, head_revision, make_engine, session_factory, upgrade
from kpis.store.models import AuditEvent

ENTITY = "database"


def backup_database(engine: Engine, url: str, user: User, target: Path) -> int:
    """Copy the live database into a new owner-only file (admins only; audited); the number of pages copied."""
    require(user, "admin", engine=engine, what="backup")
    pages = backup.backup(url, Path(target))
    with session_factory(engine).begin() as s:
        audit.record(s, user=user, action="backup", entity=ENTITY, details={"file": str(target), "pages": pages})
    return pages


def check_restore(engine: Engine, user: User, source: Path) -> str:
    """The revision of a backup that may be restored (admins only; nothing changes): BackupError says what is wrong."""
    require(user, "admin", engine=engine, what="restore")
    return backup.check_backup(Path(source))


def restore_database(engine: Engine, url: str, user: User, source: Path) -> tuple[str, Path]:
    """Replace the live database with a checked backup (admins only); (the backup's revision, the copy kept aside).

    The backup is migrated to this code's revision and given a 'restore' audit event whose id is above every id seen
    before, all in a staged copy; the live database is kept aside, then replaced in one step (put back on failure)."""
    require(user, "admin", engine=engine, what="restore")
    before = _top_audit_id(backup.sqlite_path(url))

    def prepare(revision: str, staged_url: str, kept: Path) -> None:
        """Migrate the staged copy to this code's schema and give it the restore's audit event."""
        staged = make_engine(staged_url)
        try:
            if current_revision(staged) != head_revision():
                upgrade(staged)  # migrations keep the restored data
            with session_factory(staged).begin() as s:
                # above the live database when the restore began and when it was copied aside, and the backup
                top = max(before, _top_audit_id(kept), s.scalar(select(func.max(AuditEvent.id))) or 0)
                event = audit.record(
                    s,
                    user=user,
                    action="restore",
                    entity=ENTITY,
                    details={"file": str(source), "revision": revision, "kept": str(kept)},
                )
                event.id = top + 1
        finally:
            staged.dispose()

    engine.dispose()
    try:
        return backup.restore(url, Path(source), prepare=prepare)
    finally:
        engine.dispose()


def _top_audit_id(path: Path) -> int:
    """The highest audit id a SQLite file holds or ever handed out (0 when it has none yet)."""
    if not path.is_file():
        return 0
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        top = 0
        for sql in (
            "SELECT MAX(id) FROM audit_event",
            "SELECT seq FROM sqlite_sequence WHERE name = 'audit_event'",
        ):
            try:
                row = con.execute(sql).fetchone()
            except sqlite3.DatabaseError:  # no such table yet
                continue
            top = max(top, int(row[0] or 0) if row else 0)
        return top
    finally:
        con.close()
