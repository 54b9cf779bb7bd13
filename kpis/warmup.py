"""Warm-up before a server takes its first request (`python app.py`).

A fresh server process has imported only Streamlit. The first page anyone opens would otherwise import pandas,
SQLAlchemy, Alembic, pydantic and scipy.stats and check the schema: about 2–3 s of CPU
(bench/page_load.py, 'first load after a server restart') paid by whoever comes first after a restart. Doing it
before the server listens moves that wait to the restart itself. Nothing here is required: a failing step is
logged and skipped, and the page that needs it shows its own clear message.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time

log = logging.getLogger(__name__)

# What the pages import on their first run (heaviest first); scipy.stats is the trend test of every trend.
MODULES = (
    "pandas",
    "pyarrow",
    "sqlalchemy",
    "sqlalchemy.orm",
    "pydantic",
    "scipy.stats",
    "alembic.runtime.migration",
    "alembic.script",
    "kpis.config",
    "kpis.store.models",
    "kpis.store.repo",
    "kpis.catalog",
    "kpis.series",
    "kpis.catalog.overview",
    "kpis.catalog.trends",
    "kpis.spc",
    "kpis.chartstyle",
    "kpis.catalog.charts",
    "kpis.forecast.charts",
    "kpis.forecast.cube",
    "kpis.forecast.cache",
    "kpis.forecast.computed",
    "kpis.forecast.sections",
    "kpis.forecast.views",
    "kpis.forecast.windows",
)


def warm_up(database_timeout: float = 10.0) -> dict[str, float]:
    """Import what the pages need and check the database's schema (giving up on the database after
    `database_timeout` seconds: an unreachable server must not keep the app from starting); returns the seconds
    each step took."""
    took: dict[str, float] = {}
    start = time.perf_counter()
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional piece: its page says so itself
            log.warning("warm-up: importing %s failed: %s", name, exc)
    took["imports"] = time.perf_counter() - start
    start = time.perf_counter()
    step = threading.Thread(target=_database, name="warm-up database", daemon=True)
    step.start()
    step.join(database_timeout)
    if step.is_alive():
        log.warning("warm-up: the database did not answer within %.0f s; starting without it", database_timeout)
    took["database"] = time.perf_counter() - start
    return took


def _database() -> None:
    """Connect and compare the schema with the code's migrations (loads Alembic's scripts). The forecast cube is
    left to the first page: it maps the cube's on-disk snapshot in milliseconds."""
    try:
        from kpis.config import get_config
        from kpis.store.engine import current_revision, head_revision, make_engine

        engine = make_engine(get_config().database_url())
        try:
            current_revision(engine), head_revision()
        finally:
            engine.dispose()
    except Exception as exc:  # unreachable database, bad config: the pages explain it to the user
        log.warning("warm-up: the database was not prepared: %s", type(exc).__name__)
