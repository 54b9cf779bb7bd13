"""The in-memory ``ForecastCube`` every accuracy view is answered from.

Analytics (``get_cube``)
------------------------
The cube is built once per (database, data version, forecast config) and cached (one per
database: ``kpis.forecast.cache``). Its memory follows the rows present, not items × calendar
periods: it keeps the *cells*, the (item, period) pairs with an actual or any forecast, item-major
(an item that starts late, stops early or has years without data costs only its rows), with the
actual per cell and the forecast per stage × lag × cell (derived naive added when no naive stage
is loaded, on the cells some loaded stage forecasts). Periods are indexed over those that have
rows; each keeps its calendar number, so naive forecasts and the MASE scale use calendar
neighbours (a gap stays a gap), and ``periods`` is the full calendar range for windows and
labels. Two pre-aggregates of the additive error terms: per-attribute-combination × stage × lag
× period sums, and per-item prefix sums over blocks of cells (a period range is found per item by
binary search). Every view is then a few vector operations on small arrays. Past
SOP_PULSE_MAX_CUBE_CELLS cells the build stops with ``CubeTooLarge``, a message, not a traceback. All metrics are the
ratios of sums from ``kpis.forecast.metrics`` (``finalize``). This module never imports streamlit.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

import numpy as np

from kpis.lazy import lazy_module

pd = lazy_module("pandas")  # loaded on first use: the CLI's CSV path never needs it

from kpis import periods
from kpis.config import AppConfig
from kpis.forecast import metrics as accuracy
from kpis.forecast.common import (
    FVA_COLUMNS,
    NAIVE,
    NONE_VALUE,
    RESERVED,
    _cadence_of_days,
    _period_start,
)
from kpis.forecast.metrics import SUM_COLUMNS

if TYPE_CHECKING:
    from kpis.forecast.sql import _Raw

# ============================================================================ cube
_TERMS = [
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
_N_ITEM_TERMS = 8  # the first 8 are stored per item; the scaled two follow from sum_abs_e, n and the item scale
_BLOCK = 8
_COMBO_BUDGET = 64 * 1024 * 1024
_MAX_CELLS = 300_000_000  # stage x lag x item-period cells held (8 bytes each, about as much again for the
#                            prefix sums); the reference case has 8.3 M incl. derived naive, 50,000 items 41.6 M
_DENSE_CELLS = 50_000_000  # items x periods up to which cells are found with a flag array (else by sorting keys)
_BUILD_THREADS = 4  # at most this many threads sum the pre-aggregates (one per core)
_PARALLEL_CELLS = 200_000  # below this many cells one thread is as fast
_CHUNK = 2_000_000  # packed rows decoded at a time (bounds the temporary arrays of a build)


class CubeTooLarge(ValueError):
    """The forecast data does not fit the in-memory accuracy views (the message says why and what to do)."""


def _max_cells() -> int:
    """The cell limit: SOP_PULSE_MAX_CUBE_CELLS when set to a whole number, else _MAX_CELLS."""
    setting = os.environ.get("SOP_PULSE_MAX_CUBE_CELLS", "").strip().replace("_", "")
    return int(setting) if setting.isdigit() else _MAX_CELLS


def _each(fn, args: list[tuple], n_cells: int) -> None:
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


def _chunks(keys: np.ndarray):
    for lo in range(0, len(keys), _CHUNK):
        yield keys[lo : lo + _CHUNK]


def _max_item(keys: np.ndarray) -> int:
    return int(keys.max() >> 32) if len(keys) else 0


def _terms_iter(f: np.ndarray, a: np.ndarray, inv_scale: np.ndarray, usable: np.ndarray):
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


def _grid_terms(f: np.ndarray, a: np.ndarray) -> np.ndarray:
    """The 8 item-level terms of cells (items, periods) summed over periods → (8, items)."""
    out = np.empty((_N_ITEM_TERMS, f.shape[0]))
    ones = np.ones(f.shape[0])
    for k, arr in _terms_iter(f, a, ones, ones):
        if k >= _N_ITEM_TERMS:
            break
        out[k] = arr.sum(axis=-1)
    return out


def final_stage(cube: ForecastCube) -> str:
    """The last stage in configured order that has loaded (not derived) data; stages no longer in the
    config are only used when no configured stage has data."""
    loaded = [s for s in cube.stages if s not in cube.derived]
    configured = [s for s in loaded if s in getattr(cube, "configured", cube.stages)]
    return (configured or loaded or cube.stages)[-1]


class ForecastCube:
    """Dense grids plus additive pre-aggregates of one database's demand and forecasts; every view is vectorised."""

    stages: list[str]
    lags: list[int]
    period_starts: np.ndarray  # datetime64[ns], one per period of the grid
    cadence: str
    attributes: dict[str, list[str]]

    @property
    def periods(self) -> pd.DatetimeIndex:
        """The grid's period starts as a DatetimeIndex (made on first use)."""
        idx = self.__dict__.get("_periods_index")
        if idx is None:
            idx = self.__dict__["_periods_index"] = pd.DatetimeIndex(self.period_starts)
        return idx

    def __init__(self, raw: _Raw, config: AppConfig) -> None:
        """Build from the rows `raw` (its row arrays are consumed: set to None once used)."""
        fc = config.forecast
        self.headline_lag = fc.headline_lag
        self.season_length = fc.season_length
        self.tracking_window = fc.tracking_window
        self.tracking_limit = fc.tracking_limit
        f_key, d_key = raw.f_key, raw.d_key
        # ---- periods: the calendar range (public `periods`) and the periods that have rows (internal axis)
        seen_day = np.zeros(1 << 16, dtype=bool)
        for keys in (f_key, d_key):
            for part in _chunks(keys):
                seen_day[(part >> 16) & 0xFFFF] = True
        days = np.flatnonzero(seen_day)
        self.cadence = _cadence_of_days(days) or "month"
        pnum_days = _day_to_pnum(days, self.cadence)
        p0 = int(pnum_days.min())
        self.p_offset = p0
        n_p = int(pnum_days.max()) - p0 + 1
        self.period_starts = _period_start(np.arange(p0, p0 + n_p), self.cadence).astype("datetime64[ns]")
        self.pc = np.unique(pnum_days - p0).astype(np.int64)  # calendar index of each period with rows
        n_pc = len(self.pc)
        day_to_c = np.full(1 << 16, -1, dtype=np.int64)
        day_to_c[days] = np.searchsorted(self.pc, pnum_days - p0)
        # ---- items (only those with any data), attributes, in code order for now
        max_id = int(max(raw.item_ids.max(initial=0), _max_item(f_key), _max_item(d_key)))
        seen_item = np.zeros(max_id + 1, dtype=bool)
        for keys in (f_key, d_key):
            for part in _chunks(keys):
                seen_item[part >> 32] = True
        in_db = np.flatnonzero(seen_item[raw.item_ids])  # positions in raw.item_ids of used items
        codes = np.array([raw.item_codes[j] for j in in_db], dtype=object)
        ids = raw.item_ids[in_db]
        attrs_list = [raw.item_attrs[j] for j in in_db]
        names = sorted({k for a in attrs_list for k in a} - RESERVED)
        attr_vals: dict[str, np.ndarray] = {}
        for name in names:
            attr_vals[name] = np.array([str(a.get(name) or "") or NONE_VALUE for a in attrs_list], dtype=object)
        n_i = len(codes)
        code_order = np.argsort(codes.astype(str), kind="stable")
        codes, ids = codes[code_order], ids[code_order]
        for name in names:
            attr_vals[name] = attr_vals[name][code_order]
        id_to_row = np.full(max_id + 1, -1, np.int64)
        id_to_row[ids] = np.arange(n_i)
        # ---- actuals as (code-order row, period) sorted keys
        d_row = id_to_row[d_key >> 32]
        okd = d_row >= 0
        d_c = day_to_c[(d_key >> 16) & 0xFFFF]
        d_ck = d_row[okd] * n_pc + d_c[okd]
        d_val = raw.d_val[okd]
        del d_row, d_c, okd
        d_key = keys = part = None
        raw.d_key = raw.d_val = None  # consumed: the build's peak memory holds one copy of the rows
        order_d = np.argsort(d_ck, kind="stable")
        d_ck, d_val = d_ck[order_d], d_val[order_d]
        del order_d
        d_row = d_ck // n_pc
        # ---- ABC/XYZ segmentation (docs/methodology.md, Forecast accuracy) from the actual history
        frame = pd.DataFrame({"item": d_row, "actual": d_val})
        seg = accuracy.abc_xyz(frame, abc=tuple(fc.abc), xyz=tuple(fc.xyz)).reindex(np.arange(n_i))
        del frame
        attr_vals["abc"] = seg["abc"].fillna("C").to_numpy(dtype=object)
        attr_vals["xyz"] = seg["xyz"].fillna("Z").to_numpy(dtype=object)
        # ---- MASE scale per item (docs/methodology.md, MASE): mean |A_t - A_(t-m)| over the item's history,
        # t - m a calendar neighbour (a period without an actual leaves a gap)
        m = self.season_length
        d_cal = d_row * n_p + self.pc[d_ck - d_row * n_pc]
        prev = d_cal - m
        pos = np.minimum(np.searchsorted(d_cal, prev), max(len(d_cal) - 1, 0))
        has_prev = (prev - d_row * n_p >= 0) & (d_cal[pos] == prev) if len(d_cal) else np.zeros(0, dtype=bool)
        diff = np.abs(d_val[has_prev] - d_val[pos[has_prev]])
        cnt = np.bincount(d_row[has_prev], minlength=n_i)
        tot = np.bincount(d_row[has_prev], weights=diff, minlength=n_i)
        del d_cal, prev, pos, has_prev, diff
        scale = np.full(n_i, np.nan)
        np.divide(tot, cnt, out=scale, where=cnt > 0)
        usable = np.isfinite(scale) & (scale > 0)
        inv_scale = np.zeros(n_i)
        np.divide(1.0, scale, out=inv_scale, where=usable)
        # ---- stages and lags
        lag_seen = np.zeros(1024, dtype=bool)
        stage_seen = np.zeros(64, dtype=bool)
        for part in _chunks(f_key):
            lag_seen[(part >> 6) & 0x3FF] = True
            stage_seen[part & 63] = True
        loaded = [raw.stages[i] for i in np.flatnonzero(stage_seen) if i < len(raw.stages)]
        lags = np.flatnonzero(lag_seen)
        self.lags = [int(x) for x in lags]
        cfg_order = list(fc.stages)
        derive = NAIVE not in loaded
        stage_names = [s for s in cfg_order if s in loaded or (s == NAIVE and derive)]
        if derive and NAIVE not in stage_names:
            stage_names.insert(0, NAIVE)
        stage_names += [s for s in loaded if s not in stage_names]
        self.stages = stage_names
        self.configured = cfg_order  # stages in config order; loaded stages outside it are listed last
        self.derived = [NAIVE] if derive else []
        n_s, n_l = len(stage_names), len(lags)
        # ---- attribute codes; pick combination attributes that keep the combo cube small
        self.attr_names = names
        self.attributes = {}
        self._attr_codes: dict[str, np.ndarray] = {}
        for name in [*names, "abc", "xyz"]:
            vals, inv = np.unique(attr_vals[name].astype(str), return_inverse=True)
            self.attributes[name] = [str(v) for v in vals]
            self._attr_codes[name] = inv.astype(np.int64)
        per_combo = len(_TERMS) * n_s * n_l * n_pc * 8
        limit = max(1, _COMBO_BUDGET // max(per_combo, 1))
        combo_attrs: list[str] = []
        combo = np.zeros(n_i, dtype=np.int64)
        for name in sorted(self.attributes, key=lambda x: len(self.attributes[x])):
            trial = combo * len(self.attributes[name]) + self._attr_codes[name]
            _u, inv = np.unique(trial, return_inverse=True)
            if len(_u) <= limit:
                combo_attrs.append(name)
                combo = inv.astype(np.int64)
        # ---- final item order: by combination, then code
        order = np.lexsort((np.arange(n_i), combo))
        rank = np.empty(n_i, dtype=np.int64)
        rank[order] = np.arange(n_i)
        self.item_codes = codes[order]
        self._code_rank = order.astype(np.int64)  # rank in code order of each cube item (codes were sorted)
        self._item_pos = {c: i for i, c in enumerate(self.item_codes)}
        for name in self._attr_codes:
            self._attr_codes[name] = self._attr_codes[name][order]
        combo = combo[order]
        self.scale = scale[order]
        self.usable, self.inv_scale = usable[order], inv_scale[order]
        self.n_items, self.n_periods, self.n_pc = n_i, n_p, n_pc
        self.combo_attrs = combo_attrs
        self.combo = combo
        n_c = int(combo.max(initial=-1)) + 1
        self.n_combos = n_c
        starts = np.searchsorted(combo, np.arange(n_c)) if n_i else np.zeros(0, dtype=np.int64)
        self._combo_codes = {name: self._attr_codes[name][starts] for name in combo_attrs}
        # ---- cells: the (item, period) pairs with an actual or any forecast, item-major (final order)
        id_to_final = np.where(id_to_row >= 0, rank[np.maximum(id_to_row, 0)], -1)
        d_ck = rank[d_row] * n_pc + (d_ck - d_row * n_pc)
        del d_row
        space = n_i * n_pc
        dense = space <= _DENSE_CELLS
        if dense:
            mark = np.zeros(space, dtype=bool)
            mark[d_ck] = True
        found = [d_ck]
        for part in _chunks(f_key):
            row = id_to_final[part >> 32]
            ck = row * n_pc + day_to_c[(part >> 16) & 0xFFFF]
            ck = ck[row >= 0]
            if dense:
                mark[ck] = True
            else:
                found.append(np.unique(ck))
        if dense:
            ckey = np.flatnonzero(mark).astype(np.int64)
            lookup = np.cumsum(mark, dtype=np.int64 if len(ckey) >= 2**31 else np.int32) - 1
            del mark

            def cell_of(k: np.ndarray) -> np.ndarray:
                return lookup[k]
        else:
            ckey = np.unique(np.concatenate(found))

            def cell_of(k: np.ndarray) -> np.ndarray:
                return np.searchsorted(ckey, k)

        del found
        n_cells = len(ckey)
        limit = _max_cells()
        if n_s * n_l * n_cells > limit:
            raise CubeTooLarge(
                f"forecast data too large for the in-memory accuracy views: {n_cells:,} item-periods x {n_s} stages "
                f"x {n_l} lags = {n_s * n_l * n_cells:,} cells (limit {limit:,}, SOP_PULSE_MAX_CUBE_CELLS); keep "
                "fewer items, periods or lags in the database"
            )
        cell_row = ckey // n_pc
        self.ckey = ckey  # row * n_pc + period index, sorted
        self.cell_p = (ckey - cell_row * n_pc).astype(np.int32)
        self.cell_off = np.searchsorted(cell_row, np.arange(n_i + 1)).astype(np.int64)
        a = np.full(n_cells, np.nan)
        a[cell_of(d_ck)] = d_val
        del d_ck, d_val
        # ---- forecasts into f[stage, lag, cell]
        f = np.full((n_s, n_l, n_cells), np.nan)
        flat_f = f.reshape(-1)
        s_map = np.array(
            [
                stage_names.index(raw.stages[i]) if i < len(raw.stages) and raw.stages[i] in stage_names else -1
                for i in range(64)
            ],
            dtype=np.int64,
        )
        l_map = np.full(1024, -1, dtype=np.int64)
        l_map[lags] = np.arange(n_l)
        for lo in range(0, len(f_key), _CHUNK):
            part = f_key[lo : lo + _CHUNK]
            row = id_to_final[part >> 32]
            si = s_map[part & 63]
            ok = (row >= 0) & (si >= 0)
            cell = cell_of((row * n_pc + day_to_c[(part >> 16) & 0xFFFF])[ok])
            flat = (si[ok] * n_l + l_map[(part[ok] >> 6) & 0x3FF]) * n_cells + cell
            flat_f[flat] = raw.f_val[lo : lo + _CHUNK][ok]
            del row, si, ok, cell, flat
        f_key = part = None
        raw.f_key = raw.f_val = None
        del cell_of
        if dense:
            del lookup
        if derive:  # naive: A(t - m*((k+m)//m)) in calendar periods, on the cells some loaded stage forecasts
            s_n = stage_names.index(NAIVE)
            other = [i for i in range(n_s) if i != s_n]
            cal = self.pc[self.cell_p]
            ckey_cal = cell_row * n_p + cal
            for li, k in enumerate(self.lags):
                off = m * ((k + m) // m)
                some = np.zeros(n_cells, dtype=bool)
                for s in other:
                    some |= ~np.isnan(f[s, li])
                idx = np.flatnonzero(some & (cal >= off))
                del some
                q = ckey_cal[idx] - off
                pos = np.minimum(np.searchsorted(ckey_cal, q), n_cells - 1)
                hit = ckey_cal[pos] == q
                f[s_n, li, idx[hit]] = a[pos[hit]]
                del idx, q, pos, hit
            del cal, ckey_cal
        self.a, self.f = a, f
        # ---- pre-aggregates: combo x period cube K, per-item block prefix sums Q (blocks of _BLOCK cells)
        lens = np.diff(self.cell_off)
        nb = -(-lens // _BLOCK)
        self.q_off = np.concatenate([[0], np.cumsum(nb + 1)]).astype(np.int64)
        n_q = int(self.q_off[-1])
        # block b of item i starts at cell cell_off[i] + b * _BLOCK; its sum goes to Q position q_off[i] + 1 + b
        b_item = np.repeat(np.arange(n_i, dtype=np.int64), nb)
        b_local = np.arange(len(b_item), dtype=np.int64) - np.repeat(np.cumsum(nb) - nb, nb)
        b_start = self.cell_off[:-1][b_item] + b_local * _BLOCK
        b_pos = self.q_off[:-1][b_item] + 1 + b_local
        del b_item, b_local
        combo_cell = combo[cell_row] * n_pc + self.cell_p
        groups = [(nbv, np.flatnonzero(nb == nbv)) for nbv in np.unique(nb)]
        self.K = np.zeros((n_s, n_l, len(_TERMS), n_c, n_pc))
        self.Q = np.zeros((n_s, n_l, _N_ITEM_TERMS, n_q))
        inv_cell, use_cell = self.inv_scale[cell_row], self.usable[cell_row].astype(np.float64)

        def aggregate(si: int, li: int) -> None:  # writes only K[si, li] and Q[si, li]
            sums = np.zeros((_N_ITEM_TERMS, n_q))
            for k, arr in _terms_iter(f[si, li], a, inv_cell, use_cell):
                if n_c:
                    self.K[si, li, k] = np.bincount(combo_cell, weights=arr, minlength=n_c * n_pc).reshape(n_c, n_pc)
                if k < _N_ITEM_TERMS and n_cells:
                    sums[k, b_pos] = np.add.reduceat(arr, b_start)
            q = self.Q[si, li]
            for nbv, rows in groups:
                idx = self.q_off[rows][:, None] + np.arange(nbv + 1)
                q[:, idx] = np.cumsum(sums[:, idx], axis=2)

        _each(aggregate, [(si, li) for si in range(n_s) for li in range(n_l)], n_cells)

    # ---------------------------------------------------------------- helpers
    def _period_range(self, period_from, period_to) -> tuple[int, int]:
        """Inclusive range of the periods with rows (indices into self.pc) clipped to the data (p0 > p1 = empty)."""
        lo, hi = 0, self.n_periods - 1
        if period_from is not None:
            lo = max(lo, self._pidx(period_from, "from"))
        if period_to is not None:
            hi = min(hi, self._pidx(period_to, "to"))
        if lo > hi:
            return 1, 0
        return int(np.searchsorted(self.pc, lo, "left")), int(np.searchsorted(self.pc, hi, "right")) - 1

    def _pidx(self, value, which: str) -> int:
        """Period index of a period spelling (2025-03, 2025-W05, a date) or a date/Timestamp (floored to its period)."""
        d = periods.parse_one(value, self.cadence) if isinstance(value, str) else value
        if isinstance(d, np.datetime64):
            d = d.astype("datetime64[D]").item()
        if isinstance(d, dt.datetime):  # pd.Timestamp too
            d = d.date()
        if self.cadence == "week":
            num = (d - dt.date(1970, 1, 5)).days // 7
        else:
            num = d.year * 12 + d.month - 1
        return int(num) - self.p_offset

    def _stage_list(self, stage: str | None, all_stages: bool) -> list[int]:
        if stage is not None:
            if stage not in self.stages:
                raise ValueError(f"unknown stage {stage!r}; stages with data: {', '.join(self.stages)}")
            return [self.stages.index(stage)]
        if all_stages:
            return list(range(len(self.stages)))
        return [self.stages.index(final_stage(self))]

    def _lag_list(self, lag) -> list[int]:
        if lag is None:
            return list(range(len(self.lags)))
        wanted = [lag] if isinstance(lag, (int, np.integer)) else list(lag)
        return [self.lags.index(int(x)) for x in wanted if int(x) in self.lags]

    def _item_mask(self, filters: dict | None) -> np.ndarray | None:
        """Boolean mask over cube items for the filters (None = all)."""
        if not filters:
            return None
        mask = np.ones(self.n_items, dtype=bool)
        for name, values in filters.items():
            if values is None:
                continue
            values = [values] if isinstance(values, str) else list(values)
            if name == "item":
                sel = np.zeros(self.n_items, dtype=bool)
                pos = [self._item_pos[v] for v in values if v in self._item_pos]
                sel[pos] = True
            elif name in self._attr_codes:
                table = self.attributes[name]
                wanted = [table.index(v) for v in map(str, values) if v in table]
                sel = np.isin(self._attr_codes[name], wanted)
            else:
                raise ValueError(f"unknown filter {name!r}; filter by item or {', '.join(self.attributes)}")
            mask &= sel
        return mask

    def _check_by(self, by) -> list[str]:
        by = [by] if isinstance(by, str) else list(by or [])
        allowed = ["item", *self.attributes, "period", "lag", "stage"]
        for c in by:
            if c not in allowed:
                raise ValueError(f"unknown column {c!r}; choose from {', '.join(allowed)}")
        if len(set(by)) != len(by):
            raise ValueError("a column appears twice in by")
        return by

    # ---------------------------------------------------------------- core
    def sums(
        self,
        by: list[str],
        *,
        stage: str | None = None,
        lag=None,
        period_from=None,
        period_to=None,
        filters: dict[str, list[str]] | None = None,
    ) -> pd.DataFrame:
        """Additive sums (group columns + accuracy.SUM_COLUMNS) per group; groups without rows are left out."""
        parts = self._sums(by, stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=filters)
        return self._empty_sums(parts) if isinstance(parts, list) else self._to_frame(*parts)

    def sums_columns(self, by: list[str], **view) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """`sums` as numpy arrays (group key columns, SUM_COLUMNS), without building a data frame."""
        parts = self._sums(by, **view)
        if isinstance(parts, list):
            return {c: np.empty(0, dtype=object) for c in parts}, {c: np.empty(0) for c in SUM_COLUMNS}
        return self._to_columns(*parts)

    def accuracy_columns(self, by: list[str], **view) -> dict[str, np.ndarray]:
        """`accuracy` as numpy arrays: group key columns then METRIC_COLUMNS."""
        cols, sums = self.sums_columns(by, **view)
        return {**cols, **accuracy.finalize_columns(sums)}

    def _sums(self, by, *, stage=None, lag=None, period_from=None, period_to=None, filters=None):
        """The summed term array and what labels it, or the list of group columns when nothing matches."""
        by = self._check_by(by)
        s_list = self._stage_list(stage, "stage" in by)
        l_list = self._lag_list(lag)
        p0, p1 = self._period_range(period_from, period_to)
        item_keys = [c for c in by if c in ("item", *self._attr_codes)]
        filt_keys = [k for k, v in (filters or {}).items() if v is not None]
        mask = self._item_mask(filters)
        by_period, by_lag = "period" in by, "lag" in by
        if not l_list or p0 > p1 or not s_list:
            return by
        combo_ok = set(item_keys) | set(filt_keys) <= set(self.combo_attrs)
        # unit = combos or items; per-unit group code (-1 = filtered out)
        if combo_ok:
            ucodes = {c: self._combo_codes[c] for c in item_keys}
            umask = None
            if mask is not None:
                n_c = self.n_combos
                umask = np.zeros(n_c, dtype=bool)
                umask[self.combo[mask]] = True
            n_units = self.n_combos
        else:
            ucodes = {c: (np.arange(self.n_items) if c == "item" else self._attr_codes[c]) for c in item_keys}
            umask, n_units = mask, self.n_items
        gid, key_tables, n_g = _unit_groups(
            ucodes,
            n_units,
            umask,
            {c: (len(self.item_codes) if c == "item" else len(self.attributes[c])) for c in item_keys},
        )
        n_pp = p1 - p0 + 1
        out = []  # per stage: array (L' or 1, G, P' or 1, 10)
        for si in s_list:
            if combo_ok:
                lsel = slice(l_list[0], l_list[-1] + 1) if l_list == list(range(l_list[0], l_list[-1] + 1)) else l_list
                data = self.K[si][lsel][..., p0 : p1 + 1]  # (L', 10, C, P'); a view when the lags are contiguous
                if not by_period:
                    data = data.sum(axis=-1, keepdims=True)
            elif by_period:  # item-level keys or filters by period: from the cells, grouped as they are made
                g = self._cells_grouped(si, l_list, p0, p1, gid, n_g)
                out.append(g if by_lag else g.sum(axis=0, keepdims=True))
                continue
            else:
                data = self._item_range(si, l_list, p0, p1)[..., None]  # (L', 10, I, 1)
            if not by_lag:
                data = data.sum(axis=0, keepdims=True)
            g = _group_axis(data, gid, n_g, axis=2)  # (L'', 10, G, P'')
            out.append(g)
        arr = np.stack(out)  # (S', L'', 10, G, P'')
        return arr, by, s_list, l_list if by_lag else None, p0 if by_period else None, key_tables, n_pp

    def _bounds(self, rows: np.ndarray | None, p0: int, p1: int) -> tuple[np.ndarray, np.ndarray]:
        """Cell index range [lo, hi) of each item (`rows`, None = all) over the periods p0..p1."""
        if rows is None:
            rows = np.arange(self.n_items, dtype=np.int64)
            lo, hi = self.cell_off[:-1], self.cell_off[1:]
        else:
            lo, hi = self.cell_off[rows], self.cell_off[rows + 1]
        if p0 > 0:
            lo = np.searchsorted(self.ckey, rows * self.n_pc + p0)
        if p1 < self.n_pc - 1:
            hi = np.searchsorted(self.ckey, rows * self.n_pc + p1 + 1)
        return lo, hi

    def _cells(self, rows: np.ndarray | None, p0: int, p1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cells of items `rows` (None = all) in periods p0..p1, item-major: cell indices, the position in
        rows of each cell's item, and the cell count per item."""
        lo, hi = self._bounds(rows, p0, p1)
        lens = hi - lo
        which = np.repeat(np.arange(len(lo), dtype=np.int64), lens)
        idx = np.arange(len(which), dtype=np.int64) + np.repeat(lo - (np.cumsum(lens) - lens), lens)
        return idx, which, lens

    def _item_range(self, si: int, l_list: list[int], p0: int, p1: int) -> np.ndarray:
        """Per item sums of the 10 terms over periods p0..p1 → (L', 10, I): the whole blocks of _BLOCK cells from
        the prefix sums Q, the up to 2 x (_BLOCK - 1) cells at either edge from the cells."""
        lo, hi = self._bounds(None, p0, p1)
        off = self.cell_off[:-1]
        b0 = -(-(lo - off) // _BLOCK)
        b1 = (hi - off) // _BLOCK
        head_end = np.minimum(hi, off + b0 * _BLOCK)
        tail_start = np.maximum(off + b1 * _BLOCK, head_end)
        j = np.arange(_BLOCK - 1)
        idx = np.concatenate([lo[:, None] + j, tail_start[:, None] + j], axis=1)
        ok = np.concatenate([idx[:, : _BLOCK - 1] < head_end[:, None], idx[:, _BLOCK - 1 :] < hi[:, None]], axis=1)
        idx = np.where(ok, idx, 0)
        a_edge = np.where(ok, self.a[idx], np.nan) if len(self.a) else np.full(idx.shape, np.nan)
        mid = b1 > b0
        qa, qb = self.q_off[:-1] + np.where(mid, b0, 0), self.q_off[:-1] + np.where(mid, b1, 0)
        res = np.zeros((len(l_list), len(_TERMS), self.n_items))
        for j, li in enumerate(l_list):
            q = self.Q[si, li]
            res[j, :_N_ITEM_TERMS] = q[:, qb] - q[:, qa]
            f_edge = np.where(ok, self.f[si, li][idx], np.nan) if len(self.a) else a_edge
            res[j, :_N_ITEM_TERMS] += _grid_terms(f_edge, a_edge)
        res[:, 8] = res[:, 4] * self.inv_scale
        res[:, 9] = res[:, 0] * self.usable
        return res

    def _cell_groups(self, gid: np.ndarray, p0: int, p1: int):
        """The cells of the units with gid >= 0 in p0..p1: cell indices, bincount key (group x period), actuals,
        1 / MASE scale and usable flag per cell."""
        rows = np.flatnonzero(gid >= 0)
        idx, which, _lens = self._cells(rows, p0, p1)
        r = rows[which]
        key = gid[r] * (p1 - p0 + 1) + (self.cell_p[idx] - p0)
        return idx, key, self.a[idx], self.inv_scale[r], self.usable[r].astype(np.float64)

    def _cells_grouped(self, si: int, l_list: list[int], p0: int, p1: int, gid: np.ndarray, n_g: int) -> np.ndarray:
        """Terms per group and period from the item-period cells of the units with gid >= 0 → (L', 10, G, P')."""
        n_pp = p1 - p0 + 1
        idx, key, a, inv, usable = self._cell_groups(gid, p0, p1)
        out = np.zeros((len(l_list), len(_TERMS), n_g, n_pp))
        for j, li in enumerate(l_list):
            f = self.f[si, li][idx]
            for k, arr in _terms_iter(f, a, inv, usable):
                out[j, k] = np.bincount(key, weights=arr, minlength=n_g * n_pp).reshape(n_g, n_pp)
        return out

    def _empty_sums(self, by: list[str]) -> pd.DataFrame:
        cols = {c: pd.Series([], dtype=self._key_dtype(c)) for c in by}
        return pd.DataFrame({**cols, **{c: pd.Series([], dtype=np.float64) for c in SUM_COLUMNS}})

    @staticmethod
    def _key_dtype(c: str):
        return {"period": "datetime64[ns]", "lag": np.int64}.get(c, object)

    def _to_columns(
        self,
        arr: np.ndarray,
        by: list[str],
        s_list: list[int],
        l_list: list[int] | None,
        p0: int | None,
        key_tables: dict[str, np.ndarray],
        n_pp: int,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Group key columns and SUM_COLUMNS as numpy arrays, groups without rows left out, sorted by the keys."""
        n_s, n_l, _t, n_g, n_p = arr.shape
        flat = arr.transpose(0, 1, 3, 4, 2).reshape(-1, len(_TERMS))
        si, li, gi, pi = (
            x.ravel()
            for x in np.meshgrid(np.arange(n_s), np.arange(n_l), np.arange(n_g), np.arange(n_p), indexing="ij")
        )
        keep = flat[:, 0] > 0
        flat, si, li, gi, pi = flat[keep], si[keep], li[keep], gi[keep], pi[keep]
        cols: dict[str, np.ndarray] = {}
        sort_keys: dict[str, np.ndarray] = {}
        for c in by:
            if c == "stage":
                idx = np.asarray(s_list)[si]
                cols[c] = np.array(self.stages, dtype=object)[idx]
                sort_keys[c] = idx
            elif c == "lag":
                idx = np.asarray(l_list)[li]
                cols[c] = np.asarray(self.lags, dtype=np.int64)[idx]
                sort_keys[c] = idx
            elif c == "period":
                idx = p0 + pi
                cols[c] = self.period_starts[self.pc[idx]]
                sort_keys[c] = idx
            elif c == "item":
                idx = key_tables[c][gi]
                cols[c] = self.item_codes[idx]
                sort_keys[c] = self._code_rank[idx]
            else:
                idx = key_tables[c][gi]
                cols[c] = np.array(self.attributes[c], dtype=object)[idx]
                sort_keys[c] = idx
        if by:
            order = np.lexsort([sort_keys[c] for c in reversed(by)])
            flat = flat[order]
            cols = {c: v[order] for c, v in cols.items()}
        t = {name: flat[:, i] for i, name in enumerate(_TERMS)}
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

    def _to_frame(self, *args) -> pd.DataFrame:
        cols, sums = self._to_columns(*args)
        by = list(cols)
        frame = pd.DataFrame({**{c: pd.Series(v) for c, v in cols.items()}, **sums})
        for c in by:
            if c == "period":
                frame[c] = pd.to_datetime(frame[c])
        return frame[[*by, *SUM_COLUMNS]]

    # ---------------------------------------------------------------- public views
    def accuracy(
        self,
        by: list[str],
        *,
        stage: str | None = None,
        lag=None,
        period_from=None,
        period_to=None,
        filters: dict[str, list[str]] | None = None,
    ) -> pd.DataFrame:
        """One row per group: group columns then METRIC_COLUMNS (fractions); default stage = final stage."""
        return accuracy.finalize(
            self.sums(by, stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=filters)
        )

    def fva(self, by: list[str] = (), *, lag=None, period_from=None, period_to=None, filters=None) -> pd.DataFrame:
        """Stairstep per group on the matched sample (docs/methodology.md, "FVA"): stage, n, wape, fva_vs_previous, fva_vs_naive,
        left_out (fractions) in configured stage order.

        Only the (item, period, lag) cells where every stage has a forecast and the actual is known are compared;
        n is that sample, left_out the stage's rows with A and F outside it (plain accuracy keeps them)."""
        by = [c for c in self._check_by(by) if c != "stage"]
        matched = accuracy.finalize(
            self._matched_sums(by, lag=lag, period_from=period_from, period_to=period_to, filters=filters)
        )
        full = self.sums([*by, "stage"], lag=lag, period_from=period_from, period_to=period_to, filters=filters)
        table = (
            full[[*by, "stage", "n"]]
            .rename(columns={"n": "n_all"})
            .merge(matched[[*by, "stage", "n", "wape"]], on=[*by, "stage"], how="left")
        )
        table["n"] = table["n"].fillna(0).astype(np.int64)
        table["left_out"] = (np.rint(table["n_all"]) - table["n"]).astype(np.int64)
        stair = accuracy.fva(table, self.stages, by=by)
        out = stair.merge(table[[*by, "stage", "n", "left_out"]], on=[*by, "stage"], how="left")
        return out[[*by, *FVA_COLUMNS]]

    def _matched_sums(self, by: list[str], *, lag, period_from, period_to, filters) -> pd.DataFrame:
        """Additive sums per group and stage over the cells where every stage has a forecast and A is known."""
        l_list = self._lag_list(lag)
        p0, p1 = self._period_range(period_from, period_to)
        s_all = list(range(len(self.stages)))
        if not l_list or p0 > p1:
            return self._empty_sums([*by, "stage"])
        item_keys = [c for c in by if c in ("item", *self._attr_codes)]
        ucodes = {c: (np.arange(self.n_items) if c == "item" else self._attr_codes[c]) for c in item_keys}
        gid, key_tables, n_g = _unit_groups(
            ucodes,
            self.n_items,
            self._item_mask(filters),
            {c: (len(self.item_codes) if c == "item" else len(self.attributes[c])) for c in item_keys},
        )
        n_pp = p1 - p0 + 1
        idx, key, a, inv, usable = self._cell_groups(gid, p0, p1)
        arr = np.zeros((len(s_all), len(l_list), len(_TERMS), n_g, n_pp))

        every = len(idx) == self.f.shape[-1]  # every cell, in order (idx is sorted): a view, not a copy

        def lag_sums(j: int, li: int) -> None:  # writes only arr[:, j]
            fs = self.f[:, li] if every else self.f[:, li][:, idx]
            matched = ~np.isnan(a) & ~np.isnan(fs).any(axis=0)
            for si in s_all:
                f = np.where(matched, fs[si], np.nan)
                for k, term in _terms_iter(f, a, inv, usable):
                    arr[si, j, k] = np.bincount(key, weights=term, minlength=n_g * n_pp).reshape(n_g, n_pp)

        _each(lag_sums, list(enumerate(l_list)), len(idx))
        if "lag" not in by:
            arr = arr.sum(axis=1, keepdims=True)
        if "period" not in by:
            arr = arr.sum(axis=-1, keepdims=True)
        return self._to_frame(
            arr,
            [*by, "stage"],
            s_all,
            l_list if "lag" in by else None,
            p0 if "period" in by else None,
            key_tables,
            n_pp,
        )

    def by_lag(self, *, stage=None, period_from=None, period_to=None, filters=None) -> pd.DataFrame:
        """Lag waterfall: one row per lag with METRIC_COLUMNS."""
        return self.accuracy(["lag"], stage=stage, period_from=period_from, period_to=period_to, filters=filters)

    def exceptions(
        self, *, stage=None, lag=None, period_from=None, period_to=None, filters=None, top: int = 50
    ) -> pd.DataFrame:
        """Items ranked by abs error volume: every tracking-signal-flagged item plus the top contributors (lag None = headline lag)."""
        lag = self._default_lag(lag)
        sums = self.sums(["item"], stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=filters)
        per_item = accuracy.finalize(sums)
        cols = [
            "item",
            *self.attr_names,
            "abc",
            "xyz",
            "ts",
            "flagged",
            "abs_error",
            "share",
            "rank",
            "n",
            "wape",
            "bias",
        ]
        if per_item.empty:
            return pd.DataFrame({c: [] for c in cols})
        pos = np.array([self._item_pos[c] for c in per_item["item"]], dtype=np.int64)
        abs_e = sums["sum_abs_e"].to_numpy()
        ts, _flag = self._tracking(stage, lag, period_from, period_to)
        t = ts[pos]
        flagged = np.abs(np.nan_to_num(t, nan=0.0)) > self.tracking_limit
        total = abs_e.sum()
        order = np.lexsort((self._code_rank[pos], -abs_e))
        rank = np.empty(len(pos), dtype=np.int64)
        rank[order] = np.arange(1, len(pos) + 1)
        frame = pd.DataFrame({"item": per_item["item"].to_numpy()})
        for name in [*self.attr_names, "abc", "xyz"]:
            frame[name] = np.array(self.attributes[name], dtype=object)[self._attr_codes[name][pos]]
        frame["ts"] = t
        frame["flagged"] = flagged
        frame["abs_error"] = abs_e
        frame["share"] = abs_e / total if total else np.nan
        frame["rank"] = rank
        frame["n"] = per_item["n"].to_numpy()
        frame["wape"] = per_item["wape"].to_numpy()
        frame["bias"] = per_item["bias"].to_numpy()
        keep = (rank <= top) | flagged
        return frame[keep].sort_values("rank", kind="stable", ignore_index=True)[cols]

    def _default_lag(self, lag) -> int | None:
        if lag is not None:
            return lag
        return self.headline_lag if self.headline_lag in self.lags else (self.lags[0] if self.lags else None)

    def _tracking(self, stage, lag, period_from, period_to) -> tuple[np.ndarray, np.ndarray]:
        """Per cube item tracking signal over the last W periods with A and F (docs/methodology.md), and the flag."""
        si = self._stage_list(stage, False)[0]
        li = self._lag_list(lag)
        p0, p1 = self._period_range(period_from, period_to)
        if not li or p0 > p1:
            return np.full(self.n_items, np.nan), np.zeros(self.n_items, dtype=bool)
        idx, which, lens = self._cells(None, p0, p1)
        f = self.f[si, li[0]][idx]
        a = self.a[idx]
        valid = ~(np.isnan(f) | np.isnan(a))
        after = np.cumsum(valid[::-1], dtype=np.int64)[::-1]  # valid cells from here to the last cell
        end = np.cumsum(lens)  # each item's end (exclusive)
        after_end = np.append(after, 0)[end]  # valid cells after each item
        from_end = after - after_end[which]
        take = valid & (from_end <= self.tracking_window)
        e = np.where(take, f - a, 0.0)
        n = np.bincount(which, weights=take, minlength=self.n_items)
        sum_e = np.bincount(which, weights=e, minlength=self.n_items)
        mad = np.full(self.n_items, np.nan)
        np.divide(np.bincount(which, weights=np.abs(e), minlength=self.n_items), n, out=mad, where=n > 0)
        ts = np.full(self.n_items, np.nan)
        long_enough = n >= accuracy.tracking_min_periods(self.tracking_limit)  # |TS| <= n: shorter never flags
        np.divide(sum_e, mad, out=ts, where=(mad > 0) & np.isfinite(mad) & long_enough)
        return ts, np.abs(np.nan_to_num(ts, nan=0.0)) > self.tracking_limit

    def item_series(self, items: list[str], *, stage=None, lag=None, period_from=None, period_to=None) -> pd.DataFrame:
        """Long frame item, period, actual, forecast for a few items (lag None = headline lag); periods with A or F."""
        si = self._stage_list(stage, False)[0]
        li = self._lag_list(self._default_lag(lag))
        p0, p1 = self._period_range(period_from, period_to)
        pos = [self._item_pos[c] for c in items if c in self._item_pos]
        if not pos or p0 > p1 or not li:
            return pd.DataFrame(
                {
                    "item": pd.Series([], dtype=object),
                    "period": pd.Series([], dtype="datetime64[ns]"),
                    "actual": pd.Series([], dtype=float),
                    "forecast": pd.Series([], dtype=float),
                }
            )
        rows = np.asarray(pos, dtype=np.int64)
        idx, which, _lens = self._cells(rows, p0, p1)
        a = self.a[idx]
        f = self.f[si, li[0]][idx]
        keep = ~(np.isnan(a) & np.isnan(f))
        idx, which = idx[keep], which[keep]
        return pd.DataFrame(
            {
                "item": self.item_codes[rows[which]],
                "period": self.periods[self.pc[self.cell_p[idx]]],
                "actual": a[keep],
                "forecast": f[keep],
            }
        )

    def items_of(self, filters: dict[str, list[str]] | None) -> list[str]:
        """Item codes matching the filters, sorted."""
        mask = self._item_mask(filters)
        codes = self.item_codes if mask is None else self.item_codes[mask]
        return sorted(codes.tolist())

    def attribute_of(self, items: list[str]) -> pd.DataFrame:
        """Item, attributes, abc and xyz of the given items."""
        pos = np.array([self._item_pos[c] for c in items if c in self._item_pos], dtype=np.int64)
        frame = pd.DataFrame({"item": self.item_codes[pos]})
        for name in [*self.attr_names, "abc", "xyz"]:
            frame[name] = np.array(self.attributes[name], dtype=object)[self._attr_codes[name][pos]]
        return frame

    def frame(self) -> pd.DataFrame:
        """Every (item, period, lag, stage) cell with A or F as a long frame (tests and exports; not for views)."""
        s, l, c = np.nonzero(~np.isnan(self.f))
        i = np.repeat(np.arange(self.n_items), np.diff(self.cell_off))[c]
        out = pd.DataFrame(
            {
                "item": self.item_codes[i],
                "period": self.periods[self.pc[self.cell_p[c]]],
                "lag": np.asarray(self.lags, dtype=np.int64)[l],
                "stage": np.array(self.stages, dtype=object)[s],
                "actual": self.a[c],
                "forecast": self.f[s, l, c],
            }
        )
        for name in [*self.attr_names, "abc", "xyz"]:
            out[name] = np.array(self.attributes[name], dtype=object)[self._attr_codes[name][i]]
        return out

    # ---------------------------------------------------------------- snapshot (kpis.forecast.snapshot)
    _DERIVED = ("_item_pos", "_periods_index")  # rebuilt on load, never stored

    def state(self) -> dict:
        """The attributes a snapshot stores (arrays, numbers, strings, lists and dicts of those)."""
        return {k: v for k, v in vars(self).items() if k not in self._DERIVED}

    @classmethod
    def from_state(cls, state: dict) -> ForecastCube:
        """A cube from a snapshot's state (arrays may be read-only memory maps)."""
        cube = cls.__new__(cls)
        cube.__dict__.update(state)
        cube.lags = [int(x) for x in cube.lags]
        cube._item_pos = {c: i for i, c in enumerate(cube.item_codes)}
        return cube

    def memory_mb(self) -> float:
        """Approximate resident size of the cube's arrays in MB."""
        return (
            sum(x.nbytes for x in (self.a, self.f, self.K, self.Q, self.ckey, self.cell_p, self.cell_off, self.q_off))
            / 1048576
        )


def _day_to_pnum(days: np.ndarray, cadence: str) -> np.ndarray:
    d = np.asarray(days, dtype=np.int64)
    if cadence == "week":
        return (d - 4) // 7
    return d.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12


def _unit_groups(
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


def _group_axis(data: np.ndarray, gid: np.ndarray, n_g: int, axis: int) -> np.ndarray:
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
