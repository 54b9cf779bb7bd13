"""One of several processes writing at the same time (tests/store/test_concurrency.py). It makes WRITES writes, a mix
of everything people do at once, in rounds of ten:

- 2 actions created and each moved open -> in progress -> done (6 writes), the moves naming the version the
  worker last saw, as the Actions page does;
- a review created as a draft and edited (2 writes), then submitted (1 write), both naming the version;
- a KPI import of one row of its own plus five rows every worker imports ("shared": inserted exactly once).

Besides, CONTENDED times it edits the one action every worker edits, naming the version it just read: those
saves either win or are refused with an EditConflict (counted, never retried into an overwrite).
Waits for a "go" line on stdin after starting, so every worker writes at the same time; prints one JSON line
with what it did, how many times the database asked for a retry, and how long starting and writing took."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SHARED = "".join(f"fill_rate,shared,2021-{m:02d},0.9{m}\n" for m in range(1, 6))
CONTENDED = 5


def main(url: str, schema: str, worker: int, writes: int, shared_action: int) -> None:
    started = time.perf_counter()
    from kpis.access.users import User
    from kpis.catalog.load import import_actuals
    from kpis.config import load_config
    from kpis.improvement import actions, reviews
    from kpis.store import retry
    from kpis.store.engine import make_engine
    from kpis.store.versions import EditConflict

    retries = {"n": 0}
    real = retry.is_retryable

    def counting(exc, **kw):
        ok = real(exc, **kw)
        retries["n"] += ok
        return ok

    retry.is_retryable = counting  # retrying() looks it up at call time: count what the database asked for

    kw = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    engine = make_engine(url, **kw)
    cfg = load_config(ROOT / "config.toml")
    user = User(name=f"worker-{worker}", role="editor")
    today = dt.date.today()
    done = {"writes": 0, "actions": 0, "moves": 0, "reviews": 0, "review_saves": 0, "imports": 0, "inserted": 0}

    def act(n: int) -> None:
        aid = actions.create_action(
            engine=engine,
            config=cfg,
            user=user,
            fields={
                "title": f"w{worker} action {n}",
                "type": "corrective",
                "practice": "process",
                "owner": user.name,
                "due_date": today,
                "kpi_id": "otif",
                "expected_direction": "higher",
            },
        )
        actions.move_action(engine=engine, action_id=aid, to="in progress", user=user, config=cfg, expected_version=1)
        actions.move_action(
            engine=engine, action_id=aid, to="done", user=user, config=cfg, completed_on=today, expected_version=2
        )
        done["actions"] += 1
        done["moves"] += 2
        done["writes"] += 3

    def review_draft(n: int) -> int:
        fields = {
            "initiative": f"w{worker} review {n}",
            "practices": ["process"],
            "team": "S&OP",
            "facilitator": user.name,
            "rating": 3,
            "lessons": "draft",
        }
        rid = reviews.save_review(engine=engine, fields=fields, kpis=[], user=user, config=cfg, submit=False)
        reviews.save_review(
            engine=engine,
            fields={**fields, "lessons": "edited"},
            kpis=[],
            user=user,
            config=cfg,
            submit=False,
            review_id=rid,
            expected_version=1,
        )
        done["reviews"] += 1
        done["review_saves"] += 2
        done["writes"] += 2
        return rid

    def review_submit(rid: int, n: int) -> None:
        fields = {
            "initiative": f"w{worker} review {n}",
            "practices": ["process"],
            "team": "S&OP",
            "facilitator": user.name,
            "rating": 4,
            "lessons": "submitted",
            "review_date": today,
        }
        reviews.save_review(
            engine=engine, fields=fields, kpis=[], user=user, config=cfg, submit=True, review_id=rid, expected_version=2
        )
        done["review_saves"] += 1
        done["writes"] += 1

    def kpi_import(n: int) -> None:
        data = f"kpi,segment,period,value\notif,W{worker},{2000 + n // 12}-{n % 12 + 1:02d},0.9\n{SHARED}"
        res = import_actuals(engine, data.encode(), f"w{worker}-{n}.csv", config=cfg, user=user)
        done["imports"] += 1
        done["inserted"] += res.inserted
        done["writes"] += 1

    with engine.connect() as conn:  # connected before the start
        conn.exec_driver_sql("SELECT 1")
    # Everyone starts writing together: the test says "go" once every worker has started.
    print("ready", flush=True)
    sys.stdin.readline()
    ready = time.perf_counter()
    rounds = writes // 10
    for r in range(rounds):
        act(2 * r)
        rid = review_draft(r)
        act(2 * r + 1)
        review_submit(rid, r)
        kpi_import(r)

    won = refused = 0
    for k in range(CONTENDED):
        seen = actions.get_action(engine, shared_action)["version"]
        try:
            actions.update_action(
                engine=engine,
                action_id=shared_action,
                fields={"description": f"w{worker}-{k}"},
                user=user,
                config=cfg,
                expected_version=seen,
            )
            won += 1
        except EditConflict:
            refused += 1
    engine.dispose()
    print(
        json.dumps(
            {
                **done,
                "won": won,
                "refused": refused,
                "retries": retries["n"],
                "startup_s": ready - started,
                "writing_s": time.perf_counter() - ready,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
