"""Warm-up before a server takes its first request (`python app.py`).

A fresh server process has imported only Streamlit. The first page anyone opens would otherwise import pandas,
SQLAlchemy, Alembic, pydantic and scipy.stats, check the schema and map the forecast cube: about 2–3 s of CPU
(bench/page_load.py, 'first load after a server restart') paid by whoever comes first after a restart. Doing it
before the server listens moves that wait to the restart itself. Nothing here is required: a failing step is
logged and skipped, and the page that needs it shows its own clear message.
"""

from __future__ import annotations

import importlib
import logging
import time

log = logging.getLogger(__name__)

# What the pages import on their first run (heaviest first); scipy.stats is the trend test of every trend.
MODULES = (
    "pandas", "pyarrow", "sqlalchemy", "sqlalchemy.orm", "pydantic", "scipy.stats", "alembic.runtime.migration",
    "alembic.script", "kpis.config", "kpis.store.models", "kpis.store.repo", "kpis.catalog", "kpis.catalog.series",
    "kpis.catalog.overview", "kpis.catalog.trends", "kpis.spc", "kpis.charts", "kpis.forecast.cube",
    "kpis.forecast.cache", "kpis.forecast.computed", "kpis.forecast.sections", "kpis.forecast.views",
    "kpis.forecast.windows",
)


def warm_up() -> dict[str, float]:
    """Import what the pages need, check the database's schema and map the forecast cube's snapshot (building it
    when there is none); returns the seconds each step took."""
    took: dict[str, float] = {}
    start = time.perf_counter()
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:   # a missing optional piece: its page says so itself
            log.warning("warm-up: importing %s failed: %s", name, exc)
    took["imports"] = time.perf_counter() - start
    start = time.perf_counter()
    try:
        _database()
    except Exception as exc:   # unreachable database, bad config: the pages explain it to the user
        log.warning("warm-up: the database was not prepared: %s", type(exc).__name__)
    took["database and cube"] = time.perf_counter() - start
    return took


def _database() -> None:
    from kpis import forecast
    from kpis.config import get_config
    from kpis.store.engine import current_revision, head_revision, make_engine

    cfg = get_config()
    engine = make_engine(cfg.database_url())
    try:
        if current_revision(engine) != head_revision():
            return   # not migrated: the pages say how to migrate
        # Reads the cube's snapshot (or builds and writes it) so the first page maps a file the OS holds in memory.
        forecast.get_cube(engine, cfg, forecast.forecast_version(engine))
    finally:
        forecast.clear_cache()   # the server's own engine maps it again; never two cubes in memory
        engine.dispose()
