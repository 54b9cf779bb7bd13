"""The additive error terms the cube sums, and the vector helpers its build and its views share.

``TERMS`` are the ten additive terms per cell (``terms_iter``); the first ``N_ITEM_TERMS`` are also kept per item as
prefix sums over blocks of ``BLOCK`` cells. ``each`` runs a function over slices of the output on every core;
``unit_groups`` and ``group_axis`` group combinations or items into the view's groups. Never imports streamlit.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from kpis.forecast import metrics as accuracy
from kpis.forecast.metrics import SUM_COLUMNS
from kpis.lazy import lazy_module

pd = lazy_module("pandas")  # loaded on first use: the CLI's CSV path never needs it

if TYPE_CHECKING:
    from kpis.forecast.cube import ForecastCube

TERMS = [
    "n",
    "sum_a",
    "sum_f",
    "sum_abs_a",
    "sum_abs_e",
    "sum_sq_e",
    "sum_ape",
    "n_ape",
    "sum_scaled_abs_e",
    "n_scaled",
]
N_ITEM_TERMS = 8  # the first 8 are stored per item; the scaled two follow from sum_abs_e, n and the item scale
BLOCK = 8
_BUILD_THREADS = 4  # at most this many threads sum the pre-aggregates (one per core)
_PARALLEL_CELLS = 200_000  # below this many cells one thread is as fast


def each(fn, args: list[tuple], n_cells: int) -> None:
    """fn(*a) for every a in args, on every core at once for big data (numpy releases the GIL in its loops);
    each call must write only its own slice of the output."""
    workers = min(len(args), _BUILD_THREADS, os.cpu_count() or 1)
    if workers > 1 and n_cells >= _PARALLEL_CELLS:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="sop-pulse-cube") as pool:
            for done in [pool.submit(fn, *a) for a in args]:
                done.result()
    else:
        for a in args:
            fn(*a)


def terms_iter(f: np.ndarray, a: np.ndarray, inv_scale: np.ndarray, usable: np.ndarray):
    """Yield (term index, cell array) of the 10 additive terms for cells f, a (items on axis -2)."""
    valid = ~(np.isnan(f) | np.isnan(a))
    allv = bool(valid.all())
    a0 = a if allv else np.where(valid, a, 0.0)
    f0 = f if allv else np.where(valid, f, 0.0)
    n = valid.astype(np.float64)
    yield 0, n
    yield 1, np.broadcast_to(a0, f0.shape) if a0.shape != f0.shape else a0
    yield 2, f0
    abs_a = np.abs(a0)
    yield 3, np.broadcast_to(abs_a, f0.shape) if abs_a.shape != f0.shape else abs_a
    e = f0 - a0
    abs_e = np.abs(e)
    yield 4, abs_e
    np.multiply(e, e, out=e)
    yield 5, e
    del e
    nonzero = valid & (a0 != 0)
    ape = np.zeros(f0.shape)
    np.divide(abs_e, abs_a, out=ape, where=nonzero)
    yield 6, ape
    del ape
    yield 7, nonzero.astype(np.float64)
    shape = (-1, 1) if f0.ndim >= 2 else (-1,)
    yield 8, abs_e * inv_scale.reshape(shape)
    yield 9, n * usable.reshape(shape)


def grid_terms(f: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The 8 item-level terms of cells (items, periods) summed over periods → (8, items)."""
    out = np.empty((N_ITEM_TERMS, f.shape[0]))
    ones = np.ones(f.shape[0])
    for k, arr in terms_iter(f, a, ones, ones):
        if k >= N_ITEM_TERMS:
            break
        out[k] = arr.sum(axis=-1)
    return out


def unit_groups(
    ucodes: dict[str, np.ndarray], n_units: int, umask: np.ndarray | None, radix: dict[str, int]
) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """Group id per unit (-1 = excluded), the key code of each group per column, and the group count."""
    if not ucodes:
        gid = np.zeros(n_units, dtype=np.int64)
        tables: dict[str, np.ndarray] = {}
        n_g = 1
    else:
        mixed = np.zeros(n_units, dtype=np.int64)
        for c, codes in ucodes.items():
            mixed = mixed * radix[c] + codes
        if umask is not None:
            uniq, inv = np.unique(mixed[umask], return_inverse=True)
            gid = np.full(n_units, -1, dtype=np.int64)
            gid[umask] = inv
        else:
            uniq, inv = np.unique(mixed, return_inverse=True)
            gid = inv.astype(np.int64)
        tables = {}
        rest = uniq
        for c in reversed(list(ucodes)):
            rest, digit = np.divmod(rest, radix[c])
            tables[c] = digit
        n_g = len(uniq)
    if umask is not None and not ucodes:
        gid = np.where(umask, 0, -1)
    return gid, tables, n_g


