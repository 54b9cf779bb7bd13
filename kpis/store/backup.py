"""Backing up and restoring a SQLite database with SQLite's online backup API (consistent while the app
runs; WAL included). PostgreSQL is backed up with its own tools (pg_dump / pg_restore, see the README)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


class BackupError(ValueError):
    """A backup or restore that cannot be done, with the reason."""


def sqlite_path(url: str) -> Path:
    """The file of a sqlite:/// URL; BackupError for any other database."""
    if not url.startswith("sqlite"):
        raise BackupError(
            "backup and restore work on SQLite databases; back up PostgreSQL with pg_dump "
            "(see the README, 'Using PostgreSQL')"
        )
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(path)


def backup(url: str, target: Path) -> int:
    """Copy the live database into `target` (a new file, owner-only); the number of pages copied."""
    source = sqlite_path(url)
    if not source.is_file():
        raise BackupError(f"{source}: no database file")
    target = Path(target)
    if target.exists():
        raise BackupError(f"{target} exists already; choose a new file name")
    os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        return int(dst.execute("PRAGMA page_count").fetchone()[0])
    finally:
        dst.close()
        src.close()


def check_backup(path: Path) -> str:
    """The schema revision of a backup file, after checking it is an intact SQLite database of this app."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: file not found")
    with path.open("rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise BackupError(f"{path} is not a SQLite database")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"{path} fails SQLite's integrity check")
        try:
            rev = con.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            rev = None
        if not rev:
            raise BackupError(f"{path} is not an S&OP Pulse database (no schema revision)")
        return str(rev[0])
    finally:
        con.close()


def restore(url: str, source: Path) -> str:
    """Replace the live database's content with a checked backup (one step, online backup API); its revision."""
    rev = check_backup(source)
    target = sqlite_path(url)
    src = sqlite3.connect(f"file:{Path(source)}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return rev
