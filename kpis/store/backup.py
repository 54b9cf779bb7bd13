"""Backing up and restoring a SQLite database with SQLite's online backup API (consistent while the app
runs; WAL included). PostgreSQL is backed up with its own tools (pg_dump / pg_restore, see the README).

A restore checks the file before it touches anything: an intact SQLite database whose schema revision is one this
code ships (never a newer one), holding every table, column, index and trigger that revision has (the append-only
audit triggers included) and no trigger or view of its own. Then the backup is staged next to the live database
(migrated, given its audit event by the caller), the live database is copied aside (kept as
``<file>.before-restore-<UTC time>``) and replaced by the staged copy in one step; a failure before that step
changes nothing, a failure in it puts the copy back. Who may do this (admins) and the audit events
are kpis.access.backups'.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"


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


def _readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)


def _new_private_file(path: Path) -> None:
    """Create `path` empty and owner-only; BackupError (never an OSError) when that cannot be done."""
    if path.is_symlink() or path.exists():
        raise BackupError(f"{path} exists already{' (a link)' if path.is_symlink() else ''}; choose a new file name")
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent}: no such folder; create it first or choose another place")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
    except OSError as e:
        raise BackupError(f"{path}: cannot create the file ({e.strerror})") from None


def _copy(source: Path, target: Path) -> int:
    """Copy one SQLite database into another with the online backup API; the number of pages copied."""
    src = _readonly(source)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
        return int(dst.execute("PRAGMA page_count").fetchone()[0])
    finally:
        dst.close()
        src.close()


def backup(url: str, target: Path) -> int:
    """Copy the live database into `target` (a new file, owner-only); the number of pages copied."""
    source = sqlite_path(url)
    if not source.is_file():
        raise BackupError(f"{source}: no database file")
    target = Path(target)
    _new_private_file(target)
    try:
        return _copy(source, target)
    except (sqlite3.Error, OSError) as e:
        target.unlink(missing_ok=True)
        raise BackupError(f"the backup to {target} failed ({type(e).__name__}: {e}); nothing was kept") from None


# ------------------------------------------------------------------------------------------------ checking a file


def _norm(sql: str | None) -> str:
    return " ".join((sql or "").split())


def schema_of(con: sqlite3.Connection) -> dict:
    """What a database holds: tables (their columns), named indexes, triggers (their SQL) and views."""
    rows = con.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    ).fetchall()
    tables = {
        name: frozenset(r[1] for r in con.execute("SELECT * FROM pragma_table_info(?)", (name,)))
        for kind, name, _t, _s in rows
        if kind == "table"
    }
    return {
        "table": tables,
        "index": {name: tbl for kind, name, tbl, sql in rows if kind == "index" and sql},
        "trigger": {name: (tbl, _norm(sql)) for kind, name, tbl, sql in rows if kind == "trigger"},
        "view": {name for kind, name, _t, _s in rows if kind == "view"},
    }


@lru_cache(maxsize=16)
def reference_schema(revision: str) -> dict:
    """The schema a SQLite database has at this revision: an empty database migrated to it, in a temporary folder."""
    from kpis.store.engine import make_engine, upgrade

    with tempfile.TemporaryDirectory(prefix="sop-pulse-schema-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'reference.db'}")
        try:
            upgrade(engine, revision)
            with engine.connect() as conn:
                return schema_of(conn.connection.dbapi_connection)
        finally:
            engine.dispose()


def schema_problems(have: dict, want: dict) -> list[str]:
    """What a database lacks (or holds too much of) against the schema of its revision; empty when it matches."""
    problems = [f"table {t} is missing" for t in sorted(set(want["table"]) - set(have["table"]))]
    for t in sorted(set(want["table"]) & set(have["table"])):
        missing = sorted(want["table"][t] - have["table"][t])
        if missing:
            problems.append(f"table {t} lacks column(s) {', '.join(missing)}")
    problems += [f"index {i} is missing" for i in sorted(set(want["index"]) - set(have["index"]))]
    for name in sorted(set(want["trigger"]) | set(have["trigger"])):
        if name not in have["trigger"]:
            problems.append(f"trigger {name} is missing")
        elif name not in want["trigger"]:
            problems.append(f"trigger {name} is not part of the schema")
        elif have["trigger"][name] != want["trigger"][name]:
            problems.append(f"trigger {name} differs from the schema's")
    problems += [f"view {v} is not part of the schema" for v in sorted(have["view"] - want["view"])]
    return problems


def check_backup(path: Path) -> str:
    """The schema revision of a backup file, after checking (without changing anything) that it is an intact SQLite
    database of this app at a revision this code ships, with every table, column, index and trigger of that
    revision and no trigger or view of its own; BackupError with the reason otherwise."""
    from kpis.store.engine import known_revisions

    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: file not found")
    with path.open("rb") as fh:
        if fh.read(16) != SQLITE_HEADER:
            raise BackupError(f"{path} is not a SQLite database")
    try:
        con = _readonly(path)
    except sqlite3.Error as e:
        raise BackupError(f"{path} cannot be opened ({e})") from None
    try:
        try:
            if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{path} fails SQLite's integrity check")
            kind = con.execute("SELECT type FROM sqlite_master WHERE name = 'alembic_version'").fetchone()
            # read only from a table: a view of that name could run any query
            is_table = kind is not None and kind[0] == "table"
            revs = con.execute("SELECT version_num FROM alembic_version LIMIT 2").fetchall() if is_table else []
            have = schema_of(con)
        except sqlite3.DatabaseError as e:
            raise BackupError(f"{path} is damaged ({e}); it cannot be restored") from None
    finally:
        con.close()
    if kind is not None and kind[0] != "table":
        raise BackupError(f"{path}: its schema revision is a {kind[0]}, not a table; it cannot be restored")
    if len(revs) != 1:
        raise BackupError(f"{path} is not an S&OP Pulse database (no schema revision)")
    rev = str(revs[0][0])
    known = known_revisions()
    if rev not in known:
        raise BackupError(
            f"{path} is at schema revision {rev}, which this version of S&OP Pulse does not know (it knows "
            f"{known[0]} to {known[-1]}); restore it with the version that made it"
        )
    problems = schema_problems(have, reference_schema(rev))
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise BackupError(f"{path} does not hold the schema of revision {rev} ({shown}); it cannot be restored")
    return rev


# ------------------------------------------------------------------------------------------------------ restoring


def restore(url: str, source: Path, *, prepare: Callable[[str, str, Path], None] | None = None) -> tuple[str, Path]:
    """Replace the live database's content with a checked backup; (its revision, the copy of the database as it was).

    Nothing changes until the file has passed check_backup. The backup is copied into a staging file next to the
    live database, the live database is copied aside (kept, owner-only) and `prepare(revision, staging_url, kept)`
    readies the staged copy (migrations, the audit event); only then is the live database replaced, in one step of
    SQLite's backup API (one transaction: a kill leaves the old database or the new one, never a mix). A failure
    before that step changes nothing; a failure in it puts the copy back. BackupError says which happened."""
    from kpis import redact

    rev = check_backup(source)
    target = sqlite_path(url)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    kept = target.with_name(f"{target.name}.before-restore-{stamp}")
    staging = target.with_name(f"{target.name}.restoring-{stamp}")
    _new_private_file(staging)
    try:
        try:
            _copy(Path(source), staging)
            _new_private_file(kept)
            if target.exists():
                _copy(target, kept)
            if prepare is not None:
                prepare(rev, f"sqlite:///{staging}", kept)
        except BaseException as exc:
            kept.unlink(missing_ok=True)
            if not isinstance(exc, Exception):
                raise
            raise BackupError(
                f"the restore could not be prepared ({_reason(exc, redact)}); the database was not touched"
            ) from None
        try:
            _copy(staging, target)
        except BaseException as exc:
            try:
                _copy(kept, target)
            except Exception as again:
                raise BackupError(
                    f"the restore failed ({type(exc).__name__}) and putting the database back failed too ({again}); "
                    f"the database as it was is kept in {kept}: stop the app and copy that file over {target}"
                ) from None
            if not isinstance(exc, Exception):
                raise
            raise BackupError(
                f"the restore failed ({_reason(exc, redact)}); the database was put back as it was (a copy is kept "
                f"in {kept})"
            ) from None
    finally:
        for leftover in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm"), Path(f"{staging}-journal")):
            leftover.unlink(missing_ok=True)
    return rev, kept


def _reason(exc: BaseException, redact) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {redact.text(first)[:200]}" if first else type(exc).__name__
