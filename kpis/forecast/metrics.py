"""Forecast-accuracy math core (docs/methodology.md, section "Forecast accuracy").

Conventions: A = actual, F = forecast, e = F - A (positive = over-forecast).
Every metric is built from ADDITIVE per-row terms (``SUM_COLUMNS``) that are
computed once per row (:func:`row_terms`), summed per group with
``np.bincount`` on integer group codes (:func:`aggregate`) and turned into
ratios at the end (:func:`finalize`).  No Python loop ever runs over rows or
groups, so any group-by over millions of rows is a handful of vector passes.

Rows with a missing actual or a missing forecast are dropped before anything
is computed (they count nowhere, not even in ``n``).  All ratio metrics are
fractions (0.031 = 3.1 %).  This module must never import streamlit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kpis.lazy import lazy_module

pd = lazy_module("pandas")  # loaded on first use: the CLI's CSV path never needs it

__all__ = [
    "METRIC_COLUMNS",
    "SUM_COLUMNS",
    "abc_xyz",
    "accuracy_table",
    "aggregate",
    "derive_naive",
    "error_contribution",
    "finalize",
    "fva",
    "fva_matched",
    "mase_scale",
    "matched_sample",
    "row_terms",
    "tracking_min_periods",
    "tracking_signal",
]

METRIC_COLUMNS = [
    "n",
    "actual",
    "forecast",
    "mae",
    "rmse",
    "wape",
    "accuracy",
    "mape",
    "mape_excluded",
    "bias",
    "mase",
]
SUM_COLUMNS = [
    "n",
    "sum_a",
    "sum_f",
    "sum_abs_a",
    "sum_e",
    "sum_abs_e",
    "sum_sq_e",
    "sum_ape",
    "n_ape",
    "n_zero_a",
    "sum_scaled_abs_e",
    "n_scaled",
]
_VALUE_COLUMNS = ("actual", "forecast")
_NAIVE = "naive"


# --------------------------------------------------------------------------- helpers
def _float(values: pd.Series) -> np.ndarray:
    """Column as a float64 ndarray with NaN for missing (handles nullable dtypes)."""
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Elementwise num/den with NaN wherever den == 0 (no warnings)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


_DENSE_LIMIT = 1 << 22  # max radix-code space handled by bincount instead of hashing


def _key_codes(col: pd.Series) -> tuple[np.ndarray, int, Callable[[np.ndarray], object]]:
    """Integer codes in [0, k) for one key column, k, and a decoder codes -> key values.

    Code order equals value order (category order, numeric order, or sorted uniques),
    so lexicographic code order is the sorted order of the keys.  Missing values get
    their own code (like ``dropna=False``) so group totals reconcile with the total.
    """
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # no hashing: reuse the category codes
        codes = col.cat.codes.to_numpy().astype(np.int64) + 1  # 0 = missing
        return codes, len(dtype.categories) + 1, lambda c: pd.Categorical.from_codes(c - 1, dtype=dtype)
    if isinstance(dtype, np.dtype) and dtype.kind in "iu" and len(col):
        values = col.to_numpy()
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < (1 << 20):  # small integer range (lag, period index): offset, no hashing
            return values.astype(np.int64) - lo, hi - lo + 1, lambda c: (c + lo).astype(dtype)
    codes, uniques = pd.factorize(col, sort=True, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), len(uniques), uniques.take


def _densify(raw: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """Map codes in [0, space) to dense ids 0..G-1 (code order kept); also return the used codes."""
    if space <= _DENSE_LIMIT:  # count directly, no hashing
        used = np.flatnonzero(np.bincount(raw, minlength=space))
        if len(used) == space:
            return raw, used
        remap = np.zeros(space, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return remap[raw], used
    gid, used = pd.factorize(raw, sort=True)
    return gid.astype(np.int64, copy=False), used


def _group_index(frame: pd.DataFrame, by: Sequence[str]) -> tuple[np.ndarray, int, dict[str, object]]:
    """Dense group id per row, group count, and the key values of each group (sorted by key)."""
    gid: np.ndarray | None = None
    space = 1
    tables: list[np.ndarray] = []  # per densified key column: its code for each dense group
    pending: list[int] = []  # radixes of key columns mixed into gid since the last densify
    decoders = []

    def flush() -> None:
        nonlocal gid, space, tables, pending
        gid, used = _densify(gid, space)
        rest, new = used, []
        for k in reversed(pending):  # undo the mixed-radix code: last column = lowest digit
            rest, digit = np.divmod(rest, k)
            new.append(digit)
        tables = [t[rest] for t in tables] + new[::-1]
        space, pending = len(used), []

    for col in by:
        codes, k, decode = _key_codes(frame[col])
        decoders.append(decode)
        if gid is None:
            gid = codes
        else:
            if space * k > _DENSE_LIMIT:
                flush()
            gid *= k  # mixed-radix code, lexicographic in the key codes
            gid += codes
        space *= k
        pending.append(k)
    flush()
    keys = {col: dec(t) for col, dec, t in zip(by, decoders, tables)}
    return gid, space, keys


_POOL: ThreadPoolExecutor | None = None


def _bincounts(gid: np.ndarray, values: dict[str, np.ndarray], n_groups: int) -> dict[str, np.ndarray]:
    """np.bincount of every value column by gid (threaded on big inputs: bincount releases the GIL)."""
    global _POOL
    workers = min(4, os.cpu_count() or 1)
    if len(gid) < 200_000 or workers < 2:
        return {c: np.bincount(gid, weights=v, minlength=n_groups) for c, v in values.items()}
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kpis-bincount")
    sums = _POOL.map(lambda v: np.bincount(gid, weights=v, minlength=n_groups), values.values())
    return dict(zip(values, sums))


class _ActualLookup:
    """Vectorised (item, period) -> actual lookup on one actuals table (one row per item-period)."""

    def __init__(self, actuals: pd.DataFrame) -> None:
        codes, self.items = pd.factorize(actuals["item"])
        self.codes = codes.astype(np.int64, copy=False)
        self.period = actuals["period"].to_numpy(dtype=np.int64)
        value = _float(actuals["actual"])
        ok = (self.codes >= 0) & ~np.isnan(value)
        if len(self.period):
            self.pmin = int(self.period.min())
            self.width = int(self.period.max()) - self.pmin + 1
        else:
            self.pmin, self.width = 0, 1
        key = self.codes[ok] * self.width + (self.period[ok] - self.pmin)
        size = len(self.items) * self.width
        self._dense = size <= max(4 * len(self.period), 1 << 20)
        if self._dense:  # item x period grid, NaN where no actual
            self._grid = np.full(size, np.nan)
            self._grid[key] = value[ok]
        else:  # sorted keys + binary search
            order = np.argsort(key, kind="stable")
            self._keys = key[order]
            self._vals = value[ok][order]

    def get(self, codes: np.ndarray, periods: np.ndarray) -> np.ndarray:
        """Actual at (item code, period) for each query; NaN when absent or missing."""
        rel = periods - self.pmin
        valid = (codes >= 0) & (rel >= 0) & (rel < self.width)
        out = np.full(len(codes), np.nan)
        qkey = codes[valid] * self.width + rel[valid]
        if self._dense:
            out[valid] = self._grid[qkey]
        elif len(self._keys):
            pos = np.minimum(np.searchsorted(self._keys, qkey), len(self._keys) - 1)
            out[valid] = np.where(self._keys[pos] == qkey, self._vals[pos], np.nan)
        return out


# --------------------------------------------------------------------------- core
def mase_scale(actuals: pd.DataFrame, *, season_length: int = 1) -> pd.Series:
    """Per-item MASE scale from columns item, period (int index), actual."""
    # scale_i = mean(|A_t - A_(t-m)|) over every t where both period t and t-m have an
    # actual in the table (pairs are matched by period value, not by position).
    # Items with no such pair get NaN; a constant history gives 0 (both unusable).
    m = int(season_length)
    if m < 1:
        raise ValueError("season_length must be >= 1")
    look = _ActualLookup(actuals)
    current = _float(actuals["actual"])
    previous = look.get(look.codes, look.period - m)
    diff = np.abs(current - previous)
    ok = ~np.isnan(diff) & (look.codes >= 0)
    n_items = len(look.items)
    total = np.bincount(look.codes[ok], weights=diff[ok], minlength=n_items)
    count = np.bincount(look.codes[ok], minlength=n_items)
    return pd.Series(_div(total, count), index=pd.Index(look.items, name="item"), name="scale")


def row_terms(df: pd.DataFrame, scale: pd.Series | None = None) -> pd.DataFrame:
    """Additive per-row terms (SUM_COLUMNS) from columns actual, forecast (+ item when scale given); drops rows
    missing A or F."""
    a_all = _float(df["actual"])
    f_all = _float(df["forecast"])
    keep = ~(np.isnan(a_all) | np.isnan(f_all))
    other = [c for c in df.columns if c not in _VALUE_COLUMNS and c not in SUM_COLUMNS]
    base = df[other] if keep.all() else df.loc[keep, other]
    # All twelve terms are written straight into one (12, rows) float64 block that
    # becomes a single pandas block (no per-column consolidation copy).
    block = np.empty((len(SUM_COLUMNS), int(keep.sum())), dtype=np.float64)
    t = dict(zip(SUM_COLUMNS, block))
    a, f = t["sum_a"], t["sum_f"]
    np.compress(keep, a_all, out=a)
    np.compress(keep, f_all, out=f)
    e, abs_e, abs_a = t["sum_e"], t["sum_abs_e"], t["sum_abs_a"]
    np.subtract(f, a, out=e)
    np.abs(e, out=abs_e)
    np.abs(a, out=abs_a)
    np.multiply(e, e, out=t["sum_sq_e"])
    t["n"].fill(1.0)
    nonzero = a != 0
    t["n_ape"][:] = nonzero
    np.subtract(1.0, t["n_ape"], out=t["n_zero_a"])
    t["sum_ape"].fill(0.0)
    np.divide(abs_e, abs_a, out=t["sum_ape"], where=nonzero)
    t["sum_scaled_abs_e"].fill(0.0)
    if scale is None:
        t["n_scaled"].fill(0.0)
    else:
        s = _float(scale.reindex(base["item"]))
        usable = np.isfinite(s) & (s > 0)
        t["n_scaled"][:] = usable
        np.divide(abs_e, s, out=t["sum_scaled_abs_e"], where=usable)
    terms = pd.DataFrame(block.T, index=base.index, columns=SUM_COLUMNS, copy=False)
    return pd.concat([base, terms], axis=1)


def aggregate(terms: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sum the additive terms per group (by may be empty → one row)."""
    by = list(by)
    values = {c: terms[c].to_numpy(dtype=np.float64) for c in SUM_COLUMNS}
    if not by:
        return pd.DataFrame({c: [float(v.sum())] for c, v in values.items()})
    gid, n_groups, keys = _group_index(terms, by)
    return pd.DataFrame({**keys, **_bincounts(gid, values, n_groups)})


