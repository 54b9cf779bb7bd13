"""Forecast-accuracy data: importing demand actuals and forecast snapshots, and the
in-memory ``ForecastCube`` every accuracy view is answered from (DOMAIN.md §2).

Import rules (``import_file``)
------------------------------
* Demand files: ``item, period, actual`` plus any attribute columns (family, region, ...).
  Attribute columns become the item hierarchy; an item must have one value per attribute
  in a file. Attributes not in the file keep their stored value; a blank cell means "not
  set" (shown as ``(none)``).
* Forecast files: ``item, period, stage, forecast`` and ``lag`` or ``snapshot`` (the period
  the forecast was made in; lag = period − snapshot in period units). With both, they must
  agree. Stages must be configured ([forecast] stages; matched case-insensitively).
* **Demand comes first**: a forecast file may only name items that already exist (created
  by a demand file with their attributes). Forecasts for unknown items are refused, so the
  hierarchy is never silently incomplete.
* CSV (comma or semicolon), Excel (first sheet) and Parquet. Rows are numbered as in a
  spreadsheet for CSV/Excel (header = row 1) and from 1 for Parquet records.
* One granularity per file (weeks or months; ISO dates, ``YYYY-MM`` or ``YYYY-Www``), and
  the same granularity as the data already stored.
* Every problem is reported with file, row and column; a file with any problem writes
  nothing (one transaction). Re-importing the same content writes nothing and says so;
  changed values are updated and counted. Extra columns in a forecast file are ignored and
  reported in the summary.
* Bulk writes: SQLite through the raw connection (executemany in chunks), PostgreSQL
  through binary COPY. For big PostgreSQL loads the table's foreign keys are dropped and
  re-added (validated) inside the same transaction, which takes an exclusive lock on the
  table for the duration of the import.

Analytics (``get_cube``)
------------------------
The cube is built once per (database, data version, forecast config) and cached (two
entries). It keeps dense grids (items × periods actuals, stages × lags × items × periods
forecasts; derived naive added when no naive stage is loaded, restricted to the cells
some loaded stage forecasts) and two pre-aggregates of the additive error terms:
per-attribute-combination × stage × lag × period sums, and per-item block prefix sums over
periods. Every view is then a few vector operations on small arrays. All metrics are the
ratios of sums from ``kpis.accuracy`` (``finalize``). This module never imports streamlit.
"""

from __future__ import annotations

import datetime as dt
import difflib
import gc
import hashlib
import io
import itertools
import math
import os
import pickle
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, String, func, insert, select, update

from kpis import accuracy, periods
from kpis.accuracy import METRIC_COLUMNS, SUM_COLUMNS
from kpis.config import AppConfig
from kpis.ingest import ImportFailed, ImportResult, Problem, _Collector, _numbers
from kpis.store.models import AuditEvent, ForecastValue, ImportBatch, Item, utcnow
from kpis.users import User, require

__all__ = [
    "METRIC_COLUMNS",
    "SUPPORTED",
    "ForecastImportResult",
    "ForecastCube",
    "import_file",
    "get_cube",
    "computed_kpi_values",
    "final_stage",
]

SUPPORTED = (".csv", ".txt", ".xlsx", ".xlsm", ".parquet", ".pq")
NAIVE = "naive"
NONE_VALUE = "(none)"
RESERVED = {"item", "period", "actual", "lag", "snapshot", "stage", "forecast", "abc", "xyz", "n", "_row"}
FVA_COLUMNS = ["stage", "n", "wape", "fva_vs_previous", "fva_vs_naive"]
Progress = Callable[[float, str], None]


# ============================================================================ import
@dataclass
class ForecastImportResult(ImportResult):
    """What a demand or forecast import changed (values, and items for demand files)."""

    kind: str = "forecasts"
    items_added: int = 0
    items_changed: int = 0
    ignored_columns: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.items_added or self.items_changed)

    def summary(self) -> str:
        """One line for the UI and the CLI."""
        ignored = f" Ignored column(s): {', '.join(self.ignored_columns)}." if self.ignored_columns else ""
        if not self.changed:
            seen = ""
            if self.previous:
                seen = f" (same content imported {self.previous['when']:%Y-%m-%d %H:%M} UTC by {self.previous['who']})"
            return f"{self.filename}: no changes — all {self.unchanged} values already stored{seen}.{ignored}"
        items = ""
        if self.items_added or self.items_changed:
            items = f"; items: {self.items_added} added, {self.items_changed} with changed attributes"
        return (f"{self.filename}: {self.inserted} inserted, {self.updated} updated, {self.unchanged} unchanged"
                f"{items} (import #{self.batch_id}).{ignored}")


def _noop(_fraction: float, _text: str) -> None:
    return None


def import_file(engine: Engine, path_or_bytes: str | Path | bytes, *, kind: str, config: AppConfig, user: User,
                filename: str | None = None, progress: Progress | None = None) -> ForecastImportResult:
    """Validate and store a demand (kind='demand') or forecast (kind='forecasts') file in one transaction."""
    require(user, "import")
    if kind not in ("demand", "forecasts"):
        raise ValueError(f"kind must be 'demand' or 'forecasts', not {kind!r}")
    progress = progress or _noop
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        name = Path(filename or "upload").name
        limit = config.app.max_upload_mb
        if len(data) > limit * 1024 * 1024:  # uploads only; files named on the CLI are not limited
            raise ImportFailed([Problem(name, None, None, f"file is {len(data) / 1048576:.1f} MB, over the "
                                                          f"{limit:g} MB limit (config [app] max_upload_mb)")])
    else:
        path = Path(path_or_bytes)
        name = Path(filename or path.name).name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImportFailed([Problem(name, None, None, "file not found")]) from None
    progress(0.02, f"reading {name}")
    table = _read(data, name)
    progress(0.15, f"checking {table.n:,} rows")
    bag = _Collector(name, config.app.max_import_errors)
    with engine.connect() as conn:
        known = _items(conn)
        stored = _stored_cadence(conn)
    if kind == "demand":
        rows = _validate_demand(table, bag, stored, known)
    else:
        rows = _validate_forecasts(table, bag, stored, known, list(config.forecast.stages))
    sha = hashlib.sha256(data).hexdigest()
    del table, data  # keep the peak memory of big imports down
    progress(0.3, "comparing with stored data")
    result = _write(engine, rows, kind=kind, filename=name, sha256=sha, user=user, progress=progress)
    del rows          # free the import's arrays before the cube takes its memory
    _release_memory()
    if result.changed:
        # Build the cube (and its on-disk snapshot) now, at load time, so the first page render after an
        # import does not pay for it. A failure here never undoes the committed import.
        progress(1.0, "preparing the accuracy views")
        try:
            get_cube(engine, config, forecast_version(engine))
        except Exception:  # noqa: BLE001 - the views will build the cube on demand instead
            pass
    return result


# ---------------------------------------------------------------------------- reading
@dataclass
class _Table:
    """A file's columns (lower-case names) with the file row number of each record."""

    name: str
    columns: dict[str, pd.Series]
    labels: dict[str, str]  # lower-case name -> name as written in the file
    rows: np.ndarray

    @property
    def n(self) -> int:
        return len(self.rows)


def _read(data: bytes, name: str) -> _Table:
    """Parse CSV / Excel / Parquet bytes into a _Table; ImportFailed when unreadable."""
    ext = Path(name).suffix.lower()
    if ext not in SUPPORTED:
        raise ImportFailed([Problem(name, None, None, f"unsupported file type '{ext or '(none)'}'; "
                                                      "expected .csv, .xlsx or .parquet")])
    if not data.strip():
        raise ImportFailed([Problem(name, None, None, "file is empty; expected a header row and data rows")])
    first = 2
    try:
        if ext in (".parquet", ".pq"):
            df = _read_parquet(data)
            first = 1
        elif ext in (".xlsx", ".xlsm"):
            df = pd.read_excel(io.BytesIO(data), dtype=object, engine="openpyxl", header=0)
        else:
            text = data.decode("utf-8-sig")
            head = text.split("\n", 1)[0]
            sep = ";" if head.count(";") > head.count(",") else ","
            df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep, skip_blank_lines=False)
    except UnicodeDecodeError:
        raise ImportFailed([Problem(name, None, None, "file is not UTF-8 text; save the CSV as UTF-8")]) from None
    except ImportFailed:
        raise
    except Exception as e:  # parser errors name the line themselves
        raise ImportFailed([Problem(name, None, None, f"cannot read the file: {e}")]) from None
    rows = np.arange(first, first + len(df), dtype=np.int64)
    if ext not in (".parquet", ".pq") and len(df):
        blank = np.ones(len(df), dtype=bool)
        for c in df.columns:
            col = df[c]
            blank &= (col.isna() | (col.astype(str).str.strip() == "")).to_numpy()
        if blank.any():
            df, rows = df[~blank].reset_index(drop=True), rows[~blank]
    labels: dict[str, str] = {}
    columns: dict[str, pd.Series] = {}
    problems = []
    for c in df.columns:
        raw = c.strftime("%Y-%m-%d") if isinstance(c, (pd.Timestamp, dt.date)) else str(c)
        key = raw.strip().lower()
        if key.startswith("unnamed:") and df[c].isna().all():
            continue
        if key in columns:
            problems.append(Problem(name, 1, raw, f"column '{raw}' appears twice"))
            continue
        labels[key], columns[key] = raw.strip(), df[c]
    if problems:
        raise ImportFailed(problems)
    if not len(rows):
        raise ImportFailed([Problem(name, None, None, "file has a header but no data rows")])
    return _Table(name, columns, labels, rows)


