"""Database engines: SQLite (WAL, busy timeout, foreign keys) by default, PostgreSQL by URL."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _private_file(path: Path) -> None:
    """Create a new SQLite file (and any missing folders) readable by the owner only; SQLite gives its -wal and
    -shm files the same permissions. Existing files and folders are left as they are."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):  # mkdir(parents=True) would give the folders above the default mode
        folder.mkdir(mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


class DatabaseUrlError(ValueError):
    """A database URL this app cannot use (unknown driver, invalid port, not a URL); the message holds no password."""


class MigrationError(ValueError):
    """A schema migration that cannot run as asked (an unknown revision), with the reason."""


def check_url(url: str) -> None:
    """DatabaseUrlError, naming what is wrong without the password, for a URL SQLAlchemy cannot read or drive."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from kpis import redact

    shown = redact.url(url, user=False)
    try:
        u = make_url(url)
    except ValueError as exc:  # int(port) failed, among others
        raise DatabaseUrlError(
            f"the database URL ({shown}) is not valid: {redact.text(exc, urls=(url,))}; "
            "a port is a number, e.g. postgresql+psycopg://user@host:5432/sop"
        ) from None
    except ArgumentError:
        raise DatabaseUrlError(
            f"the database URL ({shown}) is not a URL; use sqlite:///path/file.db or postgresql+psycopg://user@host/db"
        ) from None
    try:
        u.get_dialect()
    except (NoSuchModuleError, ImportError):
        raise DatabaseUrlError(
            f"the database URL names an unknown driver '{u.drivername}'; use sqlite:///path/file.db or "
            "postgresql+psycopg://user@host/db"
        ) from None


def make_engine(url: str, **kwargs) -> Engine:
    """A new engine for the URL; SQLite gets its folder created and its pragmas set on connect. The URL's secrets
    are remembered by kpis.redact, so no later message shows them."""
    from kpis import redact

    redact.remember(url)
    check_url(url)
    if url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        path = make_url(url).database  # None or "" for "sqlite://" (in memory)
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_file(Path(path))
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One shared engine per URL for the process."""
    return make_engine(url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to the engine; objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to revision on this engine."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Roll migrations back to revision (a known one, 'base', or a relative step such as '-1'); MigrationError, before
    anything changes, for a revision this code does not ship or one above the database's."""
    from alembic import command

    if revision not in ("base",) and not revision.startswith(("-", "+")) and revision not in known_revisions():
        raise MigrationError(
            f"there is no schema revision '{revision}'; the revisions are {', '.join(known_revisions())} (or base)"
        )
    try:
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), revision)
    except Exception as exc:
        if type(exc).__name__ != "CommandError":  # alembic.util.CommandError: a target it cannot reach
            raise
        raise MigrationError(f"cannot downgrade to {revision}: {str(exc).splitlines()[0][:200]}") from None


def known_revisions() -> list[str]:
    """Every schema revision this code ships, oldest first."""
    return list(reversed([s.revision for s in _script().walk_revisions()]))


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None = empty)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest migration this code ships (what `db upgrade` brings a database to)."""
    return _script().get_current_head()


def _script():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def _alembic_config(conn):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def describe_db_error(exc: BaseException) -> str:
    """A short, safe description of a database error: its kind and the driver's first line, never SQL, values or a
    password (kpis.redact takes out every URL secret, also the tail of a password a driver shows as a host name)."""
    from kpis import redact

    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    if "[SQL:" in first or "parameters" in first.lower():
        first = ""
    first = redact.text(first)
    return f"{type(orig).__name__}: {first[:200]}" if first else type(orig).__name__
