"""Seeded generator of forecast-accuracy data as Parquet: demand.parquet and forecasts.parquet.

    python bench/generate.py --items 10000 --periods 104 --lags 4 --out bench/out/data

Weekly periods (ISO weeks from 2024-W01), item attributes family / region / channel,
one loaded stage (statistical) by default, lags 0..L-1. Same seed, same files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FAMILIES = ["Valves", "Pumps", "Seals", "Bearings", "Sensors", "Fittings", "Motors", "Filters"]
REGIONS = ["EMEA", "Americas", "APAC", "LATAM"]
CHANNELS = ["Distributor", "OEM", "Online"]
STAGES = ["statistical", "sales", "consensus"]


def generate(
    out: Path,
    *,
    items: int = 10_000,
    periods: int = 104,
    lags: int = 4,
    stages: int = 1,
    seed: int = 42,
    start: str = "2024-01-01",
    spread_years: int = 0,
) -> dict[str, Path]:
    """Write demand.parquet and forecasts.parquet into out; return their paths. spread_years > 0 makes sparse
    histories: each item's periods move by a random whole number of years (52 weeks) in 0..spread_years, so items
    start and stop over the years (the calendar grid is far larger than the rows)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    codes = np.array([f"SKU-{i:06d}" for i in range(items)])
    weeks = np.datetime64(start, "D") + 7 * np.arange(periods)
    shift = (rng.integers(0, spread_years + 1, items) * 52 * 7) if spread_years else np.zeros(items, dtype=np.int64)
    item_weeks = (np.repeat(shift, periods) + np.tile(weeks, items)).astype("datetime64[D]")
    level = np.exp(rng.normal(4.0, 1.2, items))
    cv = rng.choice([0.2, 0.45, 1.1], items, p=[0.5, 0.35, 0.15])
    season = 1 + 0.2 * np.sin(2 * np.pi * np.arange(periods) / 52)
    demand = np.maximum(
        0.0, np.round(level[:, None] * season[None, :] * (1 + cv[:, None] * rng.normal(0, 1, (items, periods))))
    )
    demand[rng.random((items, periods)) < 0.03] = 0.0
    attrs = {
        "family": rng.choice(FAMILIES, items),
        "region": rng.choice(REGIONS, items, p=[0.4, 0.3, 0.2, 0.1]),
        "channel": rng.choice(CHANNELS, items, p=[0.5, 0.3, 0.2]),
    }
    d = pa.table(
        {
            "item": pa.array(np.repeat(codes, periods)).dictionary_encode(),
            "period": pa.array(item_weeks).cast(pa.date32()),
            "actual": demand.ravel(),
            **{k: pa.array(np.repeat(v, periods)).dictionary_encode() for k, v in attrs.items()},
        }
    )
    paths = {"demand": out / "demand.parquet", "forecasts": out / "forecasts.parquet"}
    pq.write_table(d, paths["demand"])
    expected = level[:, None] * season[None, :]
    parts = []
    for s in range(stages):
        for k in range(lags):
            noise = rng.normal(0, 1, (items, periods)) * (0.3 + 0.05 * k) * np.sqrt(cv[:, None] / 0.45)
            f = np.round(np.maximum(0.0, demand + expected * (noise + 0.03 * (s - 1))), 1)
            parts.append(
                pa.table(
                    {
                        "item": pa.array(np.repeat(codes, periods)).dictionary_encode(),
                        "period": pa.array(item_weeks).cast(pa.date32()),
                        "lag": pa.array(np.full(items * periods, k, dtype=np.int16)),
                        "stage": pa.array(np.full(items * periods, STAGES[s])).dictionary_encode(),
                        "forecast": f.ravel(),
                    }
                )
            )
    pq.write_table(pa.concat_tables(parts, promote_options="permissive"), paths["forecasts"])
    return paths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=10_000)
    p.add_argument("--periods", type=int, default=104)
    p.add_argument("--lags", type=int, default=4)
    p.add_argument("--stages", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--spread-years", type=int, default=0, help="sparse histories: items moved by 0..N years")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "data"))
    a = p.parse_args()
    paths = generate(
        Path(a.out),
        items=a.items,
        periods=a.periods,
        lags=a.lags,
        stages=a.stages,
        seed=a.seed,
        spread_years=a.spread_years,
    )
    for k, v in paths.items():
        print(f"{k}: {v} ({v.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