def _read_parquet(data: bytes) -> pd.DataFrame:
    """Parquet bytes as a frame; text columns come back categorical (dictionary-encoded) for speed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    cols = []
    for i, f in enumerate(table.schema):
        col = table.column(i)
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            col = col.dictionary_encode()
        cols.append(col)
    table = pa.table(cols, names=table.column_names)
    return table.to_pandas(date_as_object=False)


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


def _rows_where(table: _Table, mask: np.ndarray) -> pd.Series:
    return pd.Series(table.rows[mask])


def _msgs_by_code(codes: np.ndarray, mask: np.ndarray, per_code: list[str] | np.ndarray) -> pd.Series:
    arr = np.asarray(per_code, dtype=object)
    return pd.Series(arr[codes[mask]])


def _numbers_col(table: _Table, key: str, bag: _Collector, what: str) -> np.ndarray:
    """Float values of a numeric column; missing / non-numeric cells are reported."""
    col = table.columns[key]
    label = table.labels[key]
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        vals = col.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(vals)
        if bad.any():
            msgs = np.where(np.isnan(vals[bad]), f"{what} is empty; expected a number", f"{what} is not a finite number")
            bag.add_many(_rows_where(table, bad), label, pd.Series(msgs))
        return vals
    text = col.astype(object)
    vals = np.array(pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
    retry = np.isnan(vals)
    if retry.any():  # decimal commas, thousands separators, stray spaces
        sub = text[retry]
        num, pct = _numbers(sub)
        num = num.where(~pct, np.nan)
        vals[retry] = num.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(vals)
        if bad.any():
            raw = _cell_text(text[bad].tolist())
            msgs = [f"{what} is empty; expected a number" if r == "" else f"{what} '{r}' is not a number" for r in raw]
            bag.add_many(_rows_where(table, bad), label, pd.Series(msgs))
    return vals


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


def _period_columns(table: _Table, keys: list[str], bag: _Collector, stored: str | None
                    ) -> tuple[dict[str, np.ndarray], str]:
    """Period number per row for each period-like column (-1 on error) and the file's cadence."""
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
            cadence = stored      # a tie: the rows that disagree with the stored data are the odd ones out
        else:
            cadence = "week" if weight["week"] > weight["month"] else "month"
    elif weight["week"]:
        cadence = "week"
    elif weight["month"]:
        cadence = "month"
    else:
        cadence = stored or "month"
    if stored and stored != cadence and not bag.total:
        bag.add(None, table.labels[keys[0]], f"this file is {_adj(cadence)} but the stored demand and forecasts are "
                                             f"{_adj(stored)}; use one granularity for all forecast data")
    out = {}
    for k, (codes, values) in facts.items():
        start, err = periods.normalise(pd.Series(values, dtype=object), cadence)
        err = err.to_numpy(dtype=object).copy()
        kind = kinds[k]
        if cadence == "month":
            mixed = np.isin(kind, ("week", "day"))
        else:
            mixed = np.isin(kind, ("month",))
        quarter = kind == "quarter"
        for j in np.flatnonzero(mixed):
            err[j] = (f"is {'an ISO week' if kind[j] == 'week' else 'a day within a month' if kind[j] == 'day' else 'a month'}, "
                      f"but other rows in this file are {_plural(cadence)} (e.g. '{example[cadence]}'); "
                      "use one granularity per file")
        for j in np.flatnonzero(quarter):
            err[j] = "is a quarter; forecast data must be weekly or monthly"
        num = np.full(len(values), -1, dtype=np.int64)
        ok = (err == "") & start.notna().to_numpy()
        if ok.any():
            num[ok] = periods.period_number(start[ok], cadence)
            day = _period_start(num, cadence).astype(np.int64)
            out_of_range = ok & ((day < 0) | (day >= 1 << 16))
            err[out_of_range] = "is outside the supported years 1970-2149"
            ok &= ~out_of_range
        label = table.labels[k]
        bad_codes = ~ok
        row_bad = (codes < 0) | bad_codes[np.maximum(codes, 0)]
        if row_bad.any():
            msgs_u = np.array([f"period '{v}' {e}" if k == "period" else f"snapshot '{v}' {e}"
                               for v, e in zip(values, err)], dtype=object)
            rc = codes[row_bad]
            msgs = np.where(rc < 0, f"{k} is empty; expected {periods.FORMAT_HINT}", msgs_u[np.maximum(rc, 0)])
            bag.add_many(pd.Series(table.rows[row_bad]), label, pd.Series(msgs))
        out[k] = np.where(codes >= 0, num[np.maximum(codes, 0)], -1)
    return out, cadence


def _adj(cadence: str) -> str:
    return {"week": "weekly", "month": "monthly"}.get(cadence, cadence)


def _plural(cadence: str) -> str:
    return {"week": "ISO weeks", "month": "months"}.get(cadence, cadence)


def _period_start(num: np.ndarray, cadence: str) -> np.ndarray:
    """Period numbers (periods.period_number) back to start dates (datetime64[D])."""
    num = np.asarray(num, dtype=np.int64)
    if cadence == "week":
        return (np.datetime64("1970-01-05", "D") + (num * 7).astype("timedelta64[D]")).astype("datetime64[D]")
    return (num - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]")


def _cadence_of_days(days: np.ndarray) -> str | None:
    """Cadence implied by a set of stored period start dates (days since 1970-01-01)."""
    if not len(days):
        return None
    d = np.unique(np.asarray(days, dtype=np.int64)).astype("datetime64[D]")
    first = (d.astype("datetime64[M]").astype("datetime64[D]") == d).all()
    monday = (((d.astype(np.int64) - 4) % 7) == 0).all()
    if first and not monday:
        return "month"
    if monday and not first:
        return "week"
    if first and monday and len(d) > 1:
        return "week" if (np.diff(d.astype(np.int64)) < 28).any() else "month"
    return None


# ---------------------------------------------------------------------------- validation
@dataclass
class _Rows:
    """Checked rows ready to write (codes into small value tables)."""

    kind: str
    n: int
    item_codes: np.ndarray          # per row, into items
    items: np.ndarray               # item code strings
    period: np.ndarray              # period number per row
    cadence: str
    value: np.ndarray               # actual or forecast
    lag: np.ndarray | None = None
    stage_codes: np.ndarray | None = None
    stages: list[str] = field(default_factory=list)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)  # item code -> {attr: value}
    attribute_names: list[str] = field(default_factory=list)
    ignored: tuple[str, ...] = ()


def _require_columns(table: _Table, needed: list[str], hint: str) -> None:
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ImportFailed([Problem(table.name, 1, None, f"missing column(s) {', '.join(repr(c) for c in missing)}; "
                                                         f"expected {hint}")])


def _item_column(table: _Table, bag: _Collector) -> tuple[np.ndarray, np.ndarray]:
    codes, values = _factor(table.columns["item"])
    label = table.labels["item"]
    empty = codes < 0
    if empty.any():
        bag.add_many(_rows_where(table, empty), label, "item is empty")
    lens = np.array([len(v) for v in values], dtype=np.int64)
    long = np.flatnonzero(lens > 120)
    if len(long):
        sel = np.isin(codes, long)
        bag.add_many(_rows_where(table, sel), label, "item code is longer than 120 characters")
    return codes, values


