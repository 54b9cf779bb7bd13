"""One run of a source: take the source's lock row, read what is new, check it and write it through the one import
runner (``kpis.imports.runner.run_import``) as the user ``source:NAME``, record the run.

Statuses: ``ok`` (something changed), ``unchanged`` (nothing new), ``refused`` (a row is bad: nothing of the source
was written), ``unreachable`` (the source could not be reached or read), ``busy`` (already running elsewhere).
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from kpis import redact
from kpis.access.users import User
from kpis.config import AppConfig
from kpis.imports.problems import ImportFailed
from kpis.imports.read import CSV_EXCEL, PARQUET, read_frame, row_table
from kpis.imports.runner import Context, Kind, run_import
from kpis.imports.source import Source
from kpis.sources.config import SourceConfig
from kpis.sources.read import Unreachable, database_table, digest, list_files, settled
from kpis.store.models import SourceFile, SourceLock, SourceRun, utcnow

log = logging.getLogger("kpis.sources")

KIND_OBJECTS = {  # kind -> "module:Kind"
    "actuals": "kpis.catalog.load:ACTUALS",
    "demand": "kpis.forecast.load:DEMAND",
    "forecasts": "kpis.forecast.load:FORECASTS",
    "assessments": "kpis.maturity.load:ASSESSMENTS",
    "meetings": "kpis.sponsorship.load:MEETINGS",
    "decisions": "kpis.sponsorship.load:DECISIONS",
    "actions": "kpis.improvement.load:ACTIONS",
}
EXIT = {"ok": 0, "unchanged": 0, "busy": 0, "refused": 2, "unreachable": 3}
LEASE = dt.timedelta(hours=1)  # a lock left by a crashed run is taken over after this
RENEW = 300.0  # seconds: a running run pushes its lock's expiry on this often
MAX_PROBLEMS = 50


def kind_of(name: str) -> Kind:
    module, _, attr = KIND_OBJECTS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def source_user(src: SourceConfig, by: User | None = None) -> User:
    """The acting user of a source run: source:NAME (an editor), with the person who clicked "Run now" as `via`."""
    return User(name=f"source:{src.name}", role="editor", display=f"source {src.name}", via=by.name if by else None)


@dataclass
class SyncResult:
    """What one run of a source did (a row of `sync`)."""

    source: str
    kind: str
    status: str = "unchanged"
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT[self.status]

    def row(self) -> dict:
        return {
            "source": self.source,
            "kind": self.kind,
            "status": self.status,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "problems": len(self.problems),
            "seconds": round(self.seconds, 2),
        }


def holder() -> str:
    """This run: host, process and a tag of its own (two runs in one process never share a lock)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:200]


def acquire(engine: Engine, name: str, who: str, now: dt.datetime | None = None) -> bool:
    """Take the source's lock row; False when another run holds it (a lock past its lease is taken over)."""
    now = now or utcnow()
    with engine.begin() as c:
        c.execute(delete(SourceLock).where(SourceLock.source == name, SourceLock.expires_at < now))
    try:
        with engine.begin() as c:
            c.execute(insert(SourceLock).values(source=name, holder=who, acquired_at=now, expires_at=now + LEASE))
    except IntegrityError:
        return False
    return True


def release(engine: Engine, name: str, who: str) -> None:
    with engine.begin() as c:
        c.execute(delete(SourceLock).where(SourceLock.source == name, SourceLock.holder == who))


def _keep(engine: Engine, name: str, who: str, done: threading.Event, every: float) -> None:
    """While the run goes, push its lock's expiry on (a run longer than the lease is never taken over)."""
    while not done.wait(every):
        try:
            with engine.begin() as c:
                c.execute(
                    update(SourceLock)
                    .where(SourceLock.source == name, SourceLock.holder == who)
                    .values(expires_at=utcnow() + LEASE)
                )
        except Exception:  # the next beat tries again; the lease is long
            log.warning("%s: could not renew the run's lock", name)


def lock_holder(engine: Engine, name: str) -> tuple[str, dt.datetime] | None:
    with engine.connect() as c:
        row = c.execute(select(SourceLock.holder, SourceLock.acquired_at).where(SourceLock.source == name)).first()
    return (row[0], row[1]) if row else None