def group_axis(data: np.ndarray, gid: np.ndarray, n_g: int, axis: int) -> np.ndarray:
    """Sum `data` along `axis` (units) into n_g groups by gid (-1 dropped)."""
    moved = np.moveaxis(data, axis, -1)  # (..., U)
    lead = moved.shape[:-1]
    flat = moved.reshape(-1, moved.shape[-1])
    keep = gid >= 0
    if keep.all() and n_g == len(gid) and (np.diff(gid) == 1).all():
        res = flat
    elif n_g <= 64:
        onehot = np.zeros((len(gid), n_g))
        onehot[np.flatnonzero(keep), gid[keep]] = 1.0
        res = flat @ onehot
    else:
        g = gid[keep]
        sub = flat[:, keep]
        if len(g) and (np.diff(g) >= 0).all():  # sorted ids: contiguous runs
            starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
            red = np.add.reduceat(sub, starts, axis=1) if len(starts) else np.zeros((flat.shape[0], 0))
            res = np.zeros((flat.shape[0], n_g))
            res[:, g[starts]] = red
        else:
            res = (
                np.stack([np.bincount(g, weights=row, minlength=n_g) for row in sub])
                if len(sub)
                else np.zeros((0, n_g))
            )
    return np.moveaxis(res.reshape(*lead, n_g), -1, axis)


def empty_sums(by: list[str]) -> pd.DataFrame:
    """The sums frame of a view without rows: group columns then SUM_COLUMNS."""
    key_dtype = {"period": "datetime64[ns]", "lag": np.int64}
    cols = {c: pd.Series([], dtype=key_dtype.get(c, object)) for c in by}
    return pd.DataFrame({**cols, **{c: pd.Series([], dtype=np.float64) for c in SUM_COLUMNS}})