def _duplicates(table: _Table, key: np.ndarray, ok: np.ndarray, bag: _Collector, column: str, what: Callable[[int], str]
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
    msgs = [f"duplicate: row {int(table.rows[f])} already has {what(int(r))}" for f, r in zip(first[:bag.cap], later[:bag.cap])]
    msgs += [""] * (len(later) - len(msgs))
    bag.add_many(pd.Series(table.rows[later]), column, pd.Series(msgs))


def _validate_demand(table: _Table, bag: _Collector, stored: str | None, known: dict[str, tuple[int, dict]]) -> _Rows:
    hint = "item, period, actual and any attribute columns (family, region, channel, ...)"
    _require_columns(table, ["item", "period", "actual"], hint)
    bad_names = [table.labels[c] for c in table.columns if c in RESERVED and c not in ("item", "period", "actual")]
    if bad_names:
        raise ImportFailed([Problem(table.name, 1, c, f"column '{c}' is not allowed in a demand file "
                                                       f"(reserved name); expected {hint}") for c in bad_names])
    codes, items = _item_column(table, bag)
    pnum, cadence = _period_columns(table, ["period"], bag, stored)
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
            acodes, avals = _factor(table.columns[a])
            ref = acodes[first_row[np.maximum(codes, 0)]]
            conflict = (codes >= 0) & (acodes != ref)
            if conflict.any():
                vals = np.append(avals, "")
                crow = np.flatnonzero(conflict)
                msgs = [f"item '{items[codes[r]]}' has {a} '{vals[acodes[r]]}' here but "
                        f"'{vals[ref[r]]}' in row {int(table.rows[first_row[codes[r]]])}; "
                        "an item has one value per attribute" for r in crow[:bag.cap]]
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
    _duplicates(table, key, ok, bag, table.labels["period"],
                lambda r: f"item '{items[codes[r]]}' for period {periods.label(_period_start(pnum['period'][r:r + 1], cadence)[0], cadence)}")
    bag.raise_if_any()
    return _Rows("demand", table.n, codes, np.asarray(items, dtype=object), pnum["period"], cadence, value,
                 attributes=attrs, attribute_names=attr_names)


def _validate_forecasts(table: _Table, bag: _Collector, stored: str | None, known: dict[str, tuple[int, dict]],
                        stages_cfg: list[str]) -> _Rows:
    hint = "item, period, lag (or snapshot), stage, forecast"
    need = ["item", "period", "stage", "forecast"]
    _require_columns(table, need, hint)
    if "lag" not in table.columns and "snapshot" not in table.columns:
        raise ImportFailed([Problem(table.name, 1, None, f"missing column 'lag' (or 'snapshot', the period the "
                                                         f"forecast was made in); expected {hint}")])
    ignored = tuple(table.labels[c] for c in table.columns if c not in (*need, "lag", "snapshot"))
    codes, items = _item_column(table, bag)
    if len(items):
        unknown = np.array([code not in known for code in items])
        if unknown.any():
            sel = (codes >= 0) & unknown[np.maximum(codes, 0)]
            msgs = _msgs_by_code(codes, sel, [f"unknown item '{c}'; import its demand first (items and their "
                                              "attributes come from demand files)" for c in items])
            bag.add_many(_rows_where(table, sel), table.labels["item"], msgs)
    pkeys = ["period"] + (["snapshot"] if "snapshot" in table.columns else [])
    pnum, cadence = _period_columns(table, pkeys, bag, stored)
    period = pnum["period"]
    lag = np.full(table.n, -1, dtype=np.int64)
    lag_ok = np.zeros(table.n, dtype=bool)
    if "lag" in table.columns:
        lcol = table.labels["lag"]
        lv = _numbers_col(table, "lag", bag, "lag")
        fin = np.isfinite(lv)
        frac = fin & (lv != np.round(lv))
        if frac.any():
            bag.add_many(_rows_where(table, frac), lcol,
                         pd.Series([f"lag {v:g} is not a whole number of periods" for v in lv[frac][:bag.cap]]
                                   + [""] * max(0, int(frac.sum()) - bag.cap)))
        neg = fin & ~frac & (lv < 0)
        if neg.any():
            bag.add_many(_rows_where(table, neg), lcol,
                         pd.Series([f"lag {v:g} is negative; lag = period − snapshot must be 0 or more"
                                    for v in lv[neg][:bag.cap]] + [""] * max(0, int(neg.sum()) - bag.cap)))
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
            idx = np.flatnonzero(after)[:bag.cap]
            msgs = [f"snapshot {periods.label(_period_start(snap[i:i + 1], cadence)[0], cadence)} is after period "
                    f"{periods.label(_period_start(period[i:i + 1], cadence)[0], cadence)} (lag would be "
                    f"{int(from_snap[i])}); a forecast is made before or in its period" for i in idx]
            bag.add_many(_rows_where(table, after), scol, pd.Series(msgs + [""] * (int(after.sum()) - len(msgs))))
        if "lag" in table.columns:
            differ = both & ~after & lag_ok & (from_snap != lag)
            if differ.any():
                idx = np.flatnonzero(differ)[:bag.cap]
                msgs = [f"lag {int(lag[i])} does not match period − snapshot = {int(from_snap[i])}" for i in idx]
                bag.add_many(_rows_where(table, differ), table.labels["lag"],
                             pd.Series(msgs + [""] * (int(differ.sum()) - len(msgs))))
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
            per.append(f"unknown stage '{v}'" + (f" (did you mean '{by_lower[hint_s[0]]}'?)" if hint_s else "")
                       + f"; configured stages: {', '.join(stages_cfg)}")
        bag.add_many(_rows_where(table, bad_stage), slabel, _msgs_by_code(scodes, bad_stage, per))
    value = _numbers_col(table, "forecast", bag, "forecast")
    ok = (codes >= 0) & (period >= 0) & (lag >= 0) & (row_stage >= 0)
    if ok.any():
        pmin = int(period[ok].min())
        np_ = int(period[ok].max()) - pmin + 1
        nl = int(lag[ok].max()) + 1
        key = np.where(ok, ((codes * np_ + (period - pmin)) * nl + lag) * max(len(stage_list), 1) + row_stage, -1)

        def what(r: int) -> str:
            lab = periods.label(_period_start(period[r:r + 1], cadence)[0], cadence)
            return f"item '{items[codes[r]]}', period {lab}, lag {int(lag[r])}, stage '{stage_list[row_stage[r]]}'"

        _duplicates(table, key, ok, bag, table.labels["period"], what)
    bag.raise_if_any()
    return _Rows("forecasts", table.n, codes, np.asarray(items, dtype=object), period, cadence, value, lag=lag,
                 stage_codes=row_stage, stages=stage_list, ignored=ignored)


# ---------------------------------------------------------------------------- database reads
def _items(conn) -> dict[str, tuple[int, dict]]:
    """Stored items: code -> (id, attributes)."""
    return {code: (int(i), attrs or {}) for i, code, attrs in conn.execute(select(Item.id, Item.code, Item.attributes))}


def _stored_cadence(conn) -> str | None:
    """Cadence of the demand/forecast periods already stored (None when empty or ambiguous)."""
    days = []
    for table in ("demand_actual", "forecast"):
        rows = conn.exec_driver_sql(
            f"SELECT DISTINCT period FROM {table} WHERE item_id = (SELECT item_id FROM {table} LIMIT 1)").all()
        days += [_days(r[0]) for r in rows]
    return _cadence_of_days(np.array(days, dtype=np.int64))


def _days(v) -> int:
    if isinstance(v, str):
        v = dt.date.fromisoformat(v[:10])
    return (v - dt.date(1970, 1, 1)).days


_SQLITE_DAY = "CAST(julianday(period) - 2440587.5 AS INTEGER)"
_PG_DAY = "(period - DATE '1970-01-01')"
# Packed row key: item_id << 32 | day << 16 | lag << 6 | stage (day = days since 1970, < 2^16, i.e. up to 2149;
# lag < 1024; stage index < 63, 63 = a stage not asked for). Below 2^53 for item ids < 2^21, so a key survives a
# round trip through float64 (fast fetch of (key, value) pairs from SQLite).


def _stage_case(stages: list[str], ph: str) -> tuple[str, list[str]]:
    """SQL for a stage's index in the list (63 = not listed), with its bound parameters."""
    if not stages:
        return "63", []
    whens = " ".join(f"WHEN {ph} THEN {i}" for i in range(len(stages)))
    return f"(CASE stage {whens} ELSE 63 END)", list(stages)


def _placeholder(conn) -> str:
    """The DBAPI parameter marker of the connection's driver."""
    return "%s" if conn.dialect.name == "postgresql" else "?"


def _fetch_keys(conn, table: str, stages: list[str] | None, where: str = "", where_params: list | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(packed key, value) of stored rows (see the packed row key above); every value is a bound parameter."""
    assert table in ("forecast", "demand_actual")  # identifiers come from this module only
    dialect = conn.dialect.name
    day = _PG_DAY if dialect == "postgresql" else _SQLITE_DAY
    params: list = []
    if table == "forecast":
        case, params = _stage_case(stages or [], _placeholder(conn))
        key = (f"((item_id::int8 << 32) | ({day}::int8 << 16) | (lag::int8 << 6) | {case})"
               if dialect == "postgresql" else
               f"((item_id << 32) | ({day} << 16) | (lag << 6) | {case})")
        val = "forecast"
    else:
        key = f"((item_id::int8 << 32) | ({day}::int8 << 16))" if dialect == "postgresql" else f"((item_id << 32) | ({day} << 16))"
        val = "actual"
    sql = f"SELECT {key} AS k, {val} AS v FROM {table}" + (f" WHERE {where}" if where else "")
    params = params + list(where_params or [])
    if dialect == "postgresql":
        return _pg_fetch(conn, sql, params)
    raw = conn.connection.driver_connection
    rows = raw.execute(sql, params).fetchall()
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    max_id = raw.execute(f"SELECT max(item_id) FROM {table}").fetchone()[0] or 0
    if max_id < (1 << 21):  # keys are exact in float64: one C-level pass over the row tuples
        flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=2 * len(rows))
        del rows
        pairs = flat.reshape(-1, 2)
        return pairs[:, 0].astype(np.int64), pairs[:, 1].copy()
    k, v = zip(*rows)
    del rows
    return np.array(k, dtype=np.int64), np.array(v, dtype=np.float64)


def _pg_fetch(conn, sql: str, params: list) -> tuple[np.ndarray, np.ndarray]:
    """Run `SELECT k (int8), v (float8) ...` on PostgreSQL as one binary COPY of two arrays."""
    raw = conn.connection.driver_connection
    buf = bytearray()
    with raw.cursor() as cur:
        # COPY takes no server-side parameters; psycopg binds them client-side with proper quoting.
        with cur.copy(f"COPY (SELECT array_agg(k), array_agg(v::float8) FROM ({sql}) q) TO STDOUT (FORMAT binary)",
                      params or None) as cp:
            while True:
                chunk = cp.read()
                if not chunk:
                    break
                buf += chunk
    mv = memoryview(buf)
    pos = 19 + 2  # header, field count
    out = []
    for dtype in (">i8", ">f8"):
        (length,) = np.frombuffer(mv[pos:pos + 4], dtype=">i4")
        pos += 4
        if length < 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        ndim = int(np.frombuffer(mv[pos:pos + 4], dtype=">i4")[0])
        n = int(np.frombuffer(mv[pos + 12:pos + 16], dtype=">i4")[0]) if ndim else 0
        start = pos + 12 + 8 * ndim
        rec = np.frombuffer(mv[start:start + 12 * n], dtype=np.dtype([("l", ">i4"), ("v", dtype)]))
        out.append(rec["v"].astype(np.int64 if dtype == ">i8" else np.float64))
        pos += int(length)
    return out[0], out[1]


# ---------------------------------------------------------------------------- writing
def _write(engine: Engine, rows: _Rows, *, kind: str, filename: str, sha256: str, user: User,
           progress: Progress) -> ForecastImportResult:
    """Insert new and update changed rows in one transaction; count what changed; audit the import."""
    from kpis.store.repo import find_import

    result = ForecastImportResult(filename=filename, rows=rows.n, kind=kind, ignored_columns=rows.ignored)
    now = utcnow()
    with engine.connect() as conn:
        # Big SQLite loads skip the per-row foreign-key lookups: every item id was read in this write transaction
        # (BEGIN IMMEDIATE, no other writer) and import_id is the batch inserted in it. The pragma only changes
        # outside a transaction, so it is set before and restored after.
        fk_off = conn.dialect.name == "sqlite" and rows.n > _BULK_ROWS
        if fk_off:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            trans = conn.begin()
            try:
                changed_anything = _write_in(conn, rows, result, kind=kind, filename=filename, sha256=sha256,
                                             user=user, now=now, progress=progress)
                if changed_anything:
                    trans.commit()
                else:
                    trans.rollback()
            except BaseException:
                if trans.is_active:
                    trans.rollback()
                raise
        finally:
            if fk_off:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
    if not result.changed:
        result.previous = find_import(engine, sha256, kind)
        progress(1.0, "no changes")
        return result
    progress(1.0, result.summary())
    return result


def _write_in(conn, rows: _Rows, result: ForecastImportResult, *, kind: str, filename: str, sha256: str, user: User,
              now: dt.datetime, progress: Progress) -> bool:
    """The body of _write inside its transaction; False when nothing changed (caller rolls back)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    known = _items(conn)
    new_items, changed_items = [], []
    if kind == "demand":
        for code in rows.items:
            attrs = rows.attributes.get(code, {})
            if code not in known:
                new_items.append({"code": code, "attributes": attrs, "created_at": now, "created_by": user.name})
            else:
                merged = {**known[code][1], **attrs}
                if merged != known[code][1]:
                    changed_items.append((known[code][0], code, known[code][1], merged))
    result.items_added, result.items_changed = len(new_items), len(changed_items)
    # compare values (item ids of new items are unknown yet: all their rows are new)
    ids = np.array([known[c][0] if c in known else -1 for c in rows.items], dtype=np.int64)
    row_ids = ids[rows.item_codes]
    day = _period_start(rows.period, rows.cadence).astype(np.int64)
    lag = rows.lag if rows.lag is not None else np.zeros(rows.n, dtype=np.int64)
    stg = rows.stage_codes if rows.stage_codes is not None else np.zeros(rows.n, dtype=np.int64)
    table = "demand_actual" if kind == "demand" else "forecast"
    d0, d1 = int(day.min()), int(day.max())
    lo, hi = (np.datetime64(d0, "D").astype(dt.date), np.datetime64(d1, "D").astype(dt.date))
    ph = _placeholder(conn)
    where = f"period BETWEEN {ph} AND {ph}"
    where_params: list = [lo, hi] if conn.dialect.name == "postgresql" else [lo.isoformat(), hi.isoformat()]
    if kind == "forecasts":
        where += " AND stage IN (" + ", ".join([ph] * len(rows.stages)) + ")"
        where_params += list(rows.stages)
    old_k, old_v = _fetch_keys(conn, table, rows.stages, where, where_params)
    is_new = np.ones(rows.n, dtype=bool)
    changed = np.zeros(rows.n, dtype=bool)
    if len(old_k):
        known_rows = row_ids >= 0
        key = (row_ids << 32) | (day << 16) | (lag << 6) | stg
        order = np.argsort(old_k)
        ks, vs = old_k[order], old_v[order]
        pos = np.minimum(np.searchsorted(ks, key), len(ks) - 1)
        found = known_rows & (ks[pos] == key)
        is_new = ~found
        old = vs[pos]
        same = np.isclose(rows.value, old, rtol=1e-12, atol=1e-12)
        changed = found & ~same
    result.inserted, result.updated = int(is_new.sum()), int(changed.sum())
    result.unchanged = rows.n - result.inserted - result.updated
    progress(0.4, f"{result.inserted:,} new, {result.updated:,} changed, {result.unchanged:,} unchanged")
    if not result.changed:
        return False
    batch_id = conn.execute(insert(ImportBatch).values(
        kind=kind, filename=filename, sha256=sha256, rows_in_file=rows.n, inserted=result.inserted,
        updated=result.updated, unchanged=result.unchanged, created_at=now, created_by=user.name,
    ).returning(ImportBatch.id)).scalar_one()
    result.batch_id = int(batch_id)
    if new_items:
        conn.execute(insert(Item), new_items)
    if changed_items:
        stmt = update(Item).where(Item.id == _bp("b_id")).values(attributes=_bp("b_attrs"), updated_at=now,
                                                                 updated_by=user.name)
        conn.execute(stmt, [{"b_id": i, "b_attrs": m} for i, _c, _o, m in changed_items])
    if new_items:
        known = _items(conn)
        ids = np.array([known[c][0] for c in rows.items], dtype=np.int64)
        row_ids = ids[rows.item_codes]
    cols = _Columns(row_ids, day, lag, stg, rows.stages, rows.value, result.batch_id)
    writer = _sqlite_write if dialect == "sqlite" else _pg_write
    writer(conn, table, cols, is_new, changed, progress)
    conn.execute(insert(AuditEvent), [{
        "at": now, "actor": user.name, "action": "import", "entity": "import_batch", "entity_id": str(batch_id),
        "details": {"file": filename, "kind": kind, "inserted": result.inserted, "updated": result.updated,
                    "unchanged": result.unchanged, "sha256": sha256, "items_added": result.items_added,
                    "items_changed": result.items_changed,
                    "changed_item_attributes": [{"item": c, "old": o, "new": m} for _i, c, o, m in changed_items[:50]]},
    }])
    progress(0.98, "committing")
    return True


def _bp(name: str):
    from sqlalchemy import bindparam

    return bindparam(name)


@dataclass
class _Columns:
    item_id: np.ndarray
    day: np.ndarray
    lag: np.ndarray
    stage: np.ndarray
    stages: list[str]
    value: np.ndarray
    batch_id: int


def _iso_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes into a table of ISO date strings for day numbers (shares one str object per date)."""
    uniq, inv = np.unique(days, return_inverse=True)
    text = np.array([str(d) for d in uniq.astype("datetime64[D]")], dtype=object)
    return text, inv


def _sqlite_write(conn, table: str, c: _Columns, is_new: np.ndarray, changed: np.ndarray, progress: Progress) -> None:
    """executemany in chunks on the raw sqlite3 connection (inside the caller's transaction)."""
    raw = conn.connection.driver_connection
    cur = raw.cursor()
    cur.execute("PRAGMA cache_size=-65536")  # 64 MB page cache for the bulk insert
    text, inv = _iso_days(c.day)
    stage_names = np.array(c.stages or [""], dtype=object)
    chunk = 100_000
    try:
        for part, sel in (("insert", np.flatnonzero(is_new)), ("update", np.flatnonzero(changed))):
            if not len(sel):
                continue
            # in primary-key order: index pages fill by appending instead of splitting all over the tree
            sel = sel[np.lexsort((c.stage[sel], c.lag[sel], c.day[sel], c.item_id[sel]))]
            if table == "forecast":
                sql = ("INSERT INTO forecast (forecast, import_id, item_id, period, lag, stage) VALUES (?, ?, ?, ?, ?, ?)"
                       if part == "insert" else
                       "UPDATE forecast SET forecast = ?, import_id = ? WHERE item_id = ? AND period = ? AND lag = ? AND stage = ?")
            else:
                sql = ("INSERT INTO demand_actual (actual, import_id, item_id, period) VALUES (?, ?, ?, ?)"
                       if part == "insert" else
                       "UPDATE demand_actual SET actual = ?, import_id = ? WHERE item_id = ? AND period = ?")
            for s in range(0, len(sel), chunk):
                idx = sel[s:s + chunk]
                cols = [c.value[idx].tolist(), itertools.repeat(c.batch_id), c.item_id[idx].tolist(), text[inv[idx]].tolist()]
                if table == "forecast":
                    cols += [c.lag[idx].tolist(), stage_names[c.stage[idx]].tolist()]
                cur.executemany(sql, zip(*cols))
                done = min(s + chunk, len(sel))
                progress(0.4 + 0.55 * done / max(len(sel), 1), f"{part}: {done:,} of {len(sel):,} rows")
    finally:
        cur.execute("PRAGMA cache_size=-2000")
        cur.close()


_BULK_ROWS = 200_000  # above this many rows foreign keys are checked once per load instead of per row
_PG_EPOCH = (dt.date(2000, 1, 1) - dt.date(1970, 1, 1)).days
_PG_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"


def _pg_binary(c: _Columns, idx: np.ndarray, table: str):
    """Yield rows idx as PostgreSQL binary COPY chunks (value, import_id, item_id, period[, lag, stage])."""
    yield _PG_HEADER
    groups = [(None, idx)] if table != "forecast" else [(s, idx[c.stage[idx] == s]) for s in np.unique(c.stage[idx])]
    for s, sub in groups:
        if not len(sub):
            continue
        fields = [("nf", ">i2"), ("l0", ">i4"), ("v0", ">f8"), ("l1", ">i4"), ("v1", ">i8"), ("l2", ">i4"),
                  ("v2", ">i4"), ("l3", ">i4"), ("v3", ">i4")]
        sb = b""
        if table == "forecast":
            sb = c.stages[s].encode()
            fields += [("l4", ">i4"), ("v4", ">i2"), ("l5", ">i4"), ("v5", f"S{max(len(sb), 1)}")]
        for start in range(0, len(sub), 500_000):
            j = sub[start:start + 500_000]
            rec = np.empty(len(j), dtype=np.dtype(fields))
            rec["nf"] = 6 if table == "forecast" else 4
            rec["l0"], rec["v0"] = 8, c.value[j]
            rec["l1"], rec["v1"] = 8, c.batch_id
            rec["l2"], rec["v2"] = 4, c.item_id[j]
            rec["l3"], rec["v3"] = 4, c.day[j] - _PG_EPOCH
            if table == "forecast":
                rec["l4"], rec["v4"] = 2, c.lag[j]
                rec["l5"], rec["v5"] = len(sb), sb
            yield rec.tobytes()
    yield b"\xff\xff"


def _pg_write(conn, table: str, c: _Columns, is_new: np.ndarray, changed: np.ndarray, progress: Progress) -> None:
    """Binary COPY of new rows straight into the table; changed rows through a temp table and one UPDATE."""
    raw = conn.connection.driver_connection
    cols = "forecast, import_id, item_id, period, lag, stage" if table == "forecast" else "actual, import_id, item_id, period"
    keys = ["item_id", "period", "lag", "stage"] if table == "forecast" else ["item_id", "period"]
    val = "forecast" if table == "forecast" else "actual"
    new_idx = np.flatnonzero(is_new)
    with raw.cursor() as cur:
        fks = []
        if len(new_idx) > _BULK_ROWS:  # bulk load: per-row FK triggers dominate; re-add (and validate) after
            fks = cur.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                              "WHERE conrelid = %s::regclass AND contype = 'f'", (table,)).fetchall()
            for name, _def in fks:
                cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        if len(new_idx):
            done = 0
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT binary)") as cp:
                for p in _pg_binary(c, new_idx, table):
                    cp.write(p)
                    done += max(len(p) // 60, 0)
                    progress(0.4 + 0.45 * min(done / len(new_idx), 1.0), f"insert: {min(done, len(new_idx)):,} rows")
        for name, definition in fks:
            progress(0.87, "checking references")
            cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        ch_idx = np.flatnonzero(changed)
        if len(ch_idx):
            progress(0.9, f"update: {len(ch_idx):,} rows")
            ddl = ("forecast float8, import_id int8, item_id int4, period date, lag int2, stage varchar(40)"
                   if table == "forecast" else "actual float8, import_id int8, item_id int4, period date")
            cur.execute(f"CREATE TEMP TABLE _stage_{table} ({ddl}) ON COMMIT DROP")
            with cur.copy(f"COPY _stage_{table} ({cols}) FROM STDIN (FORMAT binary)") as cp:
                for p in _pg_binary(c, ch_idx, table):
                    cp.write(p)
            match = " AND ".join(f"t.{k} = s.{k}" for k in keys)
            cur.execute(f"UPDATE {table} t SET {val} = s.{val}, import_id = s.import_id FROM _stage_{table} s WHERE {match}")


# ============================================================================ cube
_TERMS = ["n", "sum_a", "sum_f", "sum_abs_a", "sum_abs_e", "sum_sq_e", "sum_ape", "n_ape",
          "sum_scaled_abs_e", "n_scaled"]
_N_ITEM_TERMS = 8  # the first 8 are stored per item; the scaled two follow from sum_abs_e, n and the item scale
_BLOCK = 8
_COMBO_BUDGET = 64 * 1024 * 1024
_MAX_CELLS = 200_000_000  # dense forecast grid cells (1.6 GB); the reference case has 8.3 M incl. derived naive


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


@dataclass
class _Raw:
    item_ids: np.ndarray
    item_codes: list[str]
    item_attrs: list[dict]
    d_key: np.ndarray
    d_val: np.ndarray
    f_key: np.ndarray
    f_val: np.ndarray
    stages: list[str]


def _load_raw(engine: Engine, config: AppConfig) -> _Raw | None:
    """Items, demand and forecasts from the database as packed numpy arrays."""
    stages = list(config.forecast.stages)
    with engine.connect() as conn:
        items = conn.execute(select(Item.id, Item.code, Item.attributes).order_by(Item.id)).all()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        f_key, f_val = _fetch_keys(conn, "forecast", stages)
        if not len(f_key):
            return None
        if ((f_key & 63) == 63).any():  # stages not in config: read again with them appended
            extra = sorted(conn.execute(select(ForecastValue.stage).where(ForecastValue.stage.not_in(stages))
                                        .distinct()).scalars())
            stages = stages + extra
            f_key, f_val = _fetch_keys(conn, "forecast", stages)
        d_key, d_val = _fetch_keys(conn, "demand_actual", None)
    return _Raw(np.array([r[0] for r in items], dtype=np.int64), [r[1] for r in items], [r[2] or {} for r in items],
                d_key, d_val, f_key, f_val, stages)


_CACHE: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 2


_SNAPSHOT_FORMAT = 1
_SNAPSHOTS_KEPT = 2


def _release_memory() -> None:
    """Collect garbage and, on glibc, hand freed heap back to the OS (keeps an import's peak memory down)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def forecast_version(engine: Engine) -> int:
    """A number that changes only when forecast data changes: the audit id of the newest demand or forecast
    import (or demo load). Catalog syncs and KPI imports leave it alone, so they do not rebuild the cube."""
    batches = select(func.cast(ImportBatch.id, String)).where(ImportBatch.kind.in_(("demand", "forecasts")))
    q = select(func.coalesce(func.max(AuditEvent.id), 0)).where(
        (AuditEvent.action == "demo") | ((AuditEvent.entity == "import_batch") & AuditEvent.entity_id.in_(batches)))
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def get_cube(engine: Engine, config: AppConfig, version: int) -> ForecastCube | None:
    """The cube for this database at this data version (cached, 2 entries); None when there are no forecasts."""
    fc = config.forecast
    settings = (tuple(fc.stages), fc.headline_lag, fc.season_length, fc.tracking_window, fc.tracking_limit,
                tuple(fc.abc), tuple(fc.xyz))
    key = (id(engine), engine.url.render_as_string(hide_password=False), int(version), settings)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key][1]
        snap = _snapshot_file(engine, int(version), settings)
        cube = _read_snapshot(snap)
        if cube is None:
            raw = _load_raw(engine, config)
            cube = None if raw is None else ForecastCube(raw, config)
            if cube is not None:
                _write_snapshot(snap, cube)
        _CACHE[key] = (engine, cube)  # holding the engine keeps id(engine) unique while cached
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
        return cube


# A built cube is also pickled to a private cache folder (SOP_PULSE_CUBE_CACHE, default ~/.cache/sop-pulse/cubes;
# "off" disables it) so a new process (CLI call, app restart) skips the database read and the build. The file name
# is a hash of the database URL, the data version, the time of that audit event (a recreated database with the same
# version number gets a new name) and the forecast settings. Only the newest two files are kept.
def _snapshot_dir() -> Path | None:
    setting = os.environ.get("SOP_PULSE_CUBE_CACHE", "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    folder = Path(setting) if setting else Path.home() / ".cache" / "sop-pulse" / "cubes"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    return folder


def _snapshot_file(engine: Engine, version: int, settings: tuple) -> Path | None:
    folder = _snapshot_dir()
    if folder is None:
        return None
    try:
        with engine.connect() as conn:
            at = conn.execute(select(AuditEvent.at).where(AuditEvent.id == version)).scalar()
            where = conn.exec_driver_sql("SELECT current_schema()").scalar() if conn.dialect.name == "postgresql" else ""
    except Exception:  # no audit table yet, or a database error: just do not snapshot
        return None
    ident = repr((_SNAPSHOT_FORMAT, engine.url.render_as_string(hide_password=True), where, version, str(at), settings))
    return folder / f"cube-{hashlib.sha256(ident.encode()).hexdigest()[:32]}.pkl"


def _read_snapshot(path: Path | None) -> ForecastCube | None:
    if path is None or not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            cube = pickle.load(fh)
        os.utime(path)
        return cube if isinstance(cube, ForecastCube) else None
    except Exception:  # unreadable or from another version of this module: rebuild
        return None


def _write_snapshot(path: Path | None, cube: ForecastCube) -> None:
    if path is None:
        return
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as fh:
            pickle.dump(cube, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        files = sorted(path.parent.glob("cube-*.pkl"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in files[_SNAPSHOTS_KEPT:]:
            old.unlink(missing_ok=True)
    except OSError:
        tmp.unlink(missing_ok=True)


def clear_cache(*, snapshots: bool = False) -> None:
    """Forget every cached cube (tests, benchmarks); snapshots=True also deletes the on-disk snapshots."""
    with _CACHE_LOCK:
        _CACHE.clear()
        folder = _snapshot_dir() if snapshots else None
        if folder is not None:
            for f in folder.glob("cube-*.pkl"):
                f.unlink(missing_ok=True)


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
    periods: pd.DatetimeIndex
    cadence: str
    attributes: dict[str, list[str]]

    def __init__(self, raw: _Raw, config: AppConfig) -> None:
        fc = config.forecast
        self.headline_lag = fc.headline_lag
        self.season_length = fc.season_length
        self.tracking_window = fc.tracking_window
        self.tracking_limit = fc.tracking_limit
        # ---- decode packed keys
        f_item = raw.f_key >> 32
        f_day = (raw.f_key >> 16) & 0xFFFF
        f_lag = (raw.f_key >> 6) & 0x3FF
        f_stage = raw.f_key & 63
        d_item = raw.d_key >> 32
        d_day = (raw.d_key >> 16) & 0xFFFF
        days = np.unique(np.concatenate([np.unique(f_day), np.unique(d_day)]))
        self.cadence = _cadence_of_days(days) or "month"
        pnum_days = _day_to_pnum(days, self.cadence)
        p0 = int(pnum_days.min())
        self.p_offset = p0
        n_p = int(pnum_days.max()) - p0 + 1
        self.periods = pd.DatetimeIndex(_period_start(np.arange(p0, p0 + n_p), self.cadence).astype("datetime64[ns]"))
        day_to_p = dict(zip(days.tolist(), (pnum_days - p0).tolist()))
        lut_days = np.array(list(day_to_p.keys()), dtype=np.int64)
        lut_p = np.array(list(day_to_p.values()), dtype=np.int64)
        sorter = np.argsort(lut_days)
        lut_days, lut_p = lut_days[sorter], lut_p[sorter]

        def pidx(d: np.ndarray) -> np.ndarray:
            return lut_p[np.searchsorted(lut_days, d)]

        # ---- items (only those with any data), attributes, ordered by attribute combination
        used = np.unique(np.concatenate([np.unique(f_item), np.unique(d_item)]))
        pos_of_id = {int(i): j for j, i in enumerate(raw.item_ids)}
        sel = [pos_of_id[int(i)] for i in used if int(i) in pos_of_id]
        codes = np.array([raw.item_codes[j] for j in sel], dtype=object)
        ids = raw.item_ids[sel]
        attrs_list = [raw.item_attrs[j] for j in sel]
        names = sorted({k for a in attrs_list for k in a} - RESERVED)
        attr_vals: dict[str, np.ndarray] = {}
        for name in names:
            attr_vals[name] = np.array([str(a.get(name) or "") or NONE_VALUE for a in attrs_list], dtype=object)
        n_i = len(codes)
        # ---- actuals grid (code order for now)
        code_order = np.argsort(codes.astype(str), kind="stable")
        codes, ids = codes[code_order], ids[code_order]
        for name in names:
            attr_vals[name] = attr_vals[name][code_order]
        id_to_row = np.full(int(max(ids.max(initial=0), f_item.max(initial=0), d_item.max(initial=0))) + 1, -1, np.int64)
        id_to_row[ids] = np.arange(n_i)
        a = np.full((n_i, n_p), np.nan)
        dr = id_to_row[d_item]
        okd = dr >= 0
        a[dr[okd], pidx(d_day[okd])] = raw.d_val[okd]
        # ---- segmentation (DOMAIN §2) from the actual history
        has = ~np.isnan(a)
        frame = pd.DataFrame({"item": np.repeat(codes, has.sum(axis=1)), "actual": a[has]})
        seg = accuracy.abc_xyz(frame, abc=tuple(fc.abc), xyz=tuple(fc.xyz)).reindex(codes)
        attr_vals["abc"] = seg["abc"].fillna("C").to_numpy(dtype=object)
        attr_vals["xyz"] = seg["xyz"].fillna("Z").to_numpy(dtype=object)
        # ---- stages and lags
        loaded_stage_idx = np.unique(f_stage)
        loaded = [raw.stages[i] for i in loaded_stage_idx]
        lags = np.unique(f_lag)
        self.lags = [int(x) for x in lags]
        cfg_order = list(fc.stages)
        derive = NAIVE not in loaded
        stage_names = [s for s in cfg_order if s in loaded or (s == NAIVE and derive)]
        if derive and NAIVE not in stage_names:
            stage_names.insert(0, NAIVE)
        stage_names += [s for s in loaded if s not in stage_names]
        self.stages = stage_names
        self.configured = cfg_order       # stages in config order; loaded stages outside it are listed last
        self.derived = [NAIVE] if derive else []
        n_s, n_l = len(stage_names), len(lags)
        if n_s * n_l * n_i * n_p > _MAX_CELLS:
            raise ValueError(f"forecast data too large for the in-memory cube: {n_s} stages x {n_l} lags x {n_i} items x "
                             f"{n_p} periods = {n_s * n_l * n_i * n_p:,} cells (limit {_MAX_CELLS:,})")
        f = np.full((n_s, n_l, n_i, n_p), np.nan)
        s_map = np.array([stage_names.index(raw.stages[i]) if i < len(raw.stages) and raw.stages[i] in stage_names
                          else -1 for i in range(64)])
        fr = id_to_row[f_item]
        okf = fr >= 0
        f[s_map[f_stage[okf]], np.searchsorted(lags, f_lag[okf]), fr[okf], pidx(f_day[okf])] = raw.f_val[okf]
        if derive:
            s_n = stage_names.index(NAIVE)
            m = self.season_length
            other = [i for i in range(n_s) if i != s_n]
            for li, k in enumerate(self.lags):
                off = m * ((k + m) // m)
                if off < n_p:
                    nv = np.full((n_i, n_p), np.nan)
                    nv[:, off:] = a[:, :n_p - off]
                    some = ~np.isnan(f[other, li]).all(axis=0)
                    nv[~some] = np.nan
                    f[s_n, li] = nv
        # ---- MASE scale per item (DOMAIN §2): mean |A_t - A_(t-m)| over the item's history
        m = self.season_length
        if n_p > m:
            diff = np.abs(a[:, m:] - a[:, :-m])
            cnt = (~np.isnan(diff)).sum(axis=1)
            tot = np.nansum(diff, axis=1)
            scale = np.full(n_i, np.nan)
            np.divide(tot, cnt, out=scale, where=cnt > 0)
        else:
            scale = np.full(n_i, np.nan)
        usable = np.isfinite(scale) & (scale > 0)
        inv_scale = np.zeros(n_i)
        np.divide(1.0, scale, out=inv_scale, where=usable)
        # ---- attribute codes; pick combination attributes that keep the combo cube small
        self.attr_names = names
        self.attributes = {}
        self._attr_codes: dict[str, np.ndarray] = {}
        for name in [*names, "abc", "xyz"]:
            vals, inv = np.unique(attr_vals[name].astype(str), return_inverse=True)
            self.attributes[name] = [str(v) for v in vals]
            self._attr_codes[name] = inv.astype(np.int64)
        per_combo = len(_TERMS) * n_s * n_l * n_p * 8
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
        self.item_codes = codes[order]
        self._code_rank = order.astype(np.int64)  # rank in code order of each cube item (codes were sorted)
        self._item_pos = {c: i for i, c in enumerate(self.item_codes)}
        for name in self._attr_codes:
            self._attr_codes[name] = self._attr_codes[name][order]
        combo = combo[order]
        a, f = a[order], f[:, :, order]
        self.a, self.f = a, f
        self.scale = scale[order]
        self.usable, self.inv_scale = usable[order], inv_scale[order]
        self.n_items, self.n_periods = n_i, n_p
        self.combo_attrs = combo_attrs
        self.combo = combo
        n_c = int(combo.max(initial=-1)) + 1
        self.n_combos = n_c
        starts = np.searchsorted(combo, np.arange(n_c)) if n_i else np.zeros(0, dtype=np.int64)
        self._combo_codes = {name: self._attr_codes[name][starts] for name in combo_attrs}
        # ---- pre-aggregates: combo x period cube, item x block prefix sums
        n_b = -(-n_p // _BLOCK)
        self.n_blocks = n_b
        self.K = np.zeros((n_s, n_l, len(_TERMS), n_c, n_p))
        self.Q = np.zeros((n_s, n_l, n_b + 1, _N_ITEM_TERMS, n_i))
        pad = n_b * _BLOCK - n_p
        for si in range(n_s):
            for li in range(n_l):
                for k, arr in _terms_iter(f[si, li], a, self.inv_scale, self.usable.astype(np.float64)):
                    if n_i:
                        self.K[si, li, k] = np.add.reduceat(arr, starts, axis=0) if n_c else 0
                    if k < _N_ITEM_TERMS:
                        blk = np.pad(arr, ((0, 0), (0, pad))) if pad else arr
                        sums = blk.reshape(n_i, n_b, _BLOCK).sum(axis=2)
                        np.cumsum(sums.T, axis=0, out=self.Q[si, li, 1:, k])

    # ---------------------------------------------------------------- helpers
    def _period_range(self, period_from, period_to) -> tuple[int, int]:
        """Inclusive period index range clipped to the data (p0 > p1 = empty)."""
        lo, hi = 0, self.n_periods - 1
        if period_from is not None:
            lo = max(lo, self._pidx(period_from, "from"))
        if period_to is not None:
            hi = min(hi, self._pidx(period_to, "to"))
        return lo, hi

    def _pidx(self, value, which: str) -> int:
        """Period index of a period spelling (2025-03, 2025-W05, a date) or a date/Timestamp (floored to its period)."""
        ts = pd.Timestamp(periods.parse_one(value, self.cadence) if isinstance(value, str) else value)
        if self.cadence == "week":
            num = (ts.normalize() - pd.Timestamp("1970-01-05")).days // 7
        else:
            num = ts.year * 12 + ts.month - 1
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
    def sums(self, by: list[str], *, stage: str | None = None, lag=None, period_from=None, period_to=None,
             filters: dict[str, list[str]] | None = None) -> pd.DataFrame:
        """Additive sums (group columns + accuracy.SUM_COLUMNS) per group; groups without rows are left out."""
        by = self._check_by(by)
        s_list = self._stage_list(stage, "stage" in by)
        l_list = self._lag_list(lag)
        p0, p1 = self._period_range(period_from, period_to)
        item_keys = [c for c in by if c in ("item", *self._attr_codes)]
        filt_keys = [k for k, v in (filters or {}).items() if v is not None]
        mask = self._item_mask(filters)
        by_period, by_lag = "period" in by, "lag" in by
        if not l_list or p0 > p1 or not s_list:
            return self._empty_sums(by)
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
        gid, key_tables, n_g = _unit_groups(ucodes, n_units, umask,
                                            {c: (len(self.item_codes) if c == "item" else len(self.attributes[c]))
                                             for c in item_keys})
        n_pp = p1 - p0 + 1
        out = []  # per stage: array (L' or 1, G, P' or 1, 10)
        for si in s_list:
            if combo_ok:
                lsel = slice(l_list[0], l_list[-1] + 1) if l_list == list(range(l_list[0], l_list[-1] + 1)) else l_list
                data = self.K[si][lsel][..., p0:p1 + 1]  # (L', 10, C, P'); a view when the lags are contiguous
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
        return self._to_frame(arr, by, s_list, l_list if by_lag else None, p0 if by_period else None, key_tables, n_pp)

    def _item_range(self, si: int, l_list: list[int], p0: int, p1: int) -> np.ndarray:
        """Per item sums of the 10 terms over periods p0..p1 → (L', 10, I) via block prefix sums + edges."""
        b0 = -(-p0 // _BLOCK)
        b1 = (p1 + 1) // _BLOCK
        res = np.zeros((len(l_list), len(_TERMS), self.n_items))
        if b0 < b1:
            q = self.Q[si][l_list]  # (L', nb+1, 8, I)
            res[:, :_N_ITEM_TERMS] = q[:, b1] - q[:, b0]
            edges = [(p0, b0 * _BLOCK - 1), (b1 * _BLOCK, p1)]
        else:
            edges = [(p0, p1)]
        for lo, hi in edges:
            if lo > hi:
                continue
            for j, li in enumerate(l_list):
                res[j, :_N_ITEM_TERMS] += _grid_terms(self.f[si, li, :, lo:hi + 1], self.a[:, lo:hi + 1])
        res[:, 8] = res[:, 4] * self.inv_scale
        res[:, 9] = res[:, 0] * self.usable
        return res

    def _cells_grouped(self, si: int, l_list: list[int], p0: int, p1: int, gid: np.ndarray, n_g: int) -> np.ndarray:
        """Terms per group and period from the item x period cells of the units with gid >= 0 → (L', 10, G, P')."""
        rows = np.flatnonzero(gid >= 0)
        g = gid[rows]
        a = self.a[rows, p0:p1 + 1]
        inv, usable = self.inv_scale[rows], self.usable[rows].astype(np.float64)
        out = np.zeros((len(l_list), len(_TERMS), n_g, p1 - p0 + 1))
        for j, li in enumerate(l_list):
            f = self.f[si, li][rows, p0:p1 + 1]
            for k, arr in _terms_iter(f, a, inv, usable):
                out[j, k] = _group_axis(arr, g, n_g, axis=0)
        return out

    def _empty_sums(self, by: list[str]) -> pd.DataFrame:
        cols = {c: pd.Series([], dtype=self._key_dtype(c)) for c in by}
        return pd.DataFrame({**cols, **{c: pd.Series([], dtype=np.float64) for c in SUM_COLUMNS}})

    @staticmethod
    def _key_dtype(c: str):
        return {"period": "datetime64[ns]", "lag": np.int64}.get(c, object)

    def _to_frame(self, arr: np.ndarray, by: list[str], s_list: list[int], l_list: list[int] | None,
                  p0: int | None, key_tables: dict[str, np.ndarray], n_pp: int) -> pd.DataFrame:
        n_s, n_l, _t, n_g, n_p = arr.shape
        flat = arr.transpose(0, 1, 3, 4, 2).reshape(-1, len(_TERMS))
        si, li, gi, pi = (x.ravel() for x in np.meshgrid(np.arange(n_s), np.arange(n_l), np.arange(n_g),
                                                         np.arange(n_p), indexing="ij"))
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
                cols[c] = self.periods[idx]
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
            "n": t["n"], "sum_a": t["sum_a"], "sum_f": t["sum_f"], "sum_abs_a": t["sum_abs_a"],
            "sum_e": t["sum_f"] - t["sum_a"], "sum_abs_e": t["sum_abs_e"], "sum_sq_e": t["sum_sq_e"],
            "sum_ape": t["sum_ape"], "n_ape": t["n_ape"], "n_zero_a": t["n"] - t["n_ape"],
            "sum_scaled_abs_e": t["sum_scaled_abs_e"], "n_scaled": t["n_scaled"],
        }
        frame = pd.DataFrame({**{c: pd.Series(v) for c, v in cols.items()}, **sums})
        for c in by:
            if c == "period":
                frame[c] = pd.to_datetime(frame[c])
        return frame[[*by, *SUM_COLUMNS]]

    # ---------------------------------------------------------------- public views
    def accuracy(self, by: list[str], *, stage: str | None = None, lag=None, period_from=None, period_to=None,
                 filters: dict[str, list[str]] | None = None) -> pd.DataFrame:
        """One row per group: group columns then METRIC_COLUMNS (fractions); default stage = final stage."""
        return accuracy.finalize(self.sums(by, stage=stage, lag=lag, period_from=period_from, period_to=period_to,
                                           filters=filters))

    def fva(self, by: list[str] = (), *, lag=None, period_from=None, period_to=None, filters=None) -> pd.DataFrame:
        """Stairstep per group: stage, n, wape, fva_vs_previous, fva_vs_naive (fractions) in configured stage order."""
        by = [c for c in self._check_by(by) if c != "stage"]
        table = self.accuracy([*by, "stage"], lag=lag, period_from=period_from, period_to=period_to, filters=filters)
        stair = accuracy.fva(table, self.stages, by=by)
        n = table[[*by, "stage", "n"]]
        out = stair.merge(n, on=[*by, "stage"], how="left")
        return out[[*by, *FVA_COLUMNS]]

    def by_lag(self, *, stage=None, period_from=None, period_to=None, filters=None) -> pd.DataFrame:
        """Lag waterfall: one row per lag with METRIC_COLUMNS."""
        return self.accuracy(["lag"], stage=stage, period_from=period_from, period_to=period_to, filters=filters)

    def exceptions(self, *, stage=None, lag=None, period_from=None, period_to=None, filters=None,
                   top: int = 50) -> pd.DataFrame:
        """Items ranked by abs error volume: every tracking-signal-flagged item plus the top contributors (lag None = headline lag)."""
        lag = self._default_lag(lag)
        sums = self.sums(["item"], stage=stage, lag=lag, period_from=period_from, period_to=period_to, filters=filters)
        per_item = accuracy.finalize(sums)
        cols = ["item", *self.attr_names, "abc", "xyz", "ts", "flagged", "abs_error", "share", "rank", "n", "wape", "bias"]
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
        """Per cube item tracking signal over the last W periods with A and F (DOMAIN §2), and the flag."""
        si = self._stage_list(stage, False)[0]
        li = self._lag_list(lag)
        p0, p1 = self._period_range(period_from, period_to)
        if not li or p0 > p1:
            return np.full(self.n_items, np.nan), np.zeros(self.n_items, dtype=bool)
        f = self.f[si, li[0], :, p0:p1 + 1]
        a = self.a[:, p0:p1 + 1]
        valid = ~(np.isnan(f) | np.isnan(a))
        from_end = np.cumsum(valid[:, ::-1], axis=1)[:, ::-1]
        take = valid & (from_end <= self.tracking_window)
        e = np.where(take, f - a, 0.0)
        n = take.sum(axis=1)
        sum_e = e.sum(axis=1)
        mad = np.full(self.n_items, np.nan)
        np.divide(np.abs(e).sum(axis=1), n, out=mad, where=n > 0)
        ts = np.full(self.n_items, np.nan)
        np.divide(sum_e, mad, out=ts, where=(mad > 0) & np.isfinite(mad))
        return ts, np.abs(np.nan_to_num(ts, nan=0.0)) > self.tracking_limit

    def item_series(self, items: list[str], *, stage=None, lag=None, period_from=None, period_to=None) -> pd.DataFrame:
        """Long frame item, period, actual, forecast for a few items (lag None = headline lag); periods with A or F."""
        si = self._stage_list(stage, False)[0]
        li = self._lag_list(self._default_lag(lag))
        p0, p1 = self._period_range(period_from, period_to)
        pos = [self._item_pos[c] for c in items if c in self._item_pos]
        if not pos or p0 > p1 or not li:
            return pd.DataFrame({"item": pd.Series([], dtype=object), "period": pd.Series([], dtype="datetime64[ns]"),
                                 "actual": pd.Series([], dtype=float), "forecast": pd.Series([], dtype=float)})
        a = self.a[pos, p0:p1 + 1]
        f = self.f[si, li[0]][pos, p0:p1 + 1]
        keep = ~(np.isnan(a) & np.isnan(f))
        ii, pp = np.nonzero(keep)
        return pd.DataFrame({"item": self.item_codes[np.asarray(pos)[ii]], "period": self.periods[p0 + pp],
                             "actual": a[ii, pp], "forecast": f[ii, pp]})

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
        s, l, i, p = np.nonzero(~np.isnan(self.f))
        out = pd.DataFrame({"item": self.item_codes[i], "period": self.periods[p],
                            "lag": np.asarray(self.lags, dtype=np.int64)[l],
                            "stage": np.array(self.stages, dtype=object)[s],
                            "actual": self.a[i, p], "forecast": self.f[s, l, i, p]})
        for name in [*self.attr_names, "abc", "xyz"]:
            out[name] = np.array(self.attributes[name], dtype=object)[self._attr_codes[name][i]]
        return out

    def memory_mb(self) -> float:
        """Approximate resident size of the cube's arrays in MB."""
        return sum(x.nbytes for x in (self.a, self.f, self.K, self.Q)) / 1048576


def _day_to_pnum(days: np.ndarray, cadence: str) -> np.ndarray:
    d = np.asarray(days, dtype=np.int64)
    if cadence == "week":
        return (d - 4) // 7
    return d.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12


def _unit_groups(ucodes: dict[str, np.ndarray], n_units: int, umask: np.ndarray | None, radix: dict[str, int]
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
            res = np.stack([np.bincount(g, weights=row, minlength=n_g) for row in sub]) if len(sub) else \
                np.zeros((0, n_g))
    return np.moveaxis(res.reshape(*lead, n_g), -1, axis)


# ============================================================================ KPI values
def computed_kpi_values(engine: Engine, config: AppConfig) -> pd.DataFrame:
    """KPI values (kpi_id, segment '', period, value, note) of the catalog's source='forecast' KPIs, per period."""
    cols = {"kpi_id": pd.Series([], dtype=object), "segment": pd.Series([], dtype=object),
            "period": pd.Series([], dtype="datetime64[ns]"), "value": pd.Series([], dtype=float),
            "note": pd.Series([], dtype=object)}
    kpis = [k for k in config.kpis if k.source == "forecast" and k.forecast_metric]
    if not kpis:
        return pd.DataFrame(cols)
    cube = get_cube(engine, config, forecast_version(engine))
    if cube is None:
        return pd.DataFrame(cols)
    stage = final_stage(cube)
    frames = []
    for k in kpis:
        lag = k.forecast_lag if k.forecast_lag is not None else config.forecast.headline_lag
        sums = cube.sums(["period"], stage=stage, lag=lag)
        if sums.empty:
            continue
        target = _coarser(cube.cadence, k.cadence)
        if target != cube.cadence:
            start = pd.Series(sums["period"])
            sums["period"] = start.dt.to_period("M" if target == "month" else "Q").dt.start_time
            sums = sums.groupby("period", as_index=False, sort=True)[SUM_COLUMNS].sum()
        m = accuracy.finalize(sums)
        frames.append(pd.DataFrame({"kpi_id": k.id, "segment": "", "period": m["period"].to_numpy(),
                                    "value": m[k.forecast_metric].to_numpy(dtype=float), "note": None}))
    if not frames:
        return pd.DataFrame(cols)
    out = pd.concat(frames, ignore_index=True)
    out = out[np.isfinite(out["value"].to_numpy())].reset_index(drop=True)
    out["period"] = pd.to_datetime(out["period"])
    return out


def _coarser(data_cadence: str, kpi_cadence: str) -> str:
    """The KPI's cadence when it is coarser than the data's, else the data's."""
    rank = {"week": 0, "month": 1, "quarter": 2}
    return kpi_cadence if rank.get(kpi_cadence, 0) > rank.get(data_cadence, 0) else data_cadence

