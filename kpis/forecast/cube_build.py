"""The stages of a ``ForecastCube`` build (``kpis.forecast.cube``), each a function of plain arrays.

The rows arrive packed (``kpis.forecast.sql.Raw``): a forecast key is item id << 32 | day << 16 | lag << 6 | stage,
a demand key item id << 32 | day << 16. The build finds the periods and items with rows, orders the items, keeps
the actual per cell and the forecast per stage × lag × cell, derives naive forecasts when none are loaded, and sums
the pre-aggregates. Past SOP_PULSE_MAX_CUBE_CELLS cells it stops with ``CubeTooLarge``. Never imports streamlit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from kpis.forecast import metrics as accuracy
from kpis.forecast.common import NAIVE, NONE_VALUE, RESERVED, cadence_of_days, period_start
from kpis.forecast.cube_terms import BLOCK, N_ITEM_TERMS, TERMS, each, terms_iter
from kpis.lazy import lazy_module

pd = lazy_module("pandas")  # loaded on first use: the CLI's CSV path never needs it

if TYPE_CHECKING:
    from kpis.config import ForecastSection
    from kpis.forecast.sql import Raw

_COMBO_BUDGET = 64 * 1024 * 1024
_MAX_CELLS = 300_000_000  # stage x lag x item-period cells held (8 bytes each, about as much again for the
#                            prefix sums); the reference case has 8.3 M incl. derived naive, 50,000 items 41.6 M
_DENSE_CELLS = 50_000_000  # items x periods up to which cells are found with a flag array (else by sorting keys)
_CHUNK = 2_000_000  # packed rows decoded at a time (bounds the temporary arrays of a build)


class CubeTooLarge(ValueError):
    """The forecast data does not fit the in-memory accuracy views (the message says why and what to do)."""


def _max_cells() -> int:
    """The cell limit: SOP_PULSE_MAX_CUBE_CELLS when set to a whole number, else _MAX_CELLS."""
    setting = os.environ.get("SOP_PULSE_MAX_CUBE_CELLS", "").strip().replace("_", "")
    return int(setting) if setting.isdigit() else _MAX_CELLS


def _chunks(keys: np.ndarray):
    for lo in range(0, len(keys), _CHUNK):
        yield keys[lo : lo + _CHUNK]


def _max_item(keys: np.ndarray) -> int:
    return int(keys.max() >> 32) if len(keys) else 0


def _day_to_pnum(days: np.ndarray, cadence: str) -> np.ndarray:
    d = np.asarray(days, dtype=np.int64)
    if cadence == "week":
        return (d - 4) // 7
    return d.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12


def period_axis(raw: Raw) -> tuple[str, int, int, np.ndarray, np.ndarray, np.ndarray]:
    """The calendar range (public `periods`) and the periods that have rows (internal axis): cadence, first
    period number, calendar length, period starts (datetime64[ns]), calendar index of each period with rows, and
    the index among those of every day (-1 = no rows)."""
    seen_day = np.zeros(1 << 16, dtype=bool)
    for keys in (raw.f_key, raw.d_key):
        for part in _chunks(keys):
            seen_day[(part >> 16) & 0xFFFF] = True
    days = np.flatnonzero(seen_day)
    cadence = cadence_of_days(days) or "month"
    pnum_days = _day_to_pnum(days, cadence)
    p0 = int(pnum_days.min())
    n_p = int(pnum_days.max()) - p0 + 1
    period_starts = period_start(np.arange(p0, p0 + n_p), cadence).astype("datetime64[ns]")
    pc = np.unique(pnum_days - p0).astype(np.int64)  # calendar index of each period with rows
    day_to_c = np.full(1 << 16, -1, dtype=np.int64)
    day_to_c[days] = np.searchsorted(pc, pnum_days - p0)
    return cadence, p0, n_p, period_starts, pc, day_to_c


def item_table(raw: Raw) -> tuple[np.ndarray, list[str], dict[str, np.ndarray], np.ndarray]:
    """The items with any data in code order: codes, attribute names, attribute values per name, and the
    code-order row of every item id (-1 = no data)."""
    max_id = int(max(raw.item_ids.max(initial=0), _max_item(raw.f_key), _max_item(raw.d_key)))
    seen_item = np.zeros(max_id + 1, dtype=bool)
    for keys in (raw.f_key, raw.d_key):
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
    return codes, names, attr_vals, id_to_row


def actual_keys(raw: Raw, id_to_row: np.ndarray, day_to_c: np.ndarray, n_pc: int) -> tuple[np.ndarray, np.ndarray]:
    """Actuals as sorted (code-order row * n_pc + period) keys and their values; consumes raw.d_key and raw.d_val
    (the build's peak memory holds one copy of the rows)."""
    d_key = raw.d_key
    d_row = id_to_row[d_key >> 32]
    okd = d_row >= 0
    d_c = day_to_c[(d_key >> 16) & 0xFFFF]
    d_ck = d_row[okd] * n_pc + d_c[okd]
    d_val = raw.d_val[okd]
    del d_row, d_c, okd
    d_key = None
    raw.d_key = raw.d_val = None  # consumed: the build's peak memory holds one copy of the rows
    order_d = np.argsort(d_ck, kind="stable")
    d_ck, d_val = d_ck[order_d], d_val[order_d]
    del order_d
    return d_ck, d_val


def segments(d_row: np.ndarray, d_val: np.ndarray, n_i: int, fc: ForecastSection) -> tuple[np.ndarray, np.ndarray]:
    """ABC/XYZ segmentation (docs/methodology.md, Forecast accuracy) of every item from the actual history."""
    frame = pd.DataFrame({"item": d_row, "actual": d_val})
    seg = accuracy.abc_xyz(frame, abc=tuple(fc.abc), xyz=tuple(fc.xyz)).reindex(np.arange(n_i))
    del frame
    return seg["abc"].fillna("C").to_numpy(dtype=object), seg["xyz"].fillna("Z").to_numpy(dtype=object)


def mase_scale(
    d_row: np.ndarray, d_ck: np.ndarray, d_val: np.ndarray, pc: np.ndarray, n_p: int, n_pc: int, n_i: int, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MASE scale per item (docs/methodology.md, MASE): mean |A_t - A_(t-m)| over the item's history, t - m a
    calendar neighbour (a period without an actual leaves a gap); with the usable flag and 1 / scale (0 if not)."""
    d_cal = d_row * n_p + pc[d_ck - d_row * n_pc]
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
    return scale, usable, inv_scale


def stages_and_lags(raw: Raw, cfg_order: list[str]) -> tuple[np.ndarray, list[str], bool]:
    """The lags with forecasts, the stage names (configured order, then loaded stages outside the config), and
    whether naive is derived (no naive stage loaded)."""
    lag_seen = np.zeros(1024, dtype=bool)
    stage_seen = np.zeros(64, dtype=bool)
    for part in _chunks(raw.f_key):
        lag_seen[(part >> 6) & 0x3FF] = True
        stage_seen[part & 63] = True
    loaded = [raw.stages[i] for i in np.flatnonzero(stage_seen) if i < len(raw.stages)]
    lags = np.flatnonzero(lag_seen)
    derive = NAIVE not in loaded
    stage_names = [s for s in cfg_order if s in loaded or (s == NAIVE and derive)]
    if derive and NAIVE not in stage_names:
        stage_names.insert(0, NAIVE)
    stage_names += [s for s in loaded if s not in stage_names]
    return lags, stage_names, derive


def attribute_codes(
    names: list[str], attr_vals: dict[str, np.ndarray]
) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
    """The sorted values of every attribute (abc and xyz last) and each item's code into them."""
    attributes: dict[str, list[str]] = {}
    attr_codes: dict[str, np.ndarray] = {}
    for name in [*names, "abc", "xyz"]:
        vals, inv = np.unique(attr_vals[name].astype(str), return_inverse=True)
        attributes[name] = [str(v) for v in vals]
        attr_codes[name] = inv.astype(np.int64)
    return attributes, attr_codes


def combination(
    attributes: dict[str, list[str]], attr_codes: dict[str, np.ndarray], n_i: int, per_combo: int
) -> tuple[list[str], np.ndarray]:
    """The combination attributes that keep the combo cube small (per_combo bytes each), and each item's combo."""
    limit = max(1, _COMBO_BUDGET // max(per_combo, 1))
    combo_attrs: list[str] = []
    combo = np.zeros(n_i, dtype=np.int64)
    for name in sorted(attributes, key=lambda x: len(attributes[x])):
        trial = combo * len(attributes[name]) + attr_codes[name]
        _u, inv = np.unique(trial, return_inverse=True)
        if len(_u) <= limit:
            combo_attrs.append(name)
            combo = inv.astype(np.int64)
    return combo_attrs, combo


def cell_keys(
    raw: Raw, d_ck: np.ndarray, id_to_final: np.ndarray, day_to_c: np.ndarray, n_i: int, n_pc: int
) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The cells: the (item, period) pairs with an actual (d_ck, final order) or any forecast, item-major, as
    sorted keys row * n_pc + period index; and the function from such keys to cell indices."""
    space = n_i * n_pc
    dense = space <= _DENSE_CELLS
    if dense:
        mark = np.zeros(space, dtype=bool)
        mark[d_ck] = True
    found = [d_ck]
    for part in _chunks(raw.f_key):
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
    return ckey, cell_of


def check_size(n_cells: int, n_s: int, n_l: int) -> None:
    """CubeTooLarge past the cell limit (SOP_PULSE_MAX_CUBE_CELLS)."""
    limit = _max_cells()
    if n_s * n_l * n_cells > limit:
        raise CubeTooLarge(
            f"forecast data too large for the in-memory accuracy views: {n_cells:,} item-periods x {n_s} stages "
            f"x {n_l} lags = {n_s * n_l * n_cells:,} cells (limit {limit:,}, SOP_PULSE_MAX_CUBE_CELLS); keep "
            "fewer items, periods or lags in the database"
        )


def actual_cells(cell_of: Callable[[np.ndarray], np.ndarray], n_cells: int, d_ck: np.ndarray, d_val: np.ndarray):
    """The actual per cell (NaN = none)."""
    a = np.full(n_cells, np.nan)
    a[cell_of(d_ck)] = d_val
    return a


def forecast_cells(
    raw: Raw,
    stage_names: list[str],
    lags: np.ndarray,
    id_to_final: np.ndarray,
    day_to_c: np.ndarray,
    n_pc: int,
    cell_of: Callable[[np.ndarray], np.ndarray],
    n_cells: int,
) -> np.ndarray:
    """The forecasts as f[stage, lag, cell] (NaN = none); consumes raw.f_key and raw.f_val."""
    n_s, n_l = len(stage_names), len(lags)
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
    f_key = raw.f_key
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
    return f


def derive_naive(
    f: np.ndarray, a: np.ndarray, s_n: int, lags: list[int], m: int, cal: np.ndarray, cell_row: np.ndarray, n_p: int
) -> None:
    """Naive forecasts into f[s_n]: A(t - m*((k+m)//m)) in calendar periods (cal, per cell), on the cells some
    loaded stage forecasts."""
    n_s, _n_l, n_cells = f.shape
    other = [i for i in range(n_s) if i != s_n]
    ckey_cal = cell_row * n_p + cal
    for li, k in enumerate(lags):
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


def pre_aggregates(
    f: np.ndarray,
    a: np.ndarray,
    combo: np.ndarray,
    n_c: int,
    cell_off: np.ndarray,
    cell_row: np.ndarray,
    cell_p: np.ndarray,
    n_pc: int,
    inv_scale: np.ndarray,
    usable: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pre-aggregates: combo x period cube K, per-item block prefix sums Q (blocks of BLOCK cells) and the
    offset of each item's prefix sums in Q (q_off)."""
    n_s, n_l, n_cells = f.shape
    n_i = len(cell_off) - 1
    lens = np.diff(cell_off)
    nb = -(-lens // BLOCK)
    q_off = np.concatenate([[0], np.cumsum(nb + 1)]).astype(np.int64)
    n_q = int(q_off[-1])
    # block b of item i starts at cell cell_off[i] + b * BLOCK; its sum goes to Q position q_off[i] + 1 + b
    b_item = np.repeat(np.arange(n_i, dtype=np.int64), nb)
    b_local = np.arange(len(b_item), dtype=np.int64) - np.repeat(np.cumsum(nb) - nb, nb)
    b_start = cell_off[:-1][b_item] + b_local * BLOCK
    b_pos = q_off[:-1][b_item] + 1 + b_local
    del b_item, b_local
    combo_cell = combo[cell_row] * n_pc + cell_p
    groups = [(nbv, np.flatnonzero(nb == nbv)) for nbv in np.unique(nb)]
    K = np.zeros((n_s, n_l, len(TERMS), n_c, n_pc))
    Q = np.zeros((n_s, n_l, N_ITEM_TERMS, n_q))
    inv_cell, use_cell = inv_scale[cell_row], usable[cell_row].astype(np.float64)

    def aggregate(si: int, li: int) -> None:  # writes only K[si, li] and Q[si, li]
        sums = np.zeros((N_ITEM_TERMS, n_q))
        for k, arr in terms_iter(f[si, li], a, inv_cell, use_cell):
            if n_c:
                K[si, li, k] = np.bincount(combo_cell, weights=arr, minlength=n_c * n_pc).reshape(n_c, n_pc)
            if k < N_ITEM_TERMS and n_cells:
                sums[k, b_pos] = np.add.reduceat(arr, b_start)
        q = Q[si, li]
        for nbv, rows in groups:
            idx = q_off[rows][:, None] + np.arange(nbv + 1)
            q[:, idx] = np.cumsum(sums[:, idx], axis=2)

    each(aggregate, [(si, li) for si in range(n_s) for li in range(n_l)], n_cells)
    return q_off, K, Q
