"""8 processes x 50 writes at the same time, on SQLite and PostgreSQL: actions created and moved, reviews drafted,
edited and submitted, KPI imports (tests/store/concurrency_worker.py). Exact counts afterwards, and no "database is
locked" or serialization error reaching anyone (kpis.store.retry runs the transaction again). The one action
every worker edits at once ends with exactly one version per accepted save: the others were refused
(EditConflict), not retried into an overwrite."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from kpis.access.users import User
from kpis.catalog.sync import sync_catalog
from kpis.improvement import actions
from kpis.store.models import Action, AuditEvent, ImportBatch, KpiValue, Review

ROOT = Path(__file__).resolve().parents[2]
WORKERS, WRITES = 8, 50
ROUNDS = WRITES // 10  # per round: 2 actions x 3 writes, a review's 3 saves, 1 KPI import
CONTENDED = 5  # edits of the shared action per worker (tests/store/concurrency_worker.py)


def _count(conn, model, *where) -> int:
    return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_many_processes_writing_at_once_lose_nothing(engine, config):
    sync_catalog(engine, config, User("setup", "admin"))  # actions link to the KPI catalog
    shared_action = actions.create_action(
        engine=engine,
        config=config,
        user=User("setup", "editor"),
        fields={
            "title": "Everyone edits this one",
            "type": "improvement",
            "practice": "process",
            "owner": "setup",
            "due_date": dt.date(2030, 1, 1),
        },
    )
    url = engine.url.render_as_string(hide_password=False)
    schema = ""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "store" / "concurrency_worker.py"),
                url,
                schema,
                str(w),
                str(WRITES),
                str(shared_action),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WORKERS)
    ]
    for p in procs:  # every worker has imported and connected ...
        assert p.stdout.readline().strip() == "ready", p.communicate(timeout=60)[1][-3000:]
    started = time.perf_counter()
    for p in procs:  # ... then all write at once
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        assert "database is locked" not in err and "could not serialize" not in err and "deadlock" not in err
        results.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = time.perf_counter() - started
    total = {k: sum(r[k] for r in results) for k in results[0]}
    print(
        f"\n{engine.dialect.name}: {WORKERS} x {WRITES} writes at once in {elapsed:.1f} s (workers took up to "
        f"{max(r['startup_s'] for r in results):.1f} s to start), "
        f"{total['retries']} retries asked for by the database, shared action: {total['won']} saves won, "
        f"{total['refused']} refused"
    )

    # What the workers did ...
    assert [r["writes"] for r in results] == [WRITES] * WORKERS
    assert (total["actions"], total["moves"]) == (WORKERS * ROUNDS * 2, WORKERS * ROUNDS * 4)
    assert (total["reviews"], total["review_saves"], total["imports"]) == (
        WORKERS * ROUNDS,
        WORKERS * ROUNDS * 3,
        WORKERS * ROUNDS,
    )
    assert total["inserted"] == WORKERS * ROUNDS + 5  # own rows, and the five shared rows exactly once
    assert total["won"] + total["refused"] == WORKERS * CONTENDED and total["won"] >= 1

    # ... is exactly what the database holds.
    with engine.connect() as conn:
        mine = Action.created_by.like("worker-%")
        assert _count(conn, Action, mine) == WORKERS * ROUNDS * 2
        assert (
            _count(conn, Action, mine, Action.status == "done", Action.completed_on.is_not(None), Action.version == 3)
            == WORKERS * ROUNDS * 2
        )
        assert _count(conn, Review) == WORKERS * ROUNDS
        assert (
            _count(
                conn,
                Review,
                Review.status == "submitted",
                Review.lessons == "submitted",
                Review.version == 3,
                Review.submitted_by == Review.created_by,
            )
            == WORKERS * ROUNDS
        )
        worker_events = AuditEvent.actor.like("worker-%")
        assert (
            _count(conn, AuditEvent, worker_events, AuditEvent.entity == "action", AuditEvent.action == "create")
            == WORKERS * ROUNDS * 2
        )
        assert (
            _count(conn, AuditEvent, worker_events, AuditEvent.entity == "action", AuditEvent.action == "status")
            == WORKERS * ROUNDS * 4
        )
        for action, n in (("create", 1), ("update", 1), ("submit", 1)):
            assert (
                _count(conn, AuditEvent, AuditEvent.entity == "review", AuditEvent.action == action)
                == WORKERS * ROUNDS * n
            )
        assert _count(conn, KpiValue, KpiValue.segment.like("W%")) == WORKERS * ROUNDS
        assert _count(conn, KpiValue, KpiValue.segment == "shared") == 5
        assert _count(conn, ImportBatch, ImportBatch.kind == "actuals") == WORKERS * ROUNDS
        # The contended action: one version and one audited update per accepted save, none for a refusal.
        assert (
            _count(
                conn,
                AuditEvent,
                AuditEvent.entity == "action",
                AuditEvent.entity_id == str(shared_action),
                AuditEvent.action == "update",
            )
            == total["won"]
        )
    assert actions.get_action(engine, shared_action)["version"] == 1 + total["won"]
