"""8 processes x 50 writes at the same time, on SQLite and PostgreSQL: exact counts afterwards, and no
"database is locked" or serialization error reaching anyone (kpis.store.retry runs the transaction again)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from kpis.store.models import ImportBatch, KpiValue

ROOT = Path(__file__).resolve().parent.parent
WORKERS, WRITES = 8, 50




def test_many_processes_writing_at_once_lose_nothing(engine):
    url = engine.url.render_as_string(hide_password=False)
    schema = ""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "concurrency_worker.py"), url, schema, str(w),
                               str(WRITES)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(WORKERS)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        assert "database is locked" not in err and "could not serialize" not in err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["own"] for r in results) == WORKERS * WRITES
    assert sum(r["shared"] for r in results) == 5          # the shared rows were inserted exactly once
    with engine.connect() as conn:
        own = conn.execute(select(func.count()).select_from(KpiValue).where(KpiValue.segment.like("W%"))).scalar()
        shared = conn.execute(select(func.count()).select_from(KpiValue).where(KpiValue.segment == "shared")).scalar()
        batches = conn.execute(select(func.count()).select_from(ImportBatch)).scalar()
    assert (own, shared) == (WORKERS * WRITES, 5)
    assert batches >= WORKERS * WRITES + 1
