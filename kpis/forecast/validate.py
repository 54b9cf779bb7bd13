"""Reading demand and forecast files and checking every row (each problem with file, row and column)."""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kpis import periods
from kpis.forecast.common import (
    RESERVED,
    cadence_adjective,
    cadence_plural,
    period_start,
)
from kpis.imports.cells import MAX_ABS_VALUE, merge_codes, numbers
from kpis.imports.problems import Collector, ImportFailed, Problem, missing_columns, too_long
from kpis.imports.read import CSV_EXCEL, PARQUET, read_frame

SUPPORTED = CSV_EXCEL + PARQUET
MAX_ITEM = 120  # item.code


# ---------------------------------------------------------------------------- reading
@dataclass
class Table:
    """A file's columns (lower-case names) with the file row number of each record."""

    name: str
    columns: dict[str, pd.Series]
    labels: dict[str, str]  # lower-case name -> name as written in the file
    rows: np.ndarray
    sheet: str | None = None  # the Excel sheet read

    @property
    def n(self) -> int:
        return len(self.rows)


def read(data: bytes, name: str, sheet: str | None = None, *, max_mb: float = 20) -> Table:
    """Parse CSV / Excel (first sheet or `sheet`) / Parquet bytes into a Table; ImportFailed when unreadable (the
    reader every import uses: kpis.imports.read)."""
    frame = read_frame(data, name, sheet=sheet, max_mb=max_mb, formats=SUPPORTED)
    table = table_of(frame.cells, frame.rows, frame.name)
    table.sheet = frame.sheet
    return table


def table_of(cells: pd.DataFrame, rows: np.ndarray, name: str) -> Table:
    """A Table of checked cells (headers stripped and unique, as kpis.imports.read makes them)."""
    labels: dict[str, str] = {}
    columns: dict[str, pd.Series] = {}
    for i, c in enumerate(cells.columns):
        labels[str(c).lower()], columns[str(c).lower()] = str(c), cells.iloc[:, i]
    return Table(name, columns, labels, np.asarray(rows, dtype=np.int64))


def table_from_rows(df: pd.DataFrame, name: str) -> Table:
    """A Table of a frame with a `_row` column of file row numbers (kpis.imports.read.row_table)."""
    return table_of(df.drop(columns="_row"), df["_row"].to_numpy(), name)


# ---------------------------------------------------------------------------- cell helpers
def _cell_text(values) -> list[str]:
    """Clean text of raw unique cells: stripped, '' for missing, ISO dates, whole floats without '.0'."""
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
            out.append("")
        elif isinstance(v, (pd.Timestamp, dt.datetime)):
            out.append(v.strftime("%Y-%m-%d") if (v.hour, v.minute, v.second) == (0, 0, 0) else str(v))
        elif isinstance(v, dt.date):
            out.append(v.isoformat())
        elif isinstance(v, np.datetime64):
            out.append(str(v.astype("datetime64[D]")))
        elif isinstance(v, (float, np.floating)) and float(v).is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v).strip())
    return out


