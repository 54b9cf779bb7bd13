"""One cube per (database, forecast-data version, settings): kept in memory and as an on-disk snapshot."""

from __future__ import annotations

import hashlib
import os
import pickle
import threading
from collections import OrderedDict
from pathlib import Path

from sqlalchemy import Engine, String, func, select

from kpis.config import AppConfig
from kpis.forecast.cube import ForecastCube, _load_raw
from kpis.store.models import AuditEvent, ImportBatch

_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 2


_SNAPSHOT_FORMAT = 1
_SNAPSHOTS_KEPT = 2


def forecast_version(engine: Engine) -> int:
    """A number that changes only when forecast data changes: the audit id of the newest demand or forecast
    import (or demo load). Catalog syncs and KPI imports leave it alone, so they do not rebuild the cube."""
    batches = select(func.cast(ImportBatch.id, String)).where(ImportBatch.kind.in_(("demand", "forecasts")))
    q = select(func.coalesce(func.max(AuditEvent.id), 0)).where(
        (AuditEvent.action == "demo") | ((AuditEvent.entity == "import_batch") & AuditEvent.entity_id.in_(batches)))
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def get_cube(engine: Engine, config: AppConfig, version: int) -> ForecastCube | None:
    """The cube for this database at this data version (cached, 2 entries); None when there are no forecasts."""
    fc = config.forecast
    settings = (tuple(fc.stages), fc.headline_lag, fc.season_length, fc.tracking_window, fc.tracking_limit,
                tuple(fc.abc), tuple(fc.xyz))
    key = (id(engine), engine.url.render_as_string(hide_password=False), int(version), settings)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key][1]
        snap = _snapshot_file(engine, int(version), settings)
        cube = _read_snapshot(snap)
        if cube is None:
            raw = _load_raw(engine, config)
            cube = None if raw is None else ForecastCube(raw, config)
            if cube is not None:
                _write_snapshot(snap, cube)
        _CACHE[key] = (engine, cube)  # holding the engine keeps id(engine) unique while cached
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        return cube


# A built cube is also pickled to a private cache folder (SOP_PULSE_CUBE_CACHE, default ~/.cache/sop-pulse/cubes;
# "off" disables it) so a new process (CLI call, app restart) skips the database read and the build. The file name
# is a hash of the database URL, the data version, the time of that audit event (a recreated database with the same
# version number gets a new name) and the forecast settings. Only the newest two files are kept.
def _snapshot_dir() -> Path | None:
    setting = os.environ.get("SOP_PULSE_CUBE_CACHE", "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    folder = Path(setting) if setting else Path.home() / ".cache" / "sop-pulse" / "cubes"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return folder


def _snapshot_file(engine: Engine, version: int, settings: tuple) -> Path | None:
    folder = _snapshot_dir()
    if folder is None:
        return None
    try:
        with engine.connect() as conn:
            at = conn.execute(select(AuditEvent.at).where(AuditEvent.id == version)).scalar()
            where = conn.exec_driver_sql("SELECT current_schema()").scalar() if conn.dialect.name == "postgresql" else ""
    except Exception:  # no audit table yet, or a database error: just do not snapshot
        return None
    ident = repr((_SNAPSHOT_FORMAT, engine.url.render_as_string(hide_password=True), where, version, str(at), settings))
    return folder / f"cube-{hashlib.sha256(ident.encode()).hexdigest()[:32]}.pkl"


def _read_snapshot(path: Path | None) -> ForecastCube | None:
    if path is None or not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            cube = pickle.load(fh)
        os.utime(path)
        return cube if isinstance(cube, ForecastCube) else None
    except Exception:  # unreadable or from another version of this module: rebuild
        return None


def _write_snapshot(path: Path | None, cube: ForecastCube) -> None:
    if path is None:
        return
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as fh:
            pickle.dump(cube, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        files = sorted(path.parent.glob("cube-*.pkl"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in files[_SNAPSHOTS_KEPT:]:
            old.unlink(missing_ok=True)
    except OSError:
        tmp.unlink(missing_ok=True)


def clear_cache(*, snapshots: bool = False) -> None:
    """Forget every cached cube (tests, benchmarks); snapshots=True also deletes the on-disk snapshots."""
    with _CACHE_LOCK:
        _CACHE.clear()
        folder = _snapshot_dir() if snapshots else None
        if folder is not None:
            for f in folder.glob("cube-*.pkl"):
                f.unlink(missing_ok=True)