# A ratio metric's denominator: a period's value weighted by it, summed over periods and divided by the weights'
# sum, is the ratio of the periods' sums (the pooled figure the Forecast accuracy page shows over a window).
RATIO_WEIGHT = {
    "wape": "sum_abs_a",
    "accuracy": "sum_abs_a",
    "bias": "sum_a",
    "mae": "n",
    "mape": "n_ape",
    "mase": "n_scaled",
}


def finalize(sums: pd.DataFrame) -> pd.DataFrame:
    """Turn summed terms into METRIC_COLUMNS (group columns kept first); actual=sum_a, forecast=sum_f, n and
    mape_excluded as ints."""
    g = [c for c in sums.columns if c not in SUM_COLUMNS]
    metrics = finalize_columns({c: sums[c].to_numpy(dtype=np.float64) for c in SUM_COLUMNS})
    out = pd.DataFrame(metrics, index=sums.index)
    return pd.concat([sums[g], out], axis=1) if g else out


def finalize_columns(v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """METRIC_COLUMNS as arrays from summed terms (SUM_COLUMNS arrays); the one place the ratios are taken."""
    v = {c: np.asarray(v[c], dtype=np.float64) for c in SUM_COLUMNS}
    wape = _div(v["sum_abs_e"], v["sum_abs_a"])
    metrics = {
        "n": np.rint(v["n"]).astype(np.int64),
        "actual": v["sum_a"],
        "forecast": v["sum_f"],
        "mae": _div(v["sum_abs_e"], v["n"]),
        "rmse": np.sqrt(_div(v["sum_sq_e"], v["n"])),
        "wape": wape,
        "accuracy": np.maximum(0.0, 1.0 - wape),  # NaN propagates
        "mape": _div(v["sum_ape"], v["n_ape"]),
        "mape_excluded": np.rint(v["n_zero_a"]).astype(np.int64),
        "bias": _div(v["sum_e"], v["sum_a"]),
        "mase": _div(v["sum_scaled_abs_e"], v["n_scaled"]),
    }
    return metrics


def accuracy_table(df: pd.DataFrame, by: list[str], *, scale: pd.Series | None = None) -> pd.DataFrame:
    """Group columns then exactly METRIC_COLUMNS (fractions), one row per group."""
    by = list(by)
    cols = [*dict.fromkeys([*by, *_VALUE_COLUMNS, *(["item"] if scale is not None else [])])]
    return finalize(aggregate(row_terms(df[cols], scale), by))


def derive_naive(actuals: pd.DataFrame, lags: list[int], *, season_length: int = 1) -> pd.DataFrame:
    """Naive forecast rows (item, period, lag, stage='naive', forecast) for every actual period and lag."""
    # The snapshot for target t at lag k was taken in period s = t - k; the last actual
    # known then is A(t - k - 1).  Seasonal naive (m > 1) uses the latest same-season
    # actual known at the snapshot: A(t - m * ceil((k + 1) / m)); m = 1 reduces to the
    # plain naive.  Rows whose source actual is absent/missing are not produced.
    m = int(season_length)
    if m < 1:
        raise ValueError("season_length must be >= 1")
    lag_arr = np.asarray(list(lags), dtype=np.int64)
    if (lag_arr < 0).any():
        raise ValueError("lags must be >= 0")
    look = _ActualLookup(actuals)
    n_rows, n_lags = len(look.period), len(lag_arr)
    row = np.tile(np.arange(n_rows), n_lags)
    lag = np.repeat(lag_arr, n_rows)
    offset = m * ((lag + m) // m)  # m * ceil((k + 1) / m) for k >= 0
    fc = look.get(look.codes[row], look.period[row] - offset)
    ok = ~np.isnan(fc)
    row, lag = row[ok], lag[ok]
    return pd.DataFrame(
        {
            "item": actuals["item"].array.take(row),
            "period": actuals["period"].array.take(row),
            "lag": lag,
            "stage": np.full(len(row), _NAIVE, dtype=object),
            "forecast": fc[ok],
        }
    )


def fva(
    table_by_stage: pd.DataFrame,
    stages: list[str],
    *,
    by: list[str] = (),
    naive_stage: str = _NAIVE,
) -> pd.DataFrame:
    """Stairstep: per group and stage (in configured order) wape, fva_vs_previous, fva_vs_naive (fractions)."""
    # fva_vs_previous = wape(previous PRESENT stage in `stages` order) - wape(stage)
    # fva_vs_naive    = wape(naive_stage row of the same group) - wape(stage)
    # Positive = the stage added value.  The naive row is used for fva_vs_naive even
    # when naive_stage is not listed in `stages`.  Stages not in `stages` are dropped.
    by = list(by)
    t = table_by_stage[[*by, "stage", "wape"]].copy()
    stage_obj = t["stage"].astype(object)
    naive_key = t[by].copy() if by else pd.DataFrame(index=t.index)
    naive_key["naive_wape"] = t["wape"]
    naive_key = naive_key[(stage_obj == naive_stage).to_numpy()]
    t["_order"] = pd.Index(list(stages), dtype=object).get_indexer(stage_obj)
    t = t[t["_order"] >= 0].sort_values([*by, "_order"], kind="stable", ignore_index=True)
    prev = t.groupby(by, sort=False, observed=True, dropna=False)["wape"].shift(1) if by else t["wape"].shift(1)
    t["fva_vs_previous"] = prev - t["wape"]
    if by:
        t = t.merge(naive_key.drop_duplicates(by), on=by, how="left")
    else:
        t["naive_wape"] = naive_key["naive_wape"].iloc[0] if len(naive_key) else np.nan
    t["fva_vs_naive"] = t["naive_wape"] - t["wape"]
    return t[[*by, "stage", "wape", "fva_vs_previous", "fva_vs_naive"]]


def matched_sample(
    rows: pd.DataFrame, stages: Sequence[str], *, keys: Sequence[str] = ("item", "period", "lag")
) -> tuple[pd.DataFrame, pd.Series]:
    """Rows (keys, stage, actual, forecast) on the FVA matched sample: the keys where every stage in `stages`
    present in the rows has a forecast and the actual is known; plus the rows left out per stage."""
    keys = list(keys)
    present = [s for s in stages if (rows["stage"] == s).any()]
    usable = rows[rows["stage"].isin(present) & rows["actual"].notna() & rows["forecast"].notna()]
    per_key = usable.groupby(keys, observed=True, dropna=False)["stage"].nunique()
    full = per_key[per_key == len(present)].index
    key_idx = pd.MultiIndex.from_frame(usable[keys]) if len(keys) > 1 else pd.Index(usable[keys[0]])
    inside = key_idx.isin(full)
    matched = usable[inside]
    left_out = usable[~inside].groupby("stage", observed=True).size().reindex(present, fill_value=0)
    return matched, left_out.astype(np.int64)


def fva_matched(rows: pd.DataFrame, stages: Sequence[str], *, by: Sequence[str] = ()) -> pd.DataFrame:
    """FVA stairstep on the matched sample per group (by): stage, n, wape, fva_vs_previous, fva_vs_naive, left_out.

    Within each group, only the (item, period, lag) rows where every stage has a forecast and the actual is
    known are compared; `n` is that sample and `left_out` counts each stage's rows outside it."""
    by = list(by)
    keys = [*dict.fromkeys(["item", "period", "lag", *[c for c in by if c in ("item", "period", "lag")]])]
    parts = []
    groups = rows.groupby(by, observed=True, dropna=False, sort=True) if by else [((), rows)]
    for key, grp in groups:
        matched, left = matched_sample(grp, stages, keys=keys)
        table = (
            accuracy_table(matched, ["stage"])
            if len(matched)
            else pd.DataFrame(
                {
                    "stage": pd.Series([], dtype=object),
                    "n": pd.Series([], dtype=np.int64),
                    "wape": pd.Series([], dtype=float),
                }
            )
        )
        table = table[["stage", "n", "wape"]].set_index("stage").reindex(left.index)
        table["n"] = table["n"].fillna(0).astype(np.int64)
        table["left_out"] = left
        table = table.reset_index()
        key = key if isinstance(key, tuple) else (key,)
        for c, v in zip(by, key):
            table[c] = v
        parts.append(table)
    if not parts:
        return pd.DataFrame({c: [] for c in [*by, "stage", "n", "wape", "fva_vs_previous", "fva_vs_naive", "left_out"]})
    t = pd.concat(parts, ignore_index=True)
    stair = fva(t, list(stages), by=by)
    out = stair.merge(t[[*by, "stage", "n", "left_out"]], on=[*by, "stage"], how="left")
    return out[[*by, "stage", "n", "wape", "fva_vs_previous", "fva_vs_naive", "left_out"]]


def abc_xyz(
    actuals: pd.DataFrame,
    *,
    abc: tuple[float, float] = (0.8, 0.95),
    xyz: tuple[float, float] = (0.5, 1.0),
) -> pd.DataFrame:
    """Per-item ABC and XYZ class from columns item, actual (one row per item-period)."""
    # ABC: items sorted by volume (sum of actuals) descending, ties by item.  Boundary
    # rule: an item's class is decided by the cumulative share BEFORE it, so the item
    # that crosses a boundary stays in the higher-value class:
    #   A if cum_before < abc[0]; B if cum_before < abc[1]; else C.
    # (With 60/30/10 the 2nd item, 0.60 -> 0.90, is A; with 80/15/5 the 2nd item
    # starts exactly at 0.80 and is B.)  Non-positive total volume -> all C.
    # XYZ: cv = std(ddof=0) / |mean| of the item's period actuals (NaN skipped);
    # X if cv < xyz[0], Y if cv < xyz[1], else Z; mean 0 (or no data) -> cv NaN, Z.
    # |mean| only matters for a negative mean demand (keeps cv >= 0).
    a = actuals[["item", "actual"]]
    g = a.groupby("item", sort=True, observed=True)["actual"]
    stats = pd.DataFrame({"volume": g.sum(), "mean": g.mean(), "std": g.std(ddof=0)})
    stats = stats.sort_values("volume", ascending=False, kind="stable")  # index already sorted
    vol = stats["volume"].to_numpy(dtype=np.float64)
    total = vol.sum()
    cum_before = (np.cumsum(vol) - vol) / total if total > 0 else np.full(len(vol), np.nan)
    abc_cls = np.where(cum_before < abc[0], "A", np.where(cum_before < abc[1], "B", "C"))
    mean = stats["mean"].to_numpy(dtype=np.float64)
    cv = _div(stats["std"].to_numpy(dtype=np.float64), np.abs(np.nan_to_num(mean, nan=0.0)))
    cv = np.where(np.isnan(mean), np.nan, cv)
    xyz_cls = np.where(cv < xyz[0], "X", np.where(cv < xyz[1], "Y", "Z"))  # NaN -> Z
    return pd.DataFrame(
        {"abc": abc_cls, "xyz": xyz_cls, "volume": vol, "cv": cv},
        index=pd.Index(stats.index, name="item"),
    )


FVA_MIN_N = 30  # matched item-periods below which a worse step is shown, but not called value-destroying


def tracking_min_periods(limit: float) -> int:
    """Fewest periods over which a tracking signal can pass `limit`: |Σe| <= Σ|e| = n·MAD, so |TS| <= n, and over
    fewer than floor(limit) + 1 periods no item could ever be flagged (over one period TS is always ±1)."""
    return int(np.floor(limit)) + 1


def tracking_signal(df: pd.DataFrame, *, window: int = 6, limit: float = 4.0) -> pd.DataFrame:
    """Per-item TS over the last `window` periods with A and F: columns item, ts, mad, sum_e, n, flagged."""
    # TS = sum(e) / MAD with MAD = mean(|e|) over the same last `window` periods;
    # TS NaN when MAD = 0 or when fewer than tracking_min_periods(limit) periods count (never flagged);
    # flagged = |TS| > limit.
    a = _float(df["actual"])
    f = _float(df["forecast"])
    keep = ~(np.isnan(a) | np.isnan(f))
    codes, items = pd.factorize(df["item"][keep], sort=True)
    period = df["period"].to_numpy()[keep]
    e = (f - a)[keep]
    n_items = len(items)
    order = np.lexsort((period, codes))
    codes_s, e_s = codes[order], e[order]
    counts = np.bincount(codes_s, minlength=n_items)
    group_end = np.cumsum(counts)  # exclusive end position of each item in sorted order
    from_end = group_end[codes_s] - np.arange(len(codes_s))  # 1 = item's last period
    last = from_end <= window
    c, el = codes_s[last], e_s[last]
    n = np.bincount(c, minlength=n_items)
    sum_e = np.bincount(c, weights=el, minlength=n_items)
    mad = _div(np.bincount(c, weights=np.abs(el), minlength=n_items), n)
    ts = _div(sum_e, mad)
    ts[n < tracking_min_periods(limit)] = np.nan
    return pd.DataFrame(
        {
            "item": items,
            "ts": ts,
            "mad": mad,
            "sum_e": sum_e,
            "n": n.astype(np.int64),
            "flagged": np.abs(np.nan_to_num(ts, nan=0.0)) > limit,
        }
    )


def error_contribution(df: pd.DataFrame, by: list[str] = ["item"]) -> pd.DataFrame:  # noqa: B006 (never mutated)
    """Per group abs error volume and its share of the total abs error, ranked descending."""
    # Columns: *by, abs_error (sum |e|), share (of total |e|; NaN when total is 0),
    # cum_share (Pareto running share), rank (1 = largest).
    by = list(by)
    cols = [*dict.fromkeys([*by, *_VALUE_COLUMNS])]
    sums = aggregate(row_terms(df[cols]), by)
    out = sums[by].copy()
    out["abs_error"] = sums["sum_abs_e"].to_numpy()
    out = out.sort_values("abs_error", ascending=False, kind="stable", ignore_index=True)
    total = out["abs_error"].sum()
    out["share"] = out["abs_error"] / total if total != 0 else np.nan
    out["cum_share"] = out["share"].cumsum()
    out["rank"] = np.arange(1, len(out) + 1)
    return out