def _factor(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes per row (-1 = blank) and the distinct clean text values."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int64)
        uniq = col.cat.categories
    else:
        codes, uniq = pd.factorize(col, use_na_sentinel=True)
        codes = codes.astype(np.int64, copy=False)
    text = np.array(_cell_text(uniq), dtype=object)
    tcodes, values = pd.factorize(text)
    remap = np.append(tcodes.astype(np.int64), -1)
    codes = remap[codes]  # -1 stays -1 (last element)
    values = np.asarray(values, dtype=object)
    blank = np.flatnonzero(values == "")
    if len(blank):
        b = blank[0]
        keep = np.arange(len(values)) != b
        newcode = np.cumsum(keep) - 1
        newcode[b] = -1
        codes = np.where(codes >= 0, newcode[np.maximum(codes, 0)], -1)
        values = values[keep]
    return codes, values


def _rows_where(table: Table, mask: np.ndarray) -> pd.Series:
    return pd.Series(table.rows[mask])


def _msgs_by_code(codes: np.ndarray, mask: np.ndarray, per_code: list[str] | np.ndarray) -> pd.Series:
    arr = np.asarray(per_code, dtype=object)
    return pd.Series(arr[codes[mask]])


def _numbers_col(table: Table, key: str, bag: Collector, what: str) -> np.ndarray:
    """Float values of a numeric column; missing / non-numeric cells are reported."""
    col = table.columns[key]
    label = table.labels[key]
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        vals = col.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(vals)
        if bad.any():
            msgs = np.where(
                np.isnan(vals[bad]), f"{what} is empty; expected a number", f"{what} is not a finite number"
            )
            bag.add_many(_rows_where(table, bad), label, pd.Series(msgs))
        _refuse_absurd(table, vals, bag, label, what)
        return vals
    text = col.astype(object)
    vals = np.array(pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
    retry = np.isnan(vals)
    if retry.any():  # decimal commas, thousands separators, stray spaces
        sub = text[retry]
        num, pct = numbers(sub)
        num = num.where(~pct, np.nan)
        vals[retry] = num.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(vals)  # empty, not a number, or 'inf' / 'nan' spelled out
    if bad.any():
        raw = _cell_text(text[bad].tolist())
        msgs = [f"{what} is empty; expected a number" if r == "" else f"{what} '{r}' is not a number" for r in raw]
        bag.add_many(_rows_where(table, bad), label, pd.Series(msgs))
    _refuse_absurd(table, vals, bag, label, what)
    return vals


def _refuse_absurd(table: Table, vals: np.ndarray, bag: Collector, label: str, what: str) -> None:
    """Report finite values beyond ±MAX_ABS_VALUE (a mistake, and sums of them would overflow)."""
    with np.errstate(invalid="ignore"):
        huge = np.isfinite(vals) & (np.abs(vals) > MAX_ABS_VALUE)
    if huge.any():
        msgs = [
            f"{what} {v:g} is beyond ±{MAX_ABS_VALUE:g}; expected a plausible quantity" for v in vals[huge][: bag.cap]
        ]
        bag.add_many(_rows_where(table, huge), label, pd.Series(msgs + [""] * (int(huge.sum()) - len(msgs))))


# ---------------------------------------------------------------------------- periods
_RE = {
    "week": re.compile(r"^\d{4}-?[Ww]\d{1,2}$"),
    "month": re.compile(r"^\d{4}-\d{1,2}$"),
    "quarter": re.compile(r"^\d{4}-?[Qq][1-4]$"),
    "date": re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00(?::00)?)?$"),
}


def _kind_of(text: str) -> str:
    """Granularity a period spelling implies: week, month, quarter, first (1st of a month: either), day, bad."""
    for k in ("week", "month", "quarter"):
        if _RE[k].match(text):
            return k
    m = _RE["date"].match(text)
    if m:
        try:
            d = dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return "bad"
        return "first" if d.day == 1 else ("monthend" if (d + dt.timedelta(days=1)).day == 1 else "day")
    return "bad"


def _period_columns(
    table: Table, keys: list[str], bag: Collector, stored: str | None, years: tuple[int, int] = periods.SUPPORTED_YEARS
) -> tuple[dict[str, np.ndarray], str]:
    """Period number per row for each period-like column (-1 on error) and the file's cadence; `years` the years a
    period may lie in (config [limits] period_years)."""
    facts = {k: _factor(table.columns[k]) for k in keys}
    kinds = {k: np.array([_kind_of(t) for t in values], dtype=object) for k, (_c, values) in facts.items()}
    weight = {"week": 0, "month": 0}
    example = {"week": "", "month": ""}
    for k, (codes, values) in facts.items():
        counts = np.bincount(codes[codes >= 0], minlength=len(values))
        for kind_name, flag in (("week", ("week", "day")), ("month", ("month",))):
            sel = np.isin(kinds[k], flag)
            weight[kind_name] += int(counts[sel].sum())
            if sel.any() and not example[kind_name]:
                example[kind_name] = str(values[np.flatnonzero(sel)[0]])
    if weight["week"] and weight["month"]:
        if weight["week"] == weight["month"] and stored in ("week", "month"):
            cadence = stored  # a tie: the rows that disagree with the stored data are the odd ones out
        else:
            cadence = "week" if weight["week"] > weight["month"] else "month"
    elif weight["week"]:
        cadence = "week"
    elif weight["month"]:
        cadence = "month"
    else:
        cadence = stored or "month"
    if stored and stored != cadence and not bag.total:
        bag.add(
            None,
            table.labels[keys[0]],
            f"this file is {cadence_adjective(cadence)} but the stored demand and forecasts are "
            f"{cadence_adjective(stored)}; use one granularity for all forecast data",
        )
    out = {}
    for k, (codes, values) in facts.items():
        start, err = periods.normalise(pd.Series(values, dtype=object), cadence, years=years)
        err = err.to_numpy(dtype=object).copy()
        kind = kinds[k]
        if cadence == "month":
            mixed = np.isin(kind, ("week", "day"))
        else:
            mixed = np.isin(kind, ("month",))
        quarter = kind == "quarter"
        spelled = {"week": "an ISO week", "day": "a day within a month"}
        for j in np.flatnonzero(mixed):
            err[j] = (
                f"is {spelled.get(kind[j], 'a month')}, "
                f"but other rows in this file are {cadence_plural(cadence)} (e.g. '{example[cadence]}'); "
                "use one granularity per file"
            )
        for j in np.flatnonzero(quarter):
            err[j] = "is a quarter; forecast data must be weekly or monthly"
        num = np.full(len(values), -1, dtype=np.int64)
        ok = (err == "") & start.notna().to_numpy()
        if ok.any():
            num[ok] = periods.period_number(start[ok], cadence)
            day = period_start(num, cadence).astype(np.int64)
            out_of_range = ok & ((day < 0) | (day >= 1 << 16))
            err[out_of_range] = "is outside the supported years 1970-2149"
            ok &= ~out_of_range
        label = table.labels[k]
        bad_codes = ~ok
        row_bad = (codes < 0) | bad_codes[np.maximum(codes, 0)]
        if row_bad.any():
            msgs_u = np.array(
                [f"period '{v}' {e}" if k == "period" else f"snapshot '{v}' {e}" for v, e in zip(values, err)],
                dtype=object,
            )
            rc = codes[row_bad]
            msgs = np.where(rc < 0, f"{k} is empty; expected {periods.FORMAT_HINT}", msgs_u[np.maximum(rc, 0)])
            bag.add_many(pd.Series(table.rows[row_bad]), label, pd.Series(msgs))
        out[k] = np.where(codes >= 0, num[np.maximum(codes, 0)], -1)
    return out, cadence


# ---------------------------------------------------------------------------- validation
@dataclass
class Rows:
    """Checked rows ready to write (codes into small value tables)."""

    kind: str
    n: int
    item_codes: np.ndarray  # per row, into items
    items: np.ndarray  # item code strings
    period: np.ndarray  # period number per row
    cadence: str
    value: np.ndarray  # actual or forecast
    lag: np.ndarray | None = None
    stage_codes: np.ndarray | None = None
    stages: list[str] = field(default_factory=list)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)  # item code -> {attr: value}
    attribute_names: list[str] = field(default_factory=list)
    ignored: tuple[str, ...] = ()


