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
from typing import TYPE_CHECKING

import numpy as np

from kpis.lazy import lazy_module

pd = lazy_module("pandas")  # loaded on first use: the CLI's CSV path never needs it

from kpis import periods
from kpis.config import AppConfig
from kpis.forecast import cube_build as build
from kpis.forecast import metrics as accuracy
from kpis.forecast.common import FVA_COLUMNS, NAIVE
from kpis.forecast.cube_terms import (
    BLOCK,
    N_ITEM_TERMS,
    TERMS,
    empty_sums,
    grid_terms,
    group_axis,
    matched_terms,
    sums_columns,
    sums_frame,
    terms_iter,
    tracking_signal,
    unit_groups,
)
from kpis.forecast.metrics import SUM_COLUMNS

if TYPE_CHECKING:
    from kpis.forecast.sql import Raw


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
    def code_rank(self) -> np.ndarray:
        """The rank in code order of each cube item."""
        return self._code_rank

    @property
    def periods(self) -> pd.DatetimeIndex:
        """The grid's period starts as a DatetimeIndex (made on first use)."""
        idx = self.__dict__.get("_periods_index")
        if idx is None:
            idx = self.__dict__["_periods_index"] = pd.DatetimeIndex(self.period_starts)
        return idx

    def __init__(self, raw: Raw, config: AppConfig) -> None:
        """Build from the rows `raw` (its row arrays are consumed: set to None once used), stage by stage
        (kpis.forecast.cube_build)."""
        fc = config.forecast
        self.headline_lag = fc.headline_lag
        self.season_length = fc.season_length
        self.tracking_window = fc.tracking_window
        self.tracking_limit = fc.tracking_limit
        self.cadence, self.p_offset, n_p, self.period_starts, self.pc, day_to_c = build.period_axis(raw)
        n_pc = len(self.pc)
        codes, names, attr_vals, id_to_row = build.item_table(raw)  # in code order for now
        n_i = len(codes)
        d_ck, d_val = build.actual_keys(raw, id_to_row, day_to_c, n_pc)
        d_row = d_ck // n_pc
        attr_vals["abc"], attr_vals["xyz"] = build.segments(d_row, d_val, n_i, fc)
        scale, usable, inv_scale = build.mase_scale(d_row, d_ck, d_val, self.pc, n_p, n_pc, n_i, self.season_length)
        lags, stage_names, derive = build.stages_and_lags(raw, list(fc.stages))
        self.lags = [int(x) for x in lags]
        self.stages = stage_names
        self.configured = list(fc.stages)  # stages in config order; loaded stages outside it are listed last
        self.derived = [NAIVE] if derive else []
        n_s, n_l = len(stage_names), len(lags)
        self.attr_names = names
        self.attributes, self._attr_codes = build.attribute_codes(names, attr_vals)
        per_combo = len(TERMS) * n_s * n_l * n_pc * 8
        combo_attrs, combo = build.combination(self.attributes, self._attr_codes, n_i, per_combo)
        # final item order: by combination, then code
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
        # cells: the (item, period) pairs with an actual or any forecast, item-major (final order)
        id_to_final = np.where(id_to_row >= 0, rank[np.maximum(id_to_row, 0)], -1)
        d_ck = rank[d_row] * n_pc + (d_ck - d_row * n_pc)
        del d_row
        ckey, cell_of = build.cell_keys(raw, d_ck, id_to_final, day_to_c, n_i, n_pc)
        n_cells = len(ckey)
        build.check_size(n_cells, n_s, n_l)
        cell_row = ckey // n_pc
        self.ckey = ckey  # row * n_pc + period index, sorted
        self.cell_p = (ckey - cell_row * n_pc).astype(np.int32)
        self.cell_off = np.searchsorted(cell_row, np.arange(n_i + 1)).astype(np.int64)
        a = build.actual_cells(cell_of, n_cells, d_ck, d_val)
        del d_ck, d_val
        f = build.forecast_cells(raw, stage_names, lags, id_to_final, day_to_c, n_pc, cell_of, n_cells)
        del cell_of
        if derive:
            cal = self.pc[self.cell_p]
            build.derive_naive(f, a, stage_names.index(NAIVE), self.lags, self.season_length, cal, cell_row, n_p)
            del cal
        self.a, self.f = a, f
        self.q_off, self.K, self.Q = build.pre_aggregates(
            f, a, combo, n_c, self.cell_off, cell_row, self.cell_p, n_pc, self.inv_scale, self.usable
        )

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
        return empty_sums(parts) if isinstance(parts, list) else sums_frame(*sums_columns(self, *parts))

    def sums_columns(self, by: list[str], **view) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """`sums` as numpy arrays (group key columns, SUM_COLUMNS), without building a data frame."""
        parts = self._sums(by, **view)
        if isinstance(parts, list):
            return {c: np.empty(0, dtype=object) for c in parts}, {c: np.empty(0) for c in SUM_COLUMNS}
        return sums_columns(self, *parts)

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
        gid, key_tables, n_g = unit_groups(
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
            g = group_axis(data, gid, n_g, axis=2)  # (L'', 10, G, P'')
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
        """Per item sums of the 10 terms over periods p0..p1 → (L', 10, I): the whole blocks of BLOCK cells from
        the prefix sums Q, the up to 2 x (BLOCK - 1) cells at either edge from the cells."""
        lo, hi = self._bounds(None, p0, p1)
        off = self.cell_off[:-1]
        b0 = -(-(lo - off) // BLOCK)
        b1 = (hi - off) // BLOCK
        head_end = np.minimum(hi, off + b0 * BLOCK)
        tail_start = np.maximum(off + b1 * BLOCK, head_end)
        j = np.arange(BLOCK - 1)
        idx = np.concatenate([lo[:, None] + j, tail_start[:, None] + j], axis=1)
        ok = np.concatenate([idx[:, : BLOCK - 1] < head_end[:, None], idx[:, BLOCK - 1 :] < hi[:, None]], axis=1)
        idx = np.where(ok, idx, 0)
        a_edge = np.where(ok, self.a[idx], np.nan) if len(self.a) else np.full(idx.shape, np.nan)
        mid = b1 > b0
        qa, qb = self.q_off[:-1] + np.where(mid, b0, 0), self.q_off[:-1] + np.where(mid, b1, 0)
        res = np.zeros((len(l_list), len(TERMS), self.n_items))
        for j, li in enumerate(l_list):
            q = self.Q[si, li]
            res[j, :N_ITEM_TERMS] = q[:, qb] - q[:, qa]
            f_edge = np.where(ok, self.f[si, li][idx], np.nan) if len(self.a) else a_edge
            res[j, :N_ITEM_TERMS] += grid_terms(f_edge, a_edge)
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
        out = np.zeros((len(l_list), len(TERMS), n_g, n_pp))
        for j, li in enumerate(l_list):
            f = self.f[si, li][idx]
            for k, arr in terms_iter(f, a, inv, usable):
                out[j, k] = np.bincount(key, weights=arr, minlength=n_g * n_pp).reshape(n_g, n_pp)
        return out

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
        """Stairstep per group on the matched sample (docs/methodology.md, "FVA"): stage, n, wape,
        fva_vs_previous, fva_vs_naive, left_out (fractions) in configured stage order.

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
            return empty_sums([*by, "stage"])
        item_keys = [c for c in by if c in ("item", *self._attr_codes)]
        ucodes = {c: (np.arange(self.n_items) if c == "item" else self._attr_codes[c]) for c in item_keys}
        gid, key_tables, n_g = unit_groups(
            ucodes,
            self.n_items,
            self._item_mask(filters),
            {c: (len(self.item_codes) if c == "item" else len(self.attributes[c])) for c in item_keys},
        )
        n_pp = p1 - p0 + 1
        idx, key, a, inv, usable = self._cell_groups(gid, p0, p1)
        arr = matched_terms(self.f, idx, a, inv, usable, key, l_list, n_g, n_pp)
        if "lag" not in by:
            arr = arr.sum(axis=1, keepdims=True)
        if "period" not in by:
            arr = arr.sum(axis=-1, keepdims=True)
        lags = l_list if "lag" in by else None
        first = p0 if "period" in by else None
        return sums_frame(*sums_columns(self, arr, [*by, "stage"], s_all, lags, first, key_tables, n_pp))

    def by_lag(self, *, stage=None, period_from=None, period_to=None, filters=None) -> pd.DataFrame:
        """Lag waterfall: one row per lag with METRIC_COLUMNS."""
        return self.accuracy(["lag"], stage=stage, period_from=period_from, period_to=period_to, filters=filters)

    def exceptions(
        self, *, stage=None, lag=None, period_from=None, period_to=None, filters=None, top: int = 50
    ) -> pd.DataFrame:
        """Items ranked by abs error volume: every tracking-signal-flagged item plus the top contributors
        (lag None = headline lag)."""
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
        f, a = self.f[si, li[0]][idx], self.a[idx]
        return tracking_signal(f, a, which, lens, self.n_items, self.tracking_window, self.tracking_limit)

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
