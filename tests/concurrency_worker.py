"""One of several processes writing at the same time (tests/test_concurrency.py): N KPI imports of its own
rows, and every tenth write the shared file every worker also imports. Prints one JSON line with what it did."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = "kpi,segment,period,value\n" + "".join(f"fill_rate,shared,2021-{m:02d},0.9{m}\n" for m in range(1, 6))


def main(url: str, schema: str, worker: int, writes: int) -> None:
    from kpis.access.users import User
    from kpis.catalog.load import import_actuals
    from kpis.config import load_config
    from kpis.store.engine import make_engine

    kw = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    engine = make_engine(url, **kw)
    cfg = load_config(ROOT / "config.toml")
    user = User(name=f"worker-{worker}", role="editor")
    own = shared = 0
    for i in range(writes):
        month = f"{2000 + i // 12}-{i % 12 + 1:02d}"
        res = import_actuals(engine, f"kpi,segment,period,value\notif,W{worker},{month},0.9\n".encode(), f"w{worker}-{i}.csv",
                             config=cfg, user=user)
        own += res.inserted
        if i % 10 == 0:
            shared += import_actuals(engine, SHARED.encode(), "shared.csv", config=cfg, user=user).inserted
    engine.dispose()
    print(json.dumps({"own": own, "shared": shared}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