def _require_columns(table: Table, needed: list[str], hint: str) -> None:
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ImportFailed([missing_columns(table.name, missing, hint)])


def _item_column(table: Table, bag: Collector, known: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Item code per row (-1 empty) and the distinct codes; codes that differ only by Unicode form or invisible
    characters are one item, matched with the stored (`known`) ones (kpis.imports.cells.merge_codes)."""
    codes, values = merge_codes(*_factor(table.columns["item"]), known or ())
    label = table.labels["item"]
    empty = codes < 0
    if empty.any():
        bag.add_many(_rows_where(table, empty), label, "item is empty")
    lens = np.array([len(v) for v in values], dtype=np.int64)
    long = np.flatnonzero(lens > MAX_ITEM)
    if len(long):
        sel = np.isin(codes, long)
        per = [too_long("item code", n, MAX_ITEM) if n > MAX_ITEM else "" for n in lens]
        bag.add_many(_rows_where(table, sel), label, _msgs_by_code(codes, sel, per))
    return codes, values


def _duplicates(
    table: Table, key: np.ndarray, ok: np.ndarray, bag: Collector, column: str, what: Callable[[int], str]
) -> None:
    """Report rows whose key repeats an earlier row's key (keys >= 0; ok = rows to check)."""
    idx = np.flatnonzero(ok)
    k = key[idx]
    if not len(k):
        return
    space = int(k.max()) + 1
    if space <= 2 * len(k) + 1024:  # dense key space: one counting pass
        if np.bincount(k, minlength=space).max() <= 1:
            return
    order = np.argsort(k, kind="stable")
    ks = k[order]
    same = np.zeros(len(ks), dtype=bool)
    same[1:] = ks[1:] == ks[:-1]
    if not same.any():
        return
    start = np.where(~same, np.arange(len(ks)), 0)
    start = np.maximum.accumulate(start)
    dup_pos = np.flatnonzero(same)
    later = idx[order[dup_pos]]
    first = idx[order[start[dup_pos]]]
    msgs = [
        f"duplicate: row {int(table.rows[f])} already has {what(int(r))}"
        for f, r in zip(first[: bag.cap], later[: bag.cap])
    ]
    msgs += [""] * (len(later) - len(msgs))
    bag.add_many(pd.Series(table.rows[later]), column, pd.Series(msgs))


def validate_demand(
    table: Table,
    bag: Collector,
    stored: str | None,
    known: dict[str, tuple[int, dict]],
    years: tuple[int, int] = periods.SUPPORTED_YEARS,
) -> Rows:
    hint = "item, period, actual and any attribute columns (family, region, channel, ...)"
    _require_columns(table, ["item", "period", "actual"], hint)
    bad_names = [table.labels[c] for c in table.columns if c in RESERVED and c not in ("item", "period", "actual")]
    if bad_names:
        raise ImportFailed(
            [
                Problem(
                    table.name,
                    1,
                    c,
                    f"column '{c}' cannot be an attribute: it is the name of a "
                    "metric or key column of the accuracy views; rename it "
                    f"(e.g. '{c}_class'); expected {hint}",
                )
                for c in bad_names
            ]
        )
    codes, items = _item_column(table, bag, known)
    pnum, cadence = _period_columns(table, ["period"], bag, stored, years)
    value = _numbers_col(table, "actual", bag, "actual")
    attr_names = [c for c in table.columns if c not in ("item", "period", "actual")]
    attrs: dict[str, dict[str, str]] = {}
    if attr_names and len(items):
        first_row = np.full(len(items), -1, dtype=np.int64)
        valid = np.flatnonzero(codes >= 0)
        uniq, pos = np.unique(codes[valid], return_index=True)
        first_row[uniq] = valid[pos]
        per_item: dict[str, list[str]] = {}
        for a in attr_names:
            stored_values = {x for _i, v in known.values() if isinstance(x := v.get(a), str) and x}
            acodes, avals = merge_codes(*_factor(table.columns[a]), stored_values)
            ref = acodes[first_row[np.maximum(codes, 0)]]
            conflict = (codes >= 0) & (acodes != ref)
            if conflict.any():
                vals = np.append(avals, "")
                crow = np.flatnonzero(conflict)
                msgs = [
                    f"item '{items[codes[r]]}' has {a} '{vals[acodes[r]]}' here but "
                    f"'{vals[ref[r]]}' in row {int(table.rows[first_row[codes[r]]])}; "
                    "an item has one value per attribute"
                    for r in crow[: bag.cap]
                ]
                msgs += [""] * (len(crow) - len(msgs))
                bag.add_many(pd.Series(table.rows[crow]), table.labels[a], pd.Series(msgs))
            fv = acodes[first_row]
            per_item[a] = [avals[c] if c >= 0 else "" for c in fv]
        for j, code in enumerate(items):
            attrs[code] = {a: per_item[a][j] for a in attr_names}
    ok = (codes >= 0) & (pnum["period"] >= 0)
    pmin = int(pnum["period"][ok].min()) if ok.any() else 0
    width = int(pnum["period"][ok].max()) - pmin + 1 if ok.any() else 1
    key = np.where(ok, codes * width + pnum["period"] - pmin, -1)
    _duplicates(
        table,
        key,
        ok,
        bag,
        table.labels["period"],
        lambda r: (
            f"item '{items[codes[r]]}' for period "
            f"{periods.label(period_start(pnum['period'][r : r + 1], cadence)[0], cadence)}"
        ),
    )
    bag.raise_if_any()
    return Rows(
        "demand",
        table.n,
        codes,
        np.asarray(items, dtype=object),
        pnum["period"],
        cadence,
        value,
        attributes=attrs,
        attribute_names=attr_names,
    )


def validate_forecasts(
    table: Table,
    bag: Collector,
    stored: str | None,
    known: dict[str, tuple[int, dict]],
    stages_cfg: list[str],
    years: tuple[int, int] = periods.SUPPORTED_YEARS,
) -> Rows:
    hint = "item, period, lag (or snapshot), stage, forecast"
    need = ["item", "period", "stage", "forecast"]
    _require_columns(table, need, hint)
    if "lag" not in table.columns and "snapshot" not in table.columns:
        raise ImportFailed(
            [
                Problem(
                    table.name,
                    1,
                    None,
                    f"missing column 'lag' (or 'snapshot', the period the forecast was made in); expected {hint}",
                )
            ]
        )
    ignored = tuple(table.labels[c] for c in table.columns if c not in (*need, "lag", "snapshot"))
    codes, items = _item_column(table, bag, known)
    if len(items):
        unknown = np.array([code not in known for code in items])
        if unknown.any():
            sel = (codes >= 0) & unknown[np.maximum(codes, 0)]
            names = [c for c, u in zip(items, unknown) if u]
            n_rows = int(sel.sum())
            eg = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
            first_row = int(_rows_where(table, sel).iloc[0])
            # one message, not one per forecast row: the fix is the same for all of them
            bag.add(
                first_row,
                table.labels["item"],
                f"import demand first: {len(names):,} item{'s are' if len(names) != 1 else ' is'} unknown "
                f"(e.g. {eg}), in {n_rows:,} forecast row{'s' if n_rows != 1 else ''}; items and their attributes "
                "come from demand files",
            )
    pkeys = ["period"] + (["snapshot"] if "snapshot" in table.columns else [])
    pnum, cadence = _period_columns(table, pkeys, bag, stored, years)
    period = pnum["period"]
    lag = np.full(table.n, -1, dtype=np.int64)
    lag_ok = np.zeros(table.n, dtype=bool)
    if "lag" in table.columns:
        lcol = table.labels["lag"]
        lv = _numbers_col(table, "lag", bag, "lag")
        fin = np.isfinite(lv)
        frac = fin & (lv != np.round(lv))
        if frac.any():
            bag.add_many(
                _rows_where(table, frac),
                lcol,
                pd.Series(
                    [f"lag {v:g} is not a whole number of periods" for v in lv[frac][: bag.cap]]
                    + [""] * max(0, int(frac.sum()) - bag.cap)
                ),
            )
        neg = fin & ~frac & (lv < 0)
        if neg.any():
            bag.add_many(
                _rows_where(table, neg),
                lcol,
                pd.Series(
                    [f"lag {v:g} is negative; lag = period − snapshot must be 0 or more" for v in lv[neg][: bag.cap]]
                    + [""] * max(0, int(neg.sum()) - bag.cap)
                ),
            )
        big = fin & ~frac & (lv > 1000)
        if big.any():
            bag.add_many(_rows_where(table, big), lcol, "lag is over 1000 periods")
        lag_ok = fin & ~frac & (lv >= 0) & (lv <= 1000)
        lag = np.where(lag_ok, lv, -1).astype(np.int64)
    if "snapshot" in table.columns:
        snap = pnum["snapshot"]
        both = (snap >= 0) & (period >= 0)
        from_snap = np.where(both, period - snap, -1)
        scol = table.labels["snapshot"]
        after = both & (from_snap < 0)
        if after.any():
            idx = np.flatnonzero(after)[: bag.cap]
            msgs = [
                f"snapshot {periods.label(period_start(snap[i : i + 1], cadence)[0], cadence)} is after period "
                f"{periods.label(period_start(period[i : i + 1], cadence)[0], cadence)} (lag would be "
                f"{int(from_snap[i])}); a forecast is made before or in its period"
                for i in idx
            ]
            bag.add_many(_rows_where(table, after), scol, pd.Series(msgs + [""] * (int(after.sum()) - len(msgs))))
        if "lag" in table.columns:
            differ = both & ~after & lag_ok & (from_snap != lag)
            if differ.any():
                idx = np.flatnonzero(differ)[: bag.cap]
                msgs = [f"lag {int(lag[i])} does not match period − snapshot = {int(from_snap[i])}" for i in idx]
                bag.add_many(
                    _rows_where(table, differ),
                    table.labels["lag"],
                    pd.Series(msgs + [""] * (int(differ.sum()) - len(msgs))),
                )
        else:
            lag = np.where(both & ~after, from_snap, -1)
            lag_ok = lag >= 0
    scodes, svals = _factor(table.columns["stage"])
    by_lower = {s.lower(): s for s in stages_cfg}
    mapped = [by_lower.get(str(v).lower()) for v in svals]
    stage_list = [s for s in stages_cfg if s in set(mapped)]
    stage_idx = np.array([stage_list.index(m) if m else -1 for m in mapped] + [-1], dtype=np.int64)
    row_stage = stage_idx[np.where(scodes >= 0, scodes, len(svals))]
    slabel = table.labels["stage"]
    if (scodes < 0).any():
        bag.add_many(_rows_where(table, scodes < 0), slabel, "stage is empty")
    bad_stage = (scodes >= 0) & (row_stage < 0)
    if bad_stage.any():
        per = []
        for v in svals:
            hint_s = difflib.get_close_matches(str(v).lower(), list(by_lower), n=1)
            per.append(
                f"unknown stage '{v}'"
                + (f" (did you mean '{by_lower[hint_s[0]]}'?)" if hint_s else "")
                + f"; configured stages: {', '.join(stages_cfg)}"
            )
        bag.add_many(_rows_where(table, bad_stage), slabel, _msgs_by_code(scodes, bad_stage, per))
    value = _numbers_col(table, "forecast", bag, "forecast")
    ok = (codes >= 0) & (period >= 0) & (lag >= 0) & (row_stage >= 0)
    if ok.any():
        pmin = int(period[ok].min())
        np_ = int(period[ok].max()) - pmin + 1
        nl = int(lag[ok].max()) + 1
        key = np.where(ok, ((codes * np_ + (period - pmin)) * nl + lag) * max(len(stage_list), 1) + row_stage, -1)

        def what(r: int) -> str:
            lab = periods.label(period_start(period[r : r + 1], cadence)[0], cadence)
            return f"item '{items[codes[r]]}', period {lab}, lag {int(lag[r])}, stage '{stage_list[row_stage[r]]}'"

        _duplicates(table, key, ok, bag, table.labels["period"], what)
    bag.raise_if_any()
    return Rows(
        "forecasts",
        table.n,
        codes,
        np.asarray(items, dtype=object),
        period,
        cadence,
        value,
        lag=lag,
        stage_codes=row_stage,
        stages=stage_list,
        ignored=ignored,
    )
