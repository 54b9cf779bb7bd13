"""One run at a time: two syncs of the same source at once (two processes) end with one import and one "already
running"; `sync --watch` runs a source on a one-minute schedule (an injected clock: minutes without waiting) and
skips a run that is due while the previous one still goes."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
import time

from sqlalchemy import func, select, text

from kpis.sources.run import acquire, run_source
from kpis.sources.watch import watch
from kpis.store.models import ImportBatch, SourceLock, SourceRun
from tests.sources.helpers import ROOT, ROWS, write_actuals_csv


def folder_config(tmp_path, *, settle: float, schedule: str | None = None) -> str:
    (tmp_path / "drop").mkdir(exist_ok=True)
    base = (ROOT / "config.toml").read_text(encoding="utf-8").replace('"data/sources/', f'"{ROOT}/data/sources/')
    extra = f'schedule = "{schedule}"\n' if schedule else ""
    text = (
        f'{base}\n[[source]]\nname = "drop"\nkind = "actuals"\npath = "{tmp_path / "drop"}/*.csv"\n'
        f"settle = {settle}\n{extra}"
    )
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    return str(tmp_path / "config.toml")


def test_two_syncs_at_once_make_one_run_and_one_already_running(engine, tmp_path):
    cfg_path = folder_config(tmp_path, settle=20)  # a fresh file: the run waits 20 s for it to settle, holding the lock
    write_actuals_csv(tmp_path / "drop" / "a.csv")
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    if engine.dialect.name == "postgresql":
        with engine.connect() as c:  # the test's own schema (libpq reads PGOPTIONS)
            env["PGOPTIONS"] = f"-csearch_path={c.execute(text('SELECT current_schema()')).scalar()}"
    cmd = [sys.executable, "-m", "kpis", "--config", cfg_path, "sync", "drop", "--format", "json"]

    def start():
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # The second starts once the first holds the lock (it keeps it while its file settles), so the overlap does not
    # depend on how fast a loaded machine starts two processes.
    first = start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and first.poll() is None:
        with engine.connect() as c:
            if c.execute(select(func.count()).select_from(SourceLock)).scalar():
                break
        time.sleep(0.05)
    both = [first, start()]
    (out, err), (out2, err2) = (p.communicate(timeout=120) for p in both)
    assert [p.returncode for p in both] == [0, 0], err + err2
    statuses = [json.loads(o)[0]["status"] for o in (out, out2)]
    assert sorted(statuses) == ["busy", "ok"]
    busy = err if statuses[0] == "busy" else err2
    assert busy.startswith("drop: already running (on ") and len(busy.strip().splitlines()) == 1, busy
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(ImportBatch)).scalar() == 1
        assert c.execute(select(func.count()).select_from(SourceLock)).scalar() == 0  # released


def test_a_lock_left_by_a_crashed_run_is_taken_over_after_its_lease(engine):
    t0 = dt.datetime(2026, 11, 5, 6, 0, tzinfo=dt.UTC)
    assert acquire(engine, "erp", "host-a:1", t0)
    assert not acquire(engine, "erp", "host-b:2", t0 + dt.timedelta(minutes=59))
    assert acquire(engine, "erp", "host-b:2", t0 + dt.timedelta(minutes=61))


def test_a_long_run_keeps_pushing_its_lock_on(engine, tmp_path, monkeypatch):
    from kpis.config import load_config
    from kpis.sources import run as run_module

    monkeypatch.setattr(run_module, "RENEW", 0.3)
    cfg = load_config(folder_config(tmp_path, settle=2.5))  # a fresh file: the run takes 2.5 s
    write_actuals_csv(tmp_path / "drop" / "a.csv")
    src = next(s for s in cfg.sources if s.name == "drop")
    t = threading.Thread(target=run_source, args=(engine, cfg, src))
    t.start()
    seen = []
    for _ in range(8):
        time.sleep(0.25)
        with engine.connect() as c:
            seen += c.execute(select(SourceLock.expires_at)).scalars().all()
    t.join()
    assert len(set(seen)) >= 2, seen  # the expiry moved on while the run went


class StepClock:
    """A clock that starts at `start` and moves on by the time asked for on each sleep; `real` seconds of real time
    pass with each sleep (0: none); `wait_idle`: a sleep first lets the runs started finish."""

    def __init__(self, start: dt.datetime, *, wait_idle: bool):
        self.t, self.wait_idle, self.base = start, wait_idle, threading.active_count()
        self.sleeps = 0

    def now(self) -> dt.datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        while self.wait_idle and threading.active_count() > self.base:
            time.sleep(0.05)
        self.sleeps += 1
        self.t += dt.timedelta(seconds=max(seconds, 1))


def test_watch_runs_a_source_every_minute(engine, tmp_path):
    from kpis.config import load_config

    cfg = load_config(folder_config(tmp_path, settle=0, schedule="* * * * *"))
    cfg = type(cfg)(**{**cfg.__dict__, "sources": tuple(s for s in cfg.sources if s.name == "drop")})
    write_actuals_csv(tmp_path / "drop" / "a.csv", ROWS[:1])
    clock = StepClock(dt.datetime(2026, 11, 5, 6, 0, 30, tzinfo=dt.UTC), wait_idle=True)
    end = dt.datetime(2026, 11, 5, 6, 3, 30, tzinfo=dt.UTC)
    started = []

    def run(engine, config, src):
        started.append(clock.now())
        if len(started) == 2:  # a new file arrives between the first and the second run
            write_actuals_csv(tmp_path / "drop" / "b.csv", ROWS[1:])
        return run_source(engine, config, src)

    assert watch(engine, cfg, clock=clock, stop=lambda: clock.now() >= end, run=run) == 3
    assert [f"{t:%H:%M:%S}" for t in started] == ["06:01:00", "06:02:00", "06:03:00"]
    with engine.connect() as c:
        runs = c.execute(select(SourceRun.status, SourceRun.inserted).order_by(SourceRun.id)).all()
    assert runs == [("ok", 1), ("ok", 2), ("unchanged", 0)]


def test_watch_skips_and_logs_a_run_that_overlaps_the_previous(engine, tmp_path, caplog):
    from kpis.config import load_config

    cfg = load_config(folder_config(tmp_path, settle=3, schedule="* * * * *"))  # each run takes 3 s of real time
    cfg = type(cfg)(**{**cfg.__dict__, "sources": tuple(s for s in cfg.sources if s.name == "drop")})
    write_actuals_csv(tmp_path / "drop" / "a.csv")
    clock = StepClock(dt.datetime(2026, 11, 5, 6, 0, 30, tzinfo=dt.UTC), wait_idle=False)  # minutes pass at once
    end = dt.datetime(2026, 11, 5, 6, 2, 30, tzinfo=dt.UTC)
    with caplog.at_level(logging.INFO, logger="kpis.sources"):
        assert watch(engine, cfg, clock=clock, stop=lambda: clock.now() >= end) == 1
    assert "drop: run due at 06:02 skipped: the previous run is still going" in caplog.text
    with engine.connect() as c:
        assert c.execute(select(SourceRun.status, SourceRun.inserted)).all() == [("ok", 3)]


def test_cli_watch_without_a_schedule_says_so(tmp_path):
    import subprocess as sp

    cfg = folder_config(tmp_path, settle=0)  # 'drop' has no schedule
    r = sp.run(
        [sys.executable, "-m", "kpis", "--config", cfg, "sync", "drop", "--watch"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "no source to watch has a schedule" in r.stderr
