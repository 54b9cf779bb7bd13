"""A plain DB-API connection from a database URL, without SQLAlchemy: for the few read-only queries of
commands that must start fast (the forecast CLI). Everything else uses the engine (``engine.py``)."""

from __future__ import annotations

import sqlite3
from urllib.parse import unquote


def connect(url: str):
    """A read-only DB-API connection for a sqlite:/// or postgresql:// URL; None for other URLs or in-memory SQLite."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    dialect = scheme.split("+", 1)[0]
    if dialect == "sqlite":
        path = unquote(rest[1:].split("?", 1)[0]) if rest.startswith("/") else ""
        if not path or path == ":memory:":
            return None
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    if dialect in ("postgresql", "postgres"):
        import psycopg

        return psycopg.connect("postgresql://" + rest, autocommit=True)
    return None


def scalar(conn, sql: str):
    """The first column of the first row of a query without parameters (or None)."""
    cur = conn.cursor()
    try:
        cur.execute(sql)
        row = cur.fetchone()
        return None if row is None else row[0]
    finally:
        cur.close()