def sums_columns(
    cube: ForecastCube,
    arr: np.ndarray,
    by: list[str],
    s_list: list[int],
    l_list: list[int] | None,
    p0: int | None,
    key_tables: dict[str, np.ndarray],
    n_pp: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Group key columns (labelled from the cube) and SUM_COLUMNS of the summed terms `arr` (S', L', TERMS, G, P')
    as numpy arrays, groups without rows left out, sorted by the keys."""
    n_s, n_l, _t, n_g, n_p = arr.shape
    flat = arr.transpose(0, 1, 3, 4, 2).reshape(-1, len(TERMS))
    si, li, gi, pi = (
        x.ravel() for x in np.meshgrid(np.arange(n_s), np.arange(n_l), np.arange(n_g), np.arange(n_p), indexing="ij")
    )
    keep = flat[:, 0] > 0
    flat, si, li, gi, pi = flat[keep], si[keep], li[keep], gi[keep], pi[keep]
    cols: dict[str, np.ndarray] = {}
    sort_keys: dict[str, np.ndarray] = {}
    for c in by:
        if c == "stage":
            idx = np.asarray(s_list)[si]
            cols[c] = np.array(cube.stages, dtype=object)[idx]
            sort_keys[c] = idx
        elif c == "lag":
            idx = np.asarray(l_list)[li]
            cols[c] = np.asarray(cube.lags, dtype=np.int64)[idx]
            sort_keys[c] = idx
        elif c == "period":
            idx = p0 + pi
            cols[c] = cube.period_starts[cube.pc[idx]]
            sort_keys[c] = idx
        elif c == "item":
            idx = key_tables[c][gi]
            cols[c] = cube.item_codes[idx]
            sort_keys[c] = cube.code_rank[idx]
        else:
            idx = key_tables[c][gi]
            cols[c] = np.array(cube.attributes[c], dtype=object)[idx]
            sort_keys[c] = idx
    if by:
        order = np.lexsort([sort_keys[c] for c in reversed(by)])
        flat = flat[order]
        cols = {c: v[order] for c, v in cols.items()}
    t = {name: flat[:, i] for i, name in enumerate(TERMS)}
    sums = {
        "n": t["n"],
        "sum_a": t["sum_a"],
        "sum_f": t["sum_f"],
        "sum_abs_a": t["sum_abs_a"],
        "sum_e": t["sum_f"] - t["sum_a"],
        "sum_abs_e": t["sum_abs_e"],
        "sum_sq_e": t["sum_sq_e"],
        "sum_ape": t["sum_ape"],
        "n_ape": t["n_ape"],
        "n_zero_a": t["n"] - t["n_ape"],
        "sum_scaled_abs_e": t["sum_scaled_abs_e"],
        "n_scaled": t["n_scaled"],
    }
    return cols, {c: sums[c] for c in SUM_COLUMNS}


def sums_frame(cols: dict[str, np.ndarray], sums: dict[str, np.ndarray]) -> pd.DataFrame:
    """`sums_columns` as a data frame: group columns then SUM_COLUMNS."""
    by = list(cols)
    frame = pd.DataFrame({**{c: pd.Series(v) for c, v in cols.items()}, **sums})
    for c in by:
        if c == "period":
            frame[c] = pd.to_datetime(frame[c])
    return frame[[*by, *SUM_COLUMNS]]


def tracking_signal(
    f: np.ndarray, a: np.ndarray, which: np.ndarray, lens: np.ndarray, n_items: int, window: int, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per item tracking signal over the last `window` periods with A and F (docs/methodology.md), and the flag;
    f and a are the item-major cells, `which` the item of each cell and `lens` the cell count per item."""
    valid = ~(np.isnan(f) | np.isnan(a))
    after = np.cumsum(valid[::-1], dtype=np.int64)[::-1]  # valid cells from here to the last cell
    end = np.cumsum(lens)  # each item's end (exclusive)
    after_end = np.append(after, 0)[end]  # valid cells after each item
    from_end = after - after_end[which]
    take = valid & (from_end <= window)
    e = np.where(take, f - a, 0.0)
    n = np.bincount(which, weights=take, minlength=n_items)
    sum_e = np.bincount(which, weights=e, minlength=n_items)
    mad = np.full(n_items, np.nan)
    np.divide(np.bincount(which, weights=np.abs(e), minlength=n_items), n, out=mad, where=n > 0)
    ts = np.full(n_items, np.nan)
    long_enough = n >= accuracy.tracking_min_periods(limit)  # |TS| <= n: shorter never flags
    np.divide(sum_e, mad, out=ts, where=(mad > 0) & np.isfinite(mad) & long_enough)
    return ts, np.abs(np.nan_to_num(ts, nan=0.0)) > limit


def matched_terms(
    f: np.ndarray,
    idx: np.ndarray,
    a: np.ndarray,
    inv: np.ndarray,
    usable: np.ndarray,
    key: np.ndarray,
    l_list: list[int],
    n_g: int,
    n_pp: int,
) -> np.ndarray:
    """Terms per stage, lag, group and period over the cells `idx` where every stage has a forecast and A is known
    → (S, L', TERMS, G, P'); f holds the cube's forecasts (stage, lag, cell), a, inv, usable and key (group x
    period) are per cell of idx."""
    s_all = range(f.shape[0])
    arr = np.zeros((f.shape[0], len(l_list), len(TERMS), n_g, n_pp))

    every = len(idx) == f.shape[-1]  # every cell, in order (idx is sorted): a view, not a copy

    def lag_sums(j: int, li: int) -> None:  # writes only arr[:, j]
        fs = f[:, li] if every else f[:, li][:, idx]
        matched = ~np.isnan(a) & ~np.isnan(fs).any(axis=0)
        for si in s_all:
            fm = np.where(matched, fs[si], np.nan)
            for k, term in terms_iter(fm, a, inv, usable):
                arr[si, j, k] = np.bincount(key, weights=term, minlength=n_g * n_pp).reshape(n_g, n_pp)

    each(lag_sums, list(enumerate(l_list)), len(idx))
    return arr
