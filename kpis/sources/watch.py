"""``sync --watch``: each source at its cron schedule, one run at a time per source.

A run due while the source's previous run is still going is skipped and logged. The clock is injectable (``now`` and
``sleep``), so a schedule of minutes is tested without waiting minutes.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from kpis.config import AppConfig
from kpis.sources.config import SourceConfig

log = logging.getLogger("kpis.sources")


class SystemClock:
    """The real clock (UTC)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def next_run(schedule: str | None, after: dt.datetime) -> dt.datetime | None:
    """When a source with this cron schedule runs next after `after` (None: no schedule). Cron times are UTC."""
    if not schedule:
        return None
    from croniter import croniter

    return croniter(schedule, after).get_next(dt.datetime)


def watch(
    engine: Engine,
    config: AppConfig,
    *,
    clock=None,
    stop: Callable[[], bool] = lambda: False,
    run: Callable[[Engine, AppConfig, SourceConfig], object] | None = None,
    max_sleep: float = 30.0,
    sources: list[SourceConfig] | None = None,
) -> int:
    """Run each scheduled source (of `sources`, default all) when it is due until `stop()` says so; returns the
    number of runs started."""
    from kpis.sources.run import run_source

    clock = clock or SystemClock()
    run = run or run_source
    scheduled = [s for s in (config.sources if sources is None else sources) if s.schedule]
    if not scheduled:
        log.warning("no source has a schedule; nothing to watch")
        return 0
    start = clock.now()
    due = {s.name: next_run(s.schedule, start) for s in scheduled}
    running: dict[str, threading.Thread] = {}
    started = 0
    for s in scheduled:
        log.info("%s: next run at %s", s.name, f"{due[s.name]:%Y-%m-%d %H:%M} UTC")
    while not stop():
        now = clock.now()
        for s in scheduled:
            if due[s.name] > now:
                continue
            t = running.get(s.name)
            if t is not None and t.is_alive():
                log.warning(
                    "%s: run due at %s skipped: the previous run is still going", s.name, f"{due[s.name]:%H:%M}"
                )
            else:
                t = threading.Thread(target=_safe, args=(run, engine, config, s), name=f"source {s.name}", daemon=True)
                t.start()
                running[s.name] = t
                started += 1
            due[s.name] = next_run(s.schedule, now)
        wake = min(due.values())
        clock.sleep(min(max_sleep, max(0.0, (wake - clock.now()).total_seconds())))
    for t in running.values():
        t.join()
    return started


def _safe(run, engine, config, src) -> None:
    """One run in its thread: an unforeseen error is logged (one redacted line), never kills the watch."""
    try:
        run(engine, config, src)
    except Exception as e:
        from kpis import redact

        log.error("%s: run failed: %s: %s", src.name, type(e).__name__, redact.text(e)[:300])
