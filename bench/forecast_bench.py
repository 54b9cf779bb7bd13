"""Forecast-accuracy benchmark: import, cube load and view timings against the targets, with DuckDB
scanning the same Parquet files as the yardstick for every view.

    python bench/forecast_bench.py                      # reference size: 10,000 items x 104 weeks x 4 lags
    python bench/forecast_bench.py --items 500 --periods 30 --lags 3   # quick run
    python bench/forecast_bench.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/forecast_bench.py --items 50000 --skip-pg   # 20.8 M forecast rows
    python bench/forecast_bench.py --spread-years 20        # sparse: each item's 104 weeks moved by 0..20 years

Imports, the re-import of the forecasts with one value changed and the cube build without a cache run in a
child process each (so the peak memory is theirs alone: ru_maxrss of the child);
views run in this process, timed as the median of 5 runs after one warm-up, with the peak of
Python-level allocations (tracemalloc, which numpy reports to) of one run.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGET_IMPORT_S, TARGET_IMPORT_MB = 15.0, 1500.0  # 4.16 M forecast rows (10,000 items)
TARGET_IMPORT_BIG_S, TARGET_IMPORT_BIG_MB = 75.0, 2000.0  # 20.8 M forecast rows (50,000 items)
TARGET_CUBE_S, TARGET_CUBE_MB = 15.0, 2000.0  # cube build without a cache, 20.8 M rows
TARGET_VIEW_S, TARGET_VIEW_MB, TARGET_PAGE_S = 0.3, 500.0, 1.5


# --------------------------------------------------------------------------- child: one import run
def child_import(url: str, schema: str | None, folder: str) -> None:
    """Import demand then forecasts into a migrated database; print timings and peak RSS as JSON."""
    from kpis import forecast
    from kpis.access.users import User
    from kpis.config import load_config
    from kpis.store.engine import make_engine, upgrade

    kw = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    engine = make_engine(url, **kw)
    upgrade(engine)
    cfg = load_config(ROOT / "config.toml")
    user = User(name="bench", role="admin")
    out = {}
    t0 = time.perf_counter()
    for kind in ("demand", "forecasts"):
        t = time.perf_counter()
        res = forecast.import_file(engine, Path(folder) / f"{kind}.parquet", kind=kind, config=cfg, user=user)
        out[f"{kind}_s"] = time.perf_counter() - t
        out[f"{kind}_rows"] = res.rows
    out["import_s"] = time.perf_counter() - t0
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    res = forecast.import_file(engine, Path(folder) / "forecasts.parquet", kind="forecasts", config=cfg, user=user)
    out["reimport_s"] = time.perf_counter() - t
    out["reimport_changed"] = res.changed
    engine.dispose()
    print(json.dumps(out))


def child_reimport(url: str, schema: str | None, path: str) -> None:
    """Import one forecast file into the database (a re-import with a changed value); time and peak RSS as JSON."""
    from kpis import forecast
    from kpis.access.users import User
    from kpis.config import load_config
    from kpis.store.engine import make_engine

    kw = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    engine = make_engine(url, **kw)
    cfg = load_config(ROOT / "config.toml")
    t = time.perf_counter()
    res = forecast.import_file(engine, Path(path), kind="forecasts", config=cfg, user=User(name="bench", role="admin"))
    out = {
        "s": time.perf_counter() - t,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "updated": res.updated,
        "inserted": res.inserted,
    }
    engine.dispose()
    print(json.dumps(out))


def child_cube(url: str, schema: str | None) -> None:
    """Build the cube from the database without any cache (no snapshot read or written); time and peak RSS."""
    os.environ["SOP_PULSE_CUBE_CACHE"] = "off"
    from kpis import forecast
    from kpis.config import load_config
    from kpis.store.engine import make_engine

    kw = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    engine = make_engine(url, **kw)
    cfg = load_config(ROOT / "config.toml")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    cube = forecast.get_cube(engine, cfg, forecast.forecast_version(engine))
    out = {
        "s": time.perf_counter() - t,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "base_mb": base,
        "arrays_mb": cube.memory_mb(),
    }
    engine.dispose()
    print(json.dumps(out))


def changed_file(folder: Path) -> Path:
    """forecasts.parquet with one forecast value changed (+1), for the re-import measure."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "forecasts_changed.parquet"
    if not path.exists():
        table = pq.read_table(folder / "forecasts.parquet")
        values = table.column("forecast").to_numpy().copy()
        values[len(values) // 2] += 1.0
        table = table.set_column(table.schema.get_field_index("forecast"), "forecast", pa.array(values))
        pq.write_table(table, path)
    return path


def run_child(url: str, schema: str | None, folder: Path, mode: str = "--child-import", extra: tuple = ()) -> dict:
    cmd = [
        sys.executable,
        __file__,
        mode,
        url,
        schema or "",
        *([str(folder)] if mode == "--child-import" else []),
        *extra,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- views
def views(cube) -> dict:
    """The views a page and the CLI ask for, as callables on the cube."""
    fams = cube.attributes["family"]
    items = cube.items_of(None)
    p = cube.periods
    lo, hi = p[len(p) // 5], p[(4 * len(p)) // 5]
    return {
        "total (final stage, all lags)": lambda: cube.accuracy([]),
        "by item": lambda: cube.accuracy(["item"]),
        "by family": lambda: cube.accuracy(["family"]),
        "by region, channel": lambda: cube.accuracy(["region", "channel"]),
        "by period": lambda: cube.accuracy(["period"]),
        "by lag (waterfall)": lambda: cube.by_lag(),
        "by abc, xyz": lambda: cube.accuracy(["abc", "xyz"]),
        "by stage (incl. naive)": lambda: cube.accuracy(["stage"]),
        "fva by family": lambda: cube.fva(["family"]),
        "filter family + lag + range": lambda: cube.accuracy(
            ["region"], lag=1, period_from=lo, period_to=hi, filters={"family": fams[:2]}
        ),
        "by period, 200 items filter": lambda: cube.accuracy(["period"], filters={"item": items[:200]}),
        "by item, range": lambda: cube.accuracy(["item"], period_from=lo, period_to=hi),
        "exceptions (lag 1)": lambda: cube.exceptions(lag=1),
        "item series (5 items)": lambda: cube.item_series(items[:5], lag=1),
    }


def duckdb_views(folder: Path, cube) -> dict:
    """The same views as SQL over the Parquet files (DuckDB), same metrics (MASE scale included)."""
    import duckdb

    con = duckdb.connect()
    return {k: (lambda s=s: con.execute(s).fetchall()) for k, s in duckdb_sql(folder, cube).items()}


def duckdb_sql(folder: Path, cube) -> dict[str, str]:
    """The SQL of every view for DuckDB over the Parquet files."""
    from kpis.forecast import metrics as accuracy

    d, f = str(folder / "demand.parquet"), str(folder / "forecasts.parquet")
    stage = [s for s in cube.stages if s not in cube.derived][-1]
    fams = cube.attributes["family"][:2]
    items = cube.items_of(None)
    p = cube.periods
    lo, hi = p[len(p) // 5].date(), p[(4 * len(p)) // 5].date()
    m = cube.season_length
    base = f"""
        WITH d AS (SELECT item::VARCHAR item, period::DATE period, actual, family::VARCHAR family,
                          region::VARCHAR region, channel::VARCHAR channel FROM read_parquet('{d}')),
        sc AS (SELECT item, avg(abs(actual - prev)) scale FROM (
                 SELECT item, actual, lag(actual, {m}) OVER (PARTITION BY item ORDER BY period) prev FROM d)
               WHERE prev IS NOT NULL GROUP BY item),
        vol AS (SELECT item, sum(actual) v, stddev_pop(actual) / abs(avg(actual)) cv FROM d GROUP BY item),
        seg AS (SELECT item, CASE WHEN (sum(v) OVER (ORDER BY v DESC, item ROWS UNBOUNDED PRECEDING) - v)
                                      / sum(v) OVER () < 0.8 THEN 'A'
                                  WHEN (sum(v) OVER (ORDER BY v DESC, item ROWS UNBOUNDED PRECEDING) - v)
                                      / sum(v) OVER () < 0.95 THEN 'B' ELSE 'C' END abc,
                             CASE WHEN cv < 0.5 THEN 'X' WHEN cv < 1.0 THEN 'Y' ELSE 'Z' END xyz FROM vol),
        fc AS (SELECT item::VARCHAR item, period::DATE period, lag, stage::VARCHAR stage, forecast
               FROM read_parquet('{f}')),
        nv AS (SELECT DISTINCT fc.item, fc.period, fc.lag, 'naive' stage, d2.actual forecast FROM fc
               JOIN d d2 ON d2.item = fc.item
                        AND d2.period = fc.period - INTERVAL ({m} * ((fc.lag + {m}) // {m}) * 7) DAY),
        j AS (SELECT x.*, d.actual, d.family, d.region, d.channel, seg.abc, seg.xyz, sc.scale,
                     x.forecast - d.actual e FROM (SELECT * FROM fc UNION ALL SELECT * FROM nv) x
              JOIN d USING (item, period) JOIN seg USING (item) LEFT JOIN sc USING (item))
    """
    # views that need neither the naive stage nor ABC/XYZ get a plan without them (fair to DuckDB)
    plain = (
        base.replace("(SELECT * FROM fc UNION ALL SELECT * FROM nv)", "fc")
        .replace("seg.abc, seg.xyz, ", "")
        .replace(" JOIN seg USING (item)", "")
    )
    metrics = """count(*) n, sum(actual) actual, sum(forecast) forecast, avg(abs(e)) mae, sqrt(avg(e * e)) rmse,
        sum(abs(e)) / sum(abs(actual)) wape, greatest(0, 1 - sum(abs(e)) / sum(abs(actual))) accuracy,
        avg(abs(e) / abs(actual)) FILTER (WHERE actual <> 0) mape, count(*) FILTER (WHERE actual = 0) mape_excluded,
        sum(e) / sum(actual) bias,
        sum(abs(e) / scale) FILTER (WHERE scale > 0) / count(*) FILTER (WHERE scale > 0) mase"""
    base_nonaive = base.replace("(SELECT * FROM fc UNION ALL SELECT * FROM nv)", "fc")

    def q(by: str, where: str = "", naive: bool = False) -> str:
        grp = f"{by}, " if by else ""
        tail = f" GROUP BY {by} ORDER BY {by}" if by else ""
        w = f"stage = '{stage}'" + (f" AND {where}" if where else "")
        if naive:
            w = where or "TRUE"
        src = base if naive else (base_nonaive if "abc" in by else plain)
        return f"{src} SELECT {grp}{metrics} FROM j WHERE {w}{tail}"

    fam_list = ", ".join(f"'{x}'" for x in fams)
    item_list = ", ".join(f"'{x}'" for x in items[:200])
    five = ", ".join(f"'{x}'" for x in items[:5])
    sql = {
        "total (final stage, all lags)": q(""),
        "by item": q("item"),
        "by family": q("family"),
        "by region, channel": q("region, channel"),
        "by period": q("period"),
        "by lag (waterfall)": q("lag"),
        "by abc, xyz": q("abc, xyz"),
        "by stage (incl. naive)": q("stage", naive=True),
        "fva by family": q("family, stage", naive=True),
        "filter family + lag + range": q(
            "region", f"lag = 1 AND period BETWEEN '{lo}' AND '{hi}' AND family IN ({fam_list})"
        ),
        "by period, 200 items filter": q("period", f"item IN ({item_list})"),
        "by item, range": q("item", f"period BETWEEN '{lo}' AND '{hi}'"),
        "exceptions (lag 1)": plain
        + f"""
            , t AS (SELECT item, e, row_number() OVER (PARTITION BY item ORDER BY period DESC) r FROM j
                    WHERE stage = '{stage}' AND lag = 1 AND e IS NOT NULL)
            , ts AS (SELECT item, CASE WHEN count(e) >= {accuracy.tracking_min_periods(cube.tracking_limit)}
                                       THEN sum(e) / avg(abs(e)) END ts
                     FROM t WHERE r <= {cube.tracking_window} GROUP BY item)
            , ae AS (SELECT item, sum(abs(e)) abs_error, count(*) n, sum(abs(e)) / sum(abs(actual)) wape,
                            sum(e) / sum(actual) bias FROM j WHERE stage = '{stage}' AND lag = 1 GROUP BY item)
            SELECT * FROM (SELECT ae.*, ts.ts, abs_error / sum(abs_error) OVER () share,
                                  row_number() OVER (ORDER BY abs_error DESC, item) rnk FROM ae JOIN ts USING (item))
            WHERE rnk <= 50 OR abs(ts) > {cube.tracking_limit} ORDER BY rnk""",
        "item series (5 items)": f"""SELECT d.item::VARCHAR item, d.period::DATE period, d.actual, f.forecast
            FROM read_parquet('{d}') d
            LEFT JOIN (SELECT * FROM read_parquet('{f}') WHERE lag = 1 AND stage = '{stage}') f
            USING (item, period) WHERE d.item IN ({five}) ORDER BY 1, 2""",
        "by period, lag": q("period, lag"),
    }
    return sql


# --------------------------------------------------------------------------- whole process: CLI vs DuckDB
CLI_ARGS = ["accuracy", "--by", "period,lag", "--format", "csv"]
DUCKDB_SCRIPT = """import csv, sys, duckdb
rows = duckdb.connect().execute(sys.stdin.read()).fetchall()
w = csv.writer(sys.stdout, lineterminator="\\n")
w.writerows(rows)
"""


def whole_process(db: Path, folder: Path, cube, runs: int = 5) -> dict:
    """`python -m kpis accuracy --by period,lag --format csv` as a whole process (start, imports, answer, exit)
    against a Python process running DuckDB's SQL for the same figures over the Parquet files; medians of
    `runs` after one warm-up each, run alternately so both see the same machine load; outputs compared."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "SOP_PULSE_USER": "bench"}
    sql = duckdb_sql(folder, cube)["by period, lag"]

    def ours() -> str:
        return subprocess.run(
            [sys.executable, "-m", "kpis", *CLI_ARGS], capture_output=True, text=True, cwd=ROOT, env=env, check=True
        ).stdout

    def duck() -> str:
        return subprocess.run(
            [sys.executable, "-c", DUCKDB_SCRIPT], input=sql, capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout

    out_ours, out_duck = ours(), duck()  # warm-up (and the snapshot, if the import did not write one)
    t_ours, t_duck = [], []
    for _ in range(runs):
        for fn, acc in ((ours, t_ours), (duck, t_duck)):
            t = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t)
    # same figures? (n and wape per period and lag)
    import csv as _csv
    import io as _io

    mine = {
        (r["period"], int(r["lag"])): (int(r["n"]), float(r["wape"])) for r in _csv.DictReader(_io.StringIO(out_ours))
    }
    worst, count = 0.0, 0
    for r in _csv.reader(_io.StringIO(out_duck)):
        period = np.datetime64(r[0][:10], "D")
        iso = period.astype(object).isocalendar()
        key = (f"{iso[0]}-W{iso[1]:02d}", int(r[1]))
        n, wape = mine[key]
        assert n == int(r[2]), (key, n, r[2])
        worst = max(worst, abs(wape - float(r[7])))
        count += 1
    assert count == len(mine), (count, len(mine))
    return {
        "ours_s": statistics.median(t_ours),
        "duckdb_s": statistics.median(t_duck),
        "ours_all": t_ours,
        "duckdb_all": t_duck,
        "rows": count,
        "max_wape_diff": worst,
    }


def cross_check(ours: dict, duck: dict) -> str:
    """Compare a few views' figures between the cube and DuckDB (same definitions): the max abs difference."""
    worst = 0.0
    for name, cols in (
        ("by family", ["n", "wape", "bias", "mape", "mase"]),
        ("by period", ["n", "wape", "rmse"]),
        ("by stage (incl. naive)", ["n", "wape", "mae"]),
        ("by abc, xyz", ["n", "wape", "mase"]),
    ):
        a = ours[name]()
        d = duck[name]()
        names = ["n", "actual", "forecast", "mae", "rmse", "wape", "accuracy", "mape", "mape_excluded", "bias", "mase"]
        k = len(d[0]) - len(names)
        dd = {c: np.array([r[k + names.index(c)] for r in d], dtype=float) for c in cols}
        if "stage" in a.columns:  # DuckDB sorts stages by name
            order = np.argsort(a["stage"].to_numpy().astype(str))
            a = a.iloc[order]
        for c in cols:
            worst = max(
                worst, float(np.nanmax(np.abs(a[c].to_numpy(dtype=float) - dd[c]) / np.maximum(1, np.abs(dd[c]))))
            )
    return (
        f"cube vs DuckDB figures (n, wape, bias, mape, mase, rmse, mae on 4 views): max relative difference {worst:.1e}"
    )


def timed(fn, runs: int = 5) -> tuple[float, float, float]:
    """(first-call seconds, median seconds of `runs` more, tracemalloc peak MB of one call)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 1048576
    tracemalloc.stop()
    return first, statistics.median(times), peak


def pg_available(url: str) -> str | None:
    """None when PostgreSQL answers at url, else the reason."""
    try:
        from sqlalchemy import text

        from kpis.store.engine import make_engine

        eng = make_engine(url)
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as e:  # unreachable, driver missing, auth
        return str(e).splitlines()[0]


def ok(flag: bool) -> str:
    return "ok" if flag else "MISSED"


TARGET_CLI_RATIO = 0.5


def print_whole_process(wp: dict) -> None:
    ratio = wp["ours_s"] / wp["duckdb_s"]
    print(
        f"\nwhole process, `python -m kpis {' '.join(CLI_ARGS)}` ({wp['rows']} rows) vs DuckDB over Parquet "
        f"(medians of {len(wp['ours_all'])}):"
    )
    print(
        f"  ours {wp['ours_s']:.2f} s, DuckDB {wp['duckdb_s']:.2f} s, ratio {ratio:.2f} "
        f"(target <= {TARGET_CLI_RATIO}) {ok(ratio <= TARGET_CLI_RATIO)}; same n, largest WAPE difference "
        f"{wp['max_wape_diff']:.1e}"
    )
    print(
        "  runs: ours "
        + ", ".join(f"{x:.2f}" for x in wp["ours_all"])
        + " s; DuckDB "
        + ", ".join(f"{x:.2f}" for x in wp["duckdb_all"])
        + " s"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description="forecast accuracy benchmark")
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--periods", type=int, default=104)
    ap.add_argument("--lags", type=int, default=4)
    ap.add_argument("--stages", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--spread-years", type=int, default=0, help="sparse histories: each item's periods moved by 0..N whole years"
    )
    ap.add_argument(
        "--pg-url", default=os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    )
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument(
        "--cli-only",
        action="store_true",
        help="only the whole-process CLI vs DuckDB comparison (imports the data first if needed)",
    )
    ap.add_argument("--child-import", nargs=3, metavar=("URL", "SCHEMA", "FOLDER"), help=argparse.SUPPRESS)
    ap.add_argument("--child-reimport", nargs=3, metavar=("URL", "SCHEMA", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--child-cube", nargs=2, metavar=("URL", "SCHEMA"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_import:
        url, schema, folder = a.child_import
        child_import(url, schema or None, folder)
        return 0
    if a.child_reimport:
        url, schema, path = a.child_reimport
        child_reimport(url, schema or None, path)
        return 0
    if a.child_cube:
        url, schema = a.child_cube
        child_cube(url, schema or None)
        return 0

    from generate import generate

    from kpis import forecast
    from kpis.config import load_config
    from kpis.store.audit import data_version
    from kpis.store.engine import make_engine

    out = ROOT / "bench" / "out"
    os.environ.setdefault("SOP_PULSE_CUBE_CACHE", str(out / "cubes"))
    sparse = f"_spread{a.spread_years}" if a.spread_years else ""
    folder = out / f"data_{a.items}x{a.periods}x{a.lags}x{a.stages}_s{a.seed}{sparse}"
    if not (folder / "forecasts.parquet").exists():
        t = time.perf_counter()
        generate(
            folder,
            items=a.items,
            periods=a.periods,
            lags=a.lags,
            stages=a.stages,
            seed=a.seed,
            spread_years=a.spread_years,
        )
        print(f"generated {folder.name} in {time.perf_counter() - t:.1f} s")
    cfg = load_config(ROOT / "config.toml")
    print(
        f"data: {a.items:,} items x {a.periods} weekly periods x {a.lags} lags x {a.stages} loaded stage(s) "
        f"= {a.items * a.periods * a.lags * a.stages:,} forecast rows + {a.items * a.periods:,} actuals; "
        f"{os.cpu_count()} cores" + (f"; sparse: items moved by 0..{a.spread_years} years" if sparse else "")
    )
    big = a.items * a.periods * a.lags * a.stages > 10_000_000
    t_imp, m_imp = (TARGET_IMPORT_BIG_S, TARGET_IMPORT_BIG_MB) if big else (TARGET_IMPORT_S, TARGET_IMPORT_MB)
    lines = []
    db = out / "bench.db"
    if a.cli_only:
        if not db.exists():
            run_child(f"sqlite:///{db}", None, folder)
        engine = make_engine(f"sqlite:///{db}")
        cube = forecast.get_cube(engine, cfg, forecast.forecast_version(engine))
        wp = whole_process(db, folder, cube)
        print_whole_process(wp)
        engine.dispose()
        return 0

    # ---- SQLite import
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    sq = run_child(f"sqlite:///{db}", None, folder)
    lines.append(
        (
            "import SQLite (demand + forecasts)",
            f"{sq['import_s']:.1f} s",
            f"{sq['peak_mb']:.0f} MB",
            f"<= {t_imp:.0f} s, <= {m_imp:.0f} MB",
            ok(sq["import_s"] <= t_imp and sq["peak_mb"] <= m_imp),
        )
    )
    lines.append(("  of which forecasts", f"{sq['forecasts_s']:.1f} s", "", "info", ""))
    lines.append(
        (
            "  re-import forecasts, no change (SQLite)",
            f"{sq['reimport_s']:.1f} s",
            "",
            "info",
            "ok" if not sq["reimport_changed"] else "CHANGED?",
        )
    )
    ch = run_child(f"sqlite:///{db}", None, folder, "--child-reimport", (str(changed_file(folder)),))
    lines.append(
        (
            "  re-import forecasts, one value changed (SQLite)",
            f"{ch['s']:.1f} s",
            f"{ch['peak_mb']:.0f} MB",
            f"<= {m_imp:.0f} MB",
            ok(ch["updated"] == 1 and ch["peak_mb"] <= m_imp),
        )
    )
    run_child(f"sqlite:///{db}", None, folder, "--child-reimport", (str(folder / "forecasts.parquet"),))  # back
    cb = run_child(f"sqlite:///{db}", None, folder, "--child-cube")
    lines.append(
        (
            "cube build from SQLite, no cache (new process)",
            f"{cb['s']:.1f} s",
            f"{cb['peak_mb']:.0f} MB",
            f"<= {TARGET_CUBE_S:.0f} s, <= {TARGET_CUBE_MB:.0f} MB; arrays {cb['arrays_mb']:.0f} MB",
            ok(cb["s"] <= TARGET_CUBE_S and cb["peak_mb"] <= TARGET_CUBE_MB),
        )
    )

    # ---- PostgreSQL import
    pg_engine, schema = None, None
    reason = "skipped (--skip-pg)" if a.skip_pg else pg_available(a.pg_url)
    if reason is None:
        from sqlalchemy import text

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(a.pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))

        def drop_schema() -> None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

        atexit.register(drop_schema)
        try:
            pg = run_child(a.pg_url, schema, folder)
            lines.append(
                (
                    "import PostgreSQL (demand + forecasts)",
                    f"{pg['import_s']:.1f} s",
                    f"{pg['peak_mb']:.0f} MB",
                    f"<= {t_imp:.0f} s, <= {m_imp:.0f} MB",
                    ok(pg["import_s"] <= t_imp and pg["peak_mb"] <= m_imp),
                )
            )
            lines.append(
                (
                    "  re-import forecasts, no change (PostgreSQL)",
                    f"{pg['reimport_s']:.1f} s",
                    "",
                    "info",
                    "ok" if not pg["reimport_changed"] else "CHANGED?",
                )
            )
            cb = run_child(a.pg_url, schema, folder, "--child-cube")
            lines.append(
                (
                    "cube build from PostgreSQL, no cache (new process)",
                    f"{cb['s']:.1f} s",
                    f"{cb['peak_mb']:.0f} MB",
                    f"<= {TARGET_CUBE_S:.0f} s, <= {TARGET_CUBE_MB:.0f} MB",
                    ok(cb["s"] <= TARGET_CUBE_S and cb["peak_mb"] <= TARGET_CUBE_MB),
                )
            )
            pg_engine = make_engine(a.pg_url, connect_args={"options": f"-csearch_path={schema}"})
        except Exception:
            drop_schema()
            raise
    else:
        lines.append(("import PostgreSQL", "skipped", "", f"PostgreSQL not reachable: {reason}", ""))

    # ---- cube load (cold path)
    engine = make_engine(f"sqlite:///{db}")
    forecast.clear_cache(snapshots=True)
    t = time.perf_counter()
    cube = forecast.get_cube(engine, cfg, data_version(engine))
    lines.append(
        (
            "cube load from SQLite (cold: read + build + snapshot)",
            f"{time.perf_counter() - t:.2f} s",
            f"{cube.memory_mb():.0f} MB arrays",
            "info",
            "",
        )
    )
    forecast.clear_cache()
    t = time.perf_counter()
    cube = forecast.get_cube(engine, cfg, data_version(engine))
    lines.append(("cube load in a new process (from the snapshot)", f"{time.perf_counter() - t:.2f} s", "", "info", ""))
    if pg_engine is not None:
        t = time.perf_counter()
        pg_cube = forecast.get_cube(pg_engine, cfg, data_version(pg_engine))
        lines.append(
            (
                "cube load from PostgreSQL (cold)",
                f"{time.perf_counter() - t:.2f} s",
                f"{pg_cube.memory_mb():.0f} MB arrays",
                "info",
                "",
            )
        )
        del pg_cube
    t = time.perf_counter()
    forecast.get_cube(engine, cfg, data_version(engine))
    lines.append(("cube from cache (warm)", f"{(time.perf_counter() - t) * 1000:.1f} ms", "", "info", ""))

    # ---- views vs DuckDB
    ours, duck = views(cube), duckdb_views(folder, cube)
    view_rows = []
    for name, fn in ours.items():
        first, med, peak = timed(fn)
        _d_first, d_med, _ = timed(duck[name], runs=3)
        ratio = med / d_med if d_med else float("nan")
        good = max(first, med) < TARGET_VIEW_S and peak < TARGET_VIEW_MB and ratio <= 1.0
        view_rows.append((name, first, med, peak, d_med, ratio, ok(good)))
    check = cross_check(ours, duck)
    forecast.clear_cache(snapshots=True)
    t = time.perf_counter()
    c2 = forecast.get_cube(engine, cfg, data_version(engine))
    cold = time.perf_counter() - t
    t = time.perf_counter()
    for fn in views(c2).values():
        fn()
    page_s = time.perf_counter() - t

    # ---- print
    w = max(len(x[0]) for x in lines) + 2
    print("\n" + "measure".ljust(w) + "result".rjust(12) + "memory".rjust(18) + "   target / note")
    for name, val, mem, target, flag in lines:
        print(name.ljust(w) + val.rjust(12) + mem.rjust(18) + f"   {target} {flag}".rstrip())
    print(
        "\n"
        + "view".ljust(32)
        + "first ms".rjust(10)
        + "median ms".rjust(11)
        + "peak MB".rjust(9)
        + "duckdb ms".rjust(11)
        + "ratio".rjust(8)
        + "   target: < 300 ms, < 500 MB, ratio <= 1"
    )
    for name, first, med, peak, d_med, ratio, flag in view_rows:
        print(
            name.ljust(32)
            + f"{first * 1000:10.1f}{med * 1000:11.1f}{peak:9.1f}{d_med * 1000:11.1f}{ratio:8.3f}   {flag}"
        )
    print(
        f"\nall {len(ours)} views in one go (a page render, cube cached): {page_s:.2f} s "
        f"(target < {TARGET_PAGE_S} s) {ok(page_s < TARGET_PAGE_S)}; after a data change add the cold cube load "
        f"({cold:.2f} s) once"
    )
    print(check)
    print_whole_process(whole_process(db, folder, cube))
    if pg_engine is not None:
        pg_engine.dispose()
        from sqlalchemy import text

        drop_schema()
        atexit.unregister(drop_schema)
        admin.dispose()
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
