"""Benchmark: Overview page server-side render time and peak memory at 200 KPIs × 36 months × 10 segments.

Usage: python bench/overview_bench.py [--kpis 200] [--months 36] [--segments 10] [--database-url URL]
Builds a generated catalog and database in a temp folder, then runs the Overview page script with
Streamlit's AppTest (the same script run the server does): once cold (empty caches) and five times
warm, reporting wall time per run and the process's peak memory (RSS high-water mark).
Targets from the issue: under 1 s and under 300 MB.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def generate_config(path: Path, n_kpis: int) -> None:
    """A config.toml with n generated KPIs cycling through functions, units and directions."""
    base = (ROOT / "config.toml").read_text().split("[[kpi]]")[0]
    functions = ["sales", "marketing", "finance", "supply", "production", "executive", "partners"]
    practices = [
        "collaboration",
        "alignment",
        "data",
        "technology",
        "process",
        "change",
        "improvement",
        "sponsorship",
        "partners",
        "evaluation",
    ]
    parts = [base]
    for i in range(n_kpis):
        unit, direction, target, red = [("%", "higher", 0.9, 0.05), ("days", "lower", 10, 5), ("%", "band", 0.5, 0.1)][
            i % 3
        ]
        band = "band = 0.05\n" if direction == "band" else ""
        parts.append(
            f'[[kpi]]\nid = "kpi_{i:03d}"\nname = "Generated KPI {i:03d}"\nfunction = "{functions[i % 7]}"\n'
            f'owner = "Owner {i % 12}"\nunit = "{unit}"\ndirection = "{direction}"\ntarget = {target}\n{band}'
            f'red = {red}\ncadence = "month"\nrollup = "mean"\npractices = ["{practices[i % 10]}"]\n\n'
        )
    path.write_text("".join(parts))


def load_data(url: str, config, n_months: int, n_segments: int) -> int:
    import numpy as np
    import pandas as pd

    from kpis.access.users import User
    from kpis.catalog.load import write_actuals
    from kpis.catalog.sync import sync_catalog
    from kpis.store.engine import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    user = User("bench", "admin")
    sync_catalog(engine, config, user)
    rng = np.random.default_rng(1)
    months = pd.date_range("2023-11-01", periods=n_months, freq="MS").date
    segs = [""] + [f"Segment {s}" for s in range(n_segments)]
    kpi_ids = [k.id for k in config.kpis]
    idx = pd.MultiIndex.from_product([kpi_ids, segs, months], names=["kpi_id", "segment", "period"]).to_frame(
        index=False
    )
    idx["value"] = np.clip(rng.normal(0.85, 0.05, len(idx)), 0, 1) * np.where(
        idx["kpi_id"].str[-1].isin(list("147")), 12, 1
    )
    idx["note"] = None
    write_actuals(engine, idx, filename="bench", sha256="bench", user=user)
    engine.dispose()
    return len(idx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kpis", type=int, default=200)
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--segments", type=int, default=10)
    ap.add_argument("--database-url", help="default: a temporary SQLite file")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--render-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.render_only:
        render(args)
        return

    tmp = Path(tempfile.mkdtemp(prefix="sop_bench_"))
    cfg_path = tmp / "config.toml"
    generate_config(cfg_path, args.kpis)
    os.environ["SOP_PULSE_CONFIG"] = str(cfg_path)
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    os.environ["DATABASE_URL"] = url
    from kpis.config import load_config

    cfg = load_config(cfg_path)
    t0 = time.perf_counter()
    rows = load_data(url, cfg, args.months, args.segments)
    load_s = time.perf_counter() - t0
    print(
        f"Overview benchmark: {args.kpis} KPIs x {args.months} months x {args.segments} segments (+ total) "
        f"= {rows:,} values on {url.split(':')[0]}"
    )
    print(f"  data load (not part of the target): {load_s:.1f} s")
    # Render in a fresh process so its memory high-water mark is the page's, not the generator's.
    import subprocess

    subprocess.run(
        [sys.executable, __file__, "--render-only", "--runs", str(args.runs)],
        check=True,
        env={**os.environ, "SOP_PULSE_CONFIG": str(cfg_path), "DATABASE_URL": url},
    )


def peak_mb() -> float:
    """This process's resident-memory high-water mark in MB (VmHWM; ru_maxrss would include a forking parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def render(args) -> None:
    """Run the Overview script cold and warm in this process and print the figures."""
    rss_before = peak_mb()
    from streamlit.testing.v1 import AppTest

    os.chdir(ROOT)
    times = []
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for _i in range(args.runs + 1):
        t = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t)
        if at.exception:
            raise SystemExit(f"the Overview page raised: {at.exception[0].value}")
    tiles = len(list(at.metric)) - 4
    # A running server has its modules loaded; after a write the data version changes and the
    # cached KPI frame misses. Model that: clear the caches and render in a new session.
    import streamlit as st

    st.cache_data.clear()
    miss_at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    t = time.perf_counter()
    miss_at.run()
    miss = time.perf_counter() - t
    peak = peak_mb()
    cold, warm = times[0], sorted(times[1:])[len(times[1:]) // 2]
    print(f"  tiles rendered:                     {tiles}")
    print(f"  render, first run of a fresh process (imports pandas, SQLAlchemy, … once): {cold:.3f} s")
    print(
        f"  render, new session after a data change (cache miss): {miss:.3f} s   "
        f"target < 1 s: {'OK' if miss < 1 else 'MISSED'}"
    )
    print(
        f"  render, warm (median of {args.runs}):        {warm:.3f} s   target < 1 s: {'OK' if warm < 1 else 'MISSED'}"
    )
    print(
        f"  peak memory (process RSS):          {peak:.0f} MB "
        f"(interpreter before importing the app: {rss_before:.0f} MB)   "
        f"target < 300 MB: {'OK' if peak < 300 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
