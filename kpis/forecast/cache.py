"""One cube per (database, settings) held in memory, for the newest forecast-data version asked for (an older
version's cube is let go before a newer one is built), and one on-disk snapshot per data version.

A built cube is also written to a private cache folder (SOP_PULSE_CUBE_CACHE, default
~/.cache/sop-pulse/cubes; "off" disables it) as a snapshot of NumPy arrays (``kpis.forecast.snapshot``:
no pickle, memory-mapped when read), so a new process (a CLI call, an app restart) skips the database
read and the build. The snapshot's name is a hash of the database URL (password hidden), the schema,
the data version, the time of that audit event (a recreated database with the same version number gets
a new name) and the forecast settings. Only the newest two are kept. A cache folder owned by another
account, or writable by others, is not used.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from kpis import redact
from kpis.config import AppConfig
from kpis.forecast import snapshot
from kpis.forecast.common import VERSION_SQL, release_memory
from kpis.forecast.cube import ForecastCube

if TYPE_CHECKING:
    from sqlalchemy import Engine

_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 2
_SNAPSHOTS_KEPT = 2
_PATTERN = "cube-*"


def _at_sql(version: int) -> str:
    return f"SELECT CAST(at AS VARCHAR(40)) FROM audit_event WHERE id = {int(version)}"


def forecast_version(engine: Engine) -> int:
    """A number that changes only when forecast data changes (see VERSION_SQL)."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(VERSION_SQL).scalar_one())


def _settings(config: AppConfig) -> tuple:
    fc = config.forecast
    return (
        tuple(fc.stages),
        fc.headline_lag,
        fc.season_length,
        fc.tracking_window,
        fc.tracking_limit,
        tuple(fc.abc),
        tuple(fc.xyz),
    )


def get_cube(engine: Engine, config: AppConfig, version: int) -> ForecastCube | None:
    """The cube for this database at this data version; None when there are no forecasts.

    One cube per database and settings is held: when a newer data version is asked for, the older cube is let go
    before the new one is built (so a server never holds both), and a page still asking for an older version gets
    the newest cube. CubeTooLarge (a clear message) when the data does not fit."""
    settings = _settings(config)
    url = engine.url.render_as_string(hide_password=False)
    key = (id(engine), url, settings)
    version = int(version)
    with _CACHE_LOCK:
        held = _CACHE.get(key)
        if held is not None:
            held_version = held[0]
            if held_version == version or (held_version > version and _current(engine) == held_version):
                _CACHE.move_to_end(key)
                return held[2]
            del _CACHE[key], held  # release the old version's cube before building the new one
            release_memory()
        snap = _snapshot_path(engine, version, settings)
        cube = _read_snapshot(snap)
        if cube is None:
            from kpis.forecast.sql import load_raw

            raw = load_raw(engine, config)
            cube = None if raw is None else ForecastCube(raw, config)
            del raw
            if cube is not None:
                _write_snapshot(snap, cube)
        _CACHE[key] = (version, engine, cube)  # holding the engine keeps id(engine) unique while cached
        while len(_CACHE) > _CACHE_SIZE:  # other databases or settings
            _CACHE.popitem(last=False)
        return cube


def _current(engine: Engine) -> int | None:
    try:
        return forecast_version(engine)
    except Exception:
        return None


def cube_from_snapshot(config: AppConfig) -> tuple[bool, ForecastCube | None]:
    """The configured database's cube read straight from its snapshot, without SQLAlchemy or pandas:
    (True, cube), (True, None) when there is no forecast data, (False, None) when the fast path cannot answer
    (no snapshot yet, another database kind, any error): then use get_cube."""
    try:
        from kpis.store import dbapi

        url = config.database_url()
        conn = dbapi.connect(url)
        if conn is None:
            return False, None
        try:
            version = int(dbapi.scalar(conn, VERSION_SQL) or 0)
            if version == 0:
                return True, None
            at = dbapi.scalar(conn, _at_sql(version))
            where = dbapi.scalar(conn, "SELECT current_schema()") if url.startswith("postgres") else ""
        finally:
            conn.close()
        cube = _read_snapshot(_snapshot_name(url, where, version, at, _settings(config)))
        return (cube is not None), cube
    except Exception:
        return False, None


def _snapshot_dir() -> Path | None:
    setting = os.environ.get("SOP_PULSE_CUBE_CACHE", "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    folder = Path(setting) if setting else Path.home() / ".cache" / "sop-pulse" / "cubes"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return folder if snapshot.safe_folder(folder) else None


def _snapshot_name(url: str, where: str | None, version: int, at, settings: tuple) -> Path | None:
    folder = _snapshot_dir()
    if folder is None:
        return None
    ident = repr((snapshot.FORMAT, redact.url(url), where or "", int(version), str(at), settings))
    return folder / f"cube-{hashlib.sha256(ident.encode()).hexdigest()[:32]}"


def _snapshot_path(engine: Engine, version: int, settings: tuple) -> Path | None:
    try:
        with engine.connect() as conn:
            at = conn.exec_driver_sql(_at_sql(version)).scalar()
            where = (
                conn.exec_driver_sql("SELECT current_schema()").scalar() if conn.dialect.name == "postgresql" else ""
            )
    except Exception:  # no audit table yet, or a database error: just do not snapshot
        return None
    return _snapshot_name(engine.url.render_as_string(hide_password=False), where, version, at, settings)


def _read_snapshot(path: Path | None) -> ForecastCube | None:
    if path is None:
        return None
    try:
        state = snapshot.read(path, kind="ForecastCube")
        if state is None:
            return None
        os.utime(path)
        return ForecastCube.from_state(state)
    except Exception:  # unreadable or from another version of this module: rebuild
        return None


def _write_snapshot(path: Path | None, cube: ForecastCube) -> None:
    if path is None or path.exists():
        return
    try:
        snapshot.write(path, cube.state(), kind="ForecastCube")
        snapshot.prune(path.parent, _PATTERN, _SNAPSHOTS_KEPT)
    except (OSError, TypeError):  # a full disk or an attribute we cannot store: the cube still works in memory
        pass


def clear_cache(*, snapshots: bool = False) -> None:
    """Forget every cached cube (tests, benchmarks); snapshots=True also deletes the on-disk snapshots."""
    with _CACHE_LOCK:
        _CACHE.clear()
        folder = _snapshot_dir() if snapshots else None
        if folder is not None:
            snapshot.prune(folder, _PATTERN, 0)
