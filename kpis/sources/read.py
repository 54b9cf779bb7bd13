"""What a source holds: a database query or table as text cells, or the files of a path not imported yet.

A database is read through SQLAlchemy on a connection of its own (no pool): read-only where the database allows it
(SQLite ``mode=ro``, PostgreSQL ``default_transaction_read_only``, MySQL/MariaDB ``SET SESSION TRANSACTION READ
ONLY``), with a time-out to connect and for the statement, the password taken from the environment variable named
by ``password_env``. No message carries the password: it is handed to kpis.redact before the first connection.
"""

from __future__ import annotations

import datetime as dt
import decimal
import glob
import hashlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kpis import redact
from kpis.sources.config import SourceConfig


class Unreachable(Exception):
    """The source could not be reached or read; the message is one safe line."""


def _cell(v: object) -> str:
    """A database value as the text a CSV file would hold."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) and v.tzinfo is None else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8", "replace")
    return str(v)


def _options(src: SourceConfig, backend: str, driver: str) -> tuple[dict, list[str]]:
    """connect_args and the statements that make a session read-only and bound its statements in time."""
    t = src.timeout
    if backend == "postgresql":
        args = {"connect_timeout": max(1, math.ceil(t))}
        if driver in ("psycopg", "psycopg2"):
            args["options"] = f"-c default_transaction_read_only=on -c statement_timeout={int(t * 1000)}"
        return args, []
    if backend in ("mysql", "mariadb"):
        args = {"connect_timeout": max(1, math.ceil(t)), "read_timeout": max(1, math.ceil(t))}
        # MariaDB: max_statement_time (seconds); MySQL: max_execution_time (milliseconds); each ignores the other
        return args, [
            "SET SESSION TRANSACTION READ ONLY",
            f"SET SESSION max_statement_time = {float(t)}",
            f"SET SESSION max_execution_time = {int(t * 1000)}",
        ]
    if backend == "sqlite":
        return {"timeout": t}, []
    return {}, []


def database_table(src: SourceConfig, base: Path | None = None) -> pd.DataFrame:
    """The query's (or table's) rows as text cells, records numbered from 1 by the runner; Unreachable on failure."""
    from sqlalchemy import MetaData, Table, create_engine, select, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    try:
        url = make_url(src.url)
    except Exception:
        raise Unreachable(f"url is not a database URL SQLAlchemy can read: {redact.url(src.url, user=False)}") from None
    try:
        password = src.password()
    except KeyError as e:
        raise Unreachable(f"environment variable {e.args[0]} (password_env) is not set") from None
    if password:
        redact.remember_secret(password)
        url = url.set(password=password)
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite":
        db = url.database or ""
        if base is not None and db and not Path(db).is_absolute():
            db = str((base / db).resolve())
        if not db or db == ":memory:" or not Path(db).is_file():
            raise Unreachable(f"SQLite database {db or '(none)'} not found")
        url = url.set(database=f"file:{db}?mode=ro", query={**url.query, "uri": "true"})
    connect_args, statements = _options(src, backend, driver)
    where = src.where()
    try:
        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    except Exception as e:  # a driver that is not installed
        raise Unreachable(f"cannot use {redact.url(src.url, user=False)}: {redact.text(e)[:200]}") from None
    try:
        with engine.connect() as conn:
            for s in statements:
                try:
                    conn.exec_driver_sql(s)
                except Exception:
                    conn.rollback()  # this server has no such setting
            if src.table:
                schema, _, name = src.table.rpartition(".")
                t = Table(name, MetaData(), schema=schema or None, autoload_with=conn)
                result = conn.execute(select(t))
            else:
                result = conn.execute(text(src.query))
            names = list(map(str, result.keys()))
            rows = result.fetchall()
            conn.rollback()
    except Exception as e:
        from kpis.store.engine import describe_db_error

        raise Unreachable(f"cannot read {where}: {describe_db_error(e)}") from None
    finally:
        engine.dispose()
    cells = np.array([[_cell(v) for v in r] for r in rows], dtype=object).reshape(len(rows), len(names))
    return pd.DataFrame(cells, columns=names)


@dataclass(frozen=True)
class PathFile:
    """A file of a path source: where, its size and modification time when listed."""

    path: Path
    size: int
    mtime: float


def list_files(src: SourceConfig, base: Path | None = None) -> list[PathFile]:
    """The files the path (a file or a glob, relative to the config file's folder) names, oldest first;
    Unreachable when a plain file is missing or the folder cannot be read."""
    pattern = src.path or ""
    if base is not None and not os.path.isabs(pattern):
        pattern = str(base / pattern)
    is_glob = glob.has_magic(pattern)
    if not is_glob and not os.path.isfile(pattern):
        raise Unreachable(f"{src.path}: file not found")
    if is_glob:
        folder = Path(pattern).parent
        while glob.has_magic(str(folder)):
            folder = folder.parent
        if not folder.is_dir():
            raise Unreachable(f"{src.path}: folder {folder} not found")
    out = []
    for p in glob.glob(pattern, recursive=True) if is_glob else [pattern]:
        try:
            st = os.stat(p)
        except OSError:
            continue
        if os.path.isfile(p):
            out.append(PathFile(Path(p), st.st_size, st.st_mtime))
    return sorted(out, key=lambda f: (f.mtime, str(f.path)))


def settled(files: list[PathFile], settle: float) -> tuple[list[PathFile], list[PathFile]]:
    """(ready, still being written): a file changed within `settle` seconds is looked at again once that time has
    passed; one whose size or modification time moved meanwhile waits for the next run."""
    if not files or settle <= 0:
        return list(files), []
    youngest = max(f.mtime for f in files)
    wait = settle - (time.time() - youngest)
    if wait > 0:
        time.sleep(min(wait, settle))
    ready, busy = [], []
    for f in files:
        try:
            st = os.stat(f.path)
        except OSError:
            continue  # gone meanwhile
        (ready if (st.st_size, st.st_mtime) == (f.size, f.mtime) else busy).append(f)
    return ready, busy


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