def run_source(engine: Engine, config: AppConfig, src: SourceConfig, *, by: User | None = None) -> SyncResult:
    """Run one source once (see the module doc); never raises for the source's own failures."""
    res = SyncResult(src.name, src.kind)
    started, t0 = utcnow(), time.perf_counter()
    who = holder()
    if not acquire(engine, src.name, who, started):
        held = lock_holder(engine, src.name)
        res.status = "busy"
        res.message = f"{src.name}: already running" + (
            f" (on {held[0]} since {held[1]:%Y-%m-%d %H:%M:%S})" if held else ""
        )
        log.info(res.message)
        return res
    done = threading.Event()
    beat = threading.Thread(target=_keep, args=(engine, src.name, who, done, RENEW), daemon=True)
    beat.start()
    try:
        _run(engine, config, src, res, source_user(src, by))
    except ImportFailed as e:
        res.status, res.inserted, res.updated, res.unchanged = "refused", 0, 0, 0
        res.problems = [f"{src.name}: {p}" for p in e.groups][:MAX_PROBLEMS]
        if e.total > len(e.problems):
            res.problems.append(f"{src.name}: … and {e.total - len(e.problems)} more")
        res.message = f"{src.name}: refused, nothing was written ({e.total} problem{'s' if e.total != 1 else ''})"
    except Unreachable as e:
        res.status, res.message = "unreachable", f"{src.name}: {redact.text(e)}"
        res.problems = [res.message]
    except PermissionError as e:
        res.status, res.message = "refused", f"{src.name}: {e}"
        res.problems = [res.message]
    finally:
        done.set()
        beat.join()
        release(engine, src.name, who)
    res.seconds = time.perf_counter() - t0
    _record(engine, res, started, source_user(src, by))
    log.info("%s: %s (%s)", src.name, res.status, res.message or f"{res.inserted} inserted, {res.updated} updated")
    return res


def _record(engine: Engine, res: SyncResult, started: dt.datetime, user: User) -> None:
    with engine.begin() as c:
        run_id = c.execute(
            insert(SourceRun)
            .values(
                source=res.source,
                kind=res.kind,
                started_at=started,
                seconds=res.seconds,
                status=res.status,
                inserted=res.inserted,
                updated=res.updated,
                unchanged=res.unchanged,
                problems=[redact.text(p)[:500] for p in res.problems],
                files=res.files,
                actor=(user.via or user.name)[:120],
            )
            .returning(SourceRun.id)
        ).scalar_one()
        c.execute(
            update(SourceFile).where(SourceFile.source == res.source, SourceFile.run_id == 0).values(run_id=run_id)
        )


def _count(res: SyncResult, r) -> None:
    res.inserted += r.inserted
    res.updated += r.updated
    res.unchanged += r.unchanged


def _run(engine: Engine, config: AppConfig, src: SourceConfig, res: SyncResult, user: User) -> None:
    kind = kind_of(src.kind)
    base = config.path.parent
    if src.is_database:
        table = database_table(src, base).rename(columns=src.columns)
        if table.empty:
            res.message = f"{src.name}: the source has no rows"
            return
        r = run_import(engine, kind, table, Source(src.name, query=src.query or src.table), config=config, user=user)
        _count(res, r)
        res.status = "ok" if r.changed else "unchanged"
        return
    files = list_files(src, base)
    with engine.connect() as c:
        done = set(c.execute(select(SourceFile.path, SourceFile.sha256).where(SourceFile.source == src.name)).all())
    ready, busy = settled(files, src.settle)
    if busy:
        res.message = f"{src.name}: {len(busy)} file(s) still being written, left for the next run: " + ", ".join(
            f.path.name for f in busy
        )
    formats = CSV_EXCEL + (PARQUET if src.kind in ("demand", "forecasts") else ())
    tables = []
    for f in ready:
        data = f.path.read_bytes()
        sha = digest(data)
        if (str(f.path), sha) in done:
            continue
        frame = read_frame(data, f.path.name, max_mb=config.app.max_upload_mb, formats=formats)
        table = row_table(frame).rename(columns=src.columns)
        tables.append((f, sha, frame.sheet, table))
    # every new file is checked before any is written: a bad row anywhere writes nothing of the source
    problems, total = [], 0
    for f, _, _, table in tables:
        try:
            kind.parse(table, Context(f.path.name, config, engine, user, lambda *_: None))
        except ImportFailed as e:
            problems += e.problems
            total += e.total
    if problems:
        raise ImportFailed(problems, total)
    for f, sha, sheet, table in tables:
        r = run_import(
            engine, kind, table, Source(f.path.name, sha, path=f.path, sheet=sheet), config=config, user=user
        )
        _count(res, r)
        with engine.begin() as c:  # after the import committed: a failure here only means a harmless re-read
            c.execute(insert(SourceFile).values(source=src.name, path=str(f.path), sha256=sha, size=f.size, run_id=0))
        res.files.append(f.path.name)
        if r.changed:
            res.status = "ok"


def frame(results: list[SyncResult]) -> pd.DataFrame:
    return pd.DataFrame([r.row() for r in results], columns=list(SyncResult("", "").row()))
