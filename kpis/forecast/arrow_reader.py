"""Reads the (key, value) rows of one query from a SQLite file through Apache Arrow's SQLite driver (ADBC), in
parallel rowid ranges, and writes them as two raw arrays (int64 keys, float64 values, native byte order).

Run as a process of its own by kpis.forecast.sql._arrow_fetch, never imported by the app: the driver carries its
own copy of SQLite, and two copies of SQLite in one process do not see each other's POSIX file locks, so one
would reset the write-ahead-log index the other is using (https://sqlite.org/howtocorrupt.html, section 2.2).
This process loads only that copy. The job comes as JSON on stdin: {"uri", "sql", "params", "bounds", "out"};
`sql` comes from kpis.forecast.sql alone and every value in it is a bound parameter.
"""

from __future__ import annotations

import json
import sys
import threading


def main() -> int:
    job = json.loads(sys.stdin.read())
    import adbc_driver_sqlite.dbapi as adbc
    import numpy as np
    import pyarrow as pa

    bounds = job["bounds"]
    parts = len(bounds) - 1
    out: list = [None] * parts
    errors: list = []
    # opened one after the other (the driver manager's first load is not safe to race); each query then runs on
    # its own thread, the driver releasing the GIL while SQLite works
    dbs = [adbc.connect(job["uri"]) for _ in range(parts)]

    def read(i: int) -> None:
        try:
            with dbs[i].cursor() as cur:
                cur.execute("PRAGMA busy_timeout=10000")  # a moment's lock (a checkpoint) waits, as the app does
                cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "500000"})
                cur.execute(job["sql"], [*job["params"], bounds[i], bounds[i + 1]])
                out[i] = cur.fetch_arrow_table()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(parts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for db in dbs:
        db.close()
    if errors or any(o is None for o in out):
        print(f"arrow read failed: {errors[0] if errors else 'no result'}", file=sys.stderr)
        return 1
    table = pa.concat_tables(out)
    out.clear()
    n = table.num_rows
    keys = table.column(0).to_numpy().astype(np.int64, copy=False) if n else np.empty(0, np.int64)
    keys.tofile(job["out"] + ".k")
    del keys
    vals = table.column(1).to_numpy().astype(np.float64, copy=False) if n else np.empty(0, np.float64)
    vals.tofile(job["out"] + ".v")
    print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
