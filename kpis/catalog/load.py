"""Importing KPI actuals (long or wide CSV/Excel): validation against the catalog, and the audited write.

Every problem is reported with file, row and column; a file with any problem writes
nothing; re-importing the same content changes nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert, select, update

from kpis import limits, periods
from kpis.access.users import User, require
from kpis.catalog.sync import sync_catalog
from kpis.config import KPI, AppConfig
from kpis.imports.cells import MAX_ABS_VALUE, merge_keys, numbers, text
from kpis.imports.problems import Collector, ImportFailed, Problem, too_long
from kpis.imports.read import read_table
from kpis.imports.result import ImportResult
from kpis.imports.runner import Context, Kind, Writing, run_import, write_checked
from kpis.imports.source import Source
from kpis.store.models import AuditEvent, KpiValue
from kpis.store.retry import retrying

LONG_REQUIRED = ("kpi", "period", "value")
LONG_OPTIONAL = ("segment", "note")
WIDE_LABEL_COLUMNS = ("kpi", "segment", "name", "unit", "note")
MAX_SEGMENT = 80  # kpi_value.segment


def _lower_map(columns: list) -> dict[str, str]:
    return {str(c).strip().lower(): c for c in columns if c != "_row"}


def to_long(df: pd.DataFrame, filename: str, config: AppConfig) -> pd.DataFrame:
    """Long rows (_row, _col_period, _col_value, kpi, segment, period_raw, value_raw, note) from long or wide files."""
    name = Path(filename).name
    cols = _lower_map(list(df.columns))
    if all(c in cols for c in LONG_REQUIRED):
        out = pd.DataFrame(
            {
                "_row": df["_row"],
                "_col_period": cols["period"],
                "_col_value": cols["value"],
                "kpi": df[cols["kpi"]],
                "period_raw": df[cols["period"]],
                "value_raw": df[cols["value"]],
                "segment": df[cols["segment"]] if "segment" in cols else "",
                "note": df[cols["note"]] if "note" in cols else "",
            }
        )
        out["wide"] = False
        return out
    if "kpi" in cols and len(cols) > 1 and not ({"period", "value"} & set(cols)):
        label_cols = [cols[c] for c in WIDE_LABEL_COLUMNS if c in cols]
        period_cols = [c for c in df.columns if c != "_row" and c not in label_cols]
        if period_cols:
            m = df.melt(
                id_vars=["_row", *label_cols], value_vars=period_cols, var_name="_col_period", value_name="value_raw"
            )
            out = pd.DataFrame(
                {
                    "_row": m["_row"],
                    "_col_period": m["_col_period"].astype(str),
                    "_col_value": m["_col_period"].astype(str),
                    "kpi": m[cols["kpi"]],
                    "period_raw": m["_col_period"],
                    "value_raw": m["value_raw"],
                    "segment": m[cols["segment"]] if "segment" in cols else "",
                    "note": m[cols["note"]] if "note" in cols else "",
                }
            )
            # In the wide layout an empty cell means "no value for that period".
            empty = out["value_raw"].isna() | (out["value_raw"].astype(str).str.strip() == "")
            out = out[~empty].reset_index(drop=True)
            out["wide"] = True
            if out.empty:
                raise ImportFailed([Problem(name, None, None, "every period cell is empty; nothing to import")])
            return out
    missing = [c for c in LONG_REQUIRED if c not in cols]
    raise ImportFailed(
        [
            Problem(
                name,
                1,
                None,
                f"missing column(s) {', '.join(repr(c) for c in missing)}; expected the long layout "
                f"kpi,period,value[,segment,note] or the wide layout kpi[,segment],<period>,<period>,…",
            )
        ]
    )


def check_long(
    long: pd.DataFrame,
    filename: str,
    config: AppConfig,
    stored_segments: Callable[[str], Iterable[str]] | None = None,
) -> pd.DataFrame:
    """Checked rows (kpi_id, segment, period, value, note, _row); raise ImportFailed listing all problems.
    Segments that differ only by Unicode form or invisible characters are one segment (kpis.imports.cells.merge_keys,
    matched with `stored_segments(kpi)` when given), and a KPI may not have more segments, stored and new, than
    config [limits] max_segments_per_kpi."""
    name = Path(filename).name
    bag = Collector(name, config.app.max_import_errors)
    catalog = config.kpi_by_id
    kpi = text(long["kpi"])
    # KPI ids match regardless of case ('OTIF' is 'otif') when that names exactly one KPI
    lower = {}
    for kid in catalog:
        lower.setdefault(kid.lower(), []).append(kid)
    kpi = kpi.map(lambda v: v if v in catalog or len(lower.get(v.lower(), [])) != 1 else lower[v.lower()][0])
    segment = text(long["segment"]) if not isinstance(long["segment"], str) else pd.Series("", index=long.index)
    note = text(long["note"])
    known = kpi.isin(list(catalog))
    kcol = "kpi"
    for bad in pd.unique(kpi[~known]):
        rows = long["_row"][kpi == bad]
        hint = difflib.get_close_matches(bad, list(catalog), n=1)
        msg = f"unknown KPI '{bad}'" if bad else "KPI is empty"
        msg += f" (did you mean '{hint[0]}'?)" if hint else "; see the KPI catalog for valid ids"
        bag.add_many(rows.drop_duplicates(), kcol, msg)

    computed = [k.id for k in config.kpis if k.source == "forecast"]
    is_computed = kpi.isin(computed)
    for kid in pd.unique(kpi[is_computed]):
        bag.add_many(
            long["_row"][kpi == kid].drop_duplicates(),
            kcol,
            f"KPI '{kid}' is computed from the forecast data (source = \"forecast\"); import demand and "
            'forecasts instead, or set source = "import" in config.toml',
        )
    from_records = kpi.isin([k.id for k in config.kpis if k.source == "records"])
    for kid in pd.unique(kpi[from_records]):
        bag.add_many(
            long["_row"][kpi == kid].drop_duplicates(),
            kcol,
            f"KPI '{kid}' is computed from the app's records, not imported: {catalog[kid].computed_from}. Log or "
            'import those records instead, or set source = "import" in config.toml',
        )
    known = known & ~is_computed & ~from_records

    segment = segment.astype(object)
    over: dict[str, int] = {}
    for kid in pd.unique(kpi[known]):
        sel = (kpi == kid).to_numpy()
        new = segment[sel]
        if new.nunique() > config.limits.max_segments_per_kpi:  # refused without looking at what is stored
            over[kid] = int(new.nunique())
            continue
        stored = list(stored_segments(kid)) if stored_segments is not None else []
        new = merge_keys(new, stored)
        segment[sel] = new
        over[kid] = len(set(new) | set(stored))
    for p in limits.check_segments(over, config.limits, name):
        bag.add(p.row, p.column, p.message)

    start = pd.Series(pd.NaT, index=long.index, dtype="datetime64[ns]")
    seen_headers: set[tuple[str, str]] = set()
    for kid in pd.unique(kpi[known]):
        sel = kpi == kid
        k = catalog[kid]
        s, err = periods.normalise(long.loc[sel, "period_raw"], k.cadence, years=config.limits.period_years)
        start[sel] = s
        bad = err != ""
        if bad.any():
            raw = text(long.loc[sel, "period_raw"])[bad]
            # a period of another cadence already says what to write; only unreadable ones get the general hint
            # and a period outside the supported years is readable: the range it must lie in is the hint
            hint = err[bad].map(
                lambda e: (
                    ""
                    if "but this KPI is" in e or "outside the supported years" in e
                    else f"; expected {periods.FORMAT_HINT}"
                )
            )
            msgs = "period '" + raw + "' " + err[bad] + hint
            wide = long.loc[sel, "wide"][bad].astype(bool) if "wide" in long else pd.Series(False, index=raw.index)
            if wide.any():  # a bad period in a wide header is one problem, reported once on the header row
                for col in pd.unique(long.loc[sel, "_col_period"][bad][wide]):
                    first = msgs[wide][long.loc[sel, "_col_period"][bad][wide] == col].iloc[0]
                    if (col, first) not in seen_headers:
                        seen_headers.add((col, first))
                        bag.add(1, col, "column header " + first)
            narrow = ~wide
            bag.add_many(long.loc[sel, "_row"][bad][narrow], long.loc[sel, "_col_period"][bad][narrow], msgs[narrow])

    value, _pct = numbers(long["value_raw"])
    raw_v = text(long["value_raw"])
    nonnum = value.isna() | ~np.isfinite(value)
    if nonnum.any():
        # messages only for the rows kept (bag.cap): a million bad cells must not mean a million messages
        head = raw_v[nonnum].iloc[: bag.cap]
        ambiguous = head.str.replace(" ", "", regex=False).str.fullmatch(r"-?[1-9]\d{0,2},\d{3}")
        msgs = pd.Series(
            [
                "value is empty; expected a number"
                if v == ""
                else f"value '{v}' is ambiguous (thousands separator or decimal comma?); write it without a "
                "thousands separator, e.g. 450000 or 450.5"
                if amb
                else f"value '{v}' is not a number"
                for v, amb in zip(head, ambiguous)
            ],
            index=head.index,
            dtype=object,
        )
        bag.add_many(long["_row"][nonnum], long["_col_value"][nonnum], msgs)

    huge = ~nonnum & (value.abs() > MAX_ABS_VALUE)
    if huge.any():
        bag.add_many(
            long["_row"][huge],
            long["_col_value"][huge],
            value[huge].map(lambda v: f"value {v:g} is beyond ±{MAX_ABS_VALUE:g}; expected a plausible figure"),
        )
    nonnum = nonnum | huge
    for kid in pd.unique(kpi[known & ~nonnum]):
        k = catalog[kid]
        lo, hi = k.value_range
        sel = (kpi == kid) & ~nonnum
        out = sel & ((value < lo) | (value > hi))
        if out.any():
            bag.add_many(
                long["_row"][out], long["_col_value"][out], _scale_message(k, value[out].iloc[: bag.cap], lo, hi)
            )

    ok = known & start.notna()
    key = pd.DataFrame({"kpi": kpi, "segment": segment, "period": start})[ok]
    dup = key.duplicated(keep=False)
    if dup.any():
        first_row = (
            long["_row"][ok][dup].groupby([key["kpi"][dup], key["segment"][dup], key["period"][dup]]).transform("min")
        )
        later = long["_row"][ok][dup] != first_row
        d_idx = later[later].index
        labels = [periods.label(p, catalog[k].cadence) for k, p in zip(key.loc[d_idx, "kpi"], key.loc[d_idx, "period"])]
        msgs = pd.Series(
            [
                f"duplicate: row {int(r)} already has KPI '{k}'{' segment ' + repr(s) if s else ''} for period {lab}"
                for r, k, s, lab in zip(first_row[d_idx], key.loc[d_idx, "kpi"], key.loc[d_idx, "segment"], labels)
            ],
            index=d_idx,
        )
        bag.add_many(long["_row"][d_idx], long["_col_period"][d_idx], msgs)
    long_seg = segment.str.len() > MAX_SEGMENT
    if long_seg.any():
        bag.add_many(
            long["_row"][long_seg],
            "segment",
            segment[long_seg].map(lambda v: too_long("segment name", len(v), MAX_SEGMENT)),
        )
    bag.raise_if_any()
    return pd.DataFrame(
        {
            "kpi_id": kpi,
            "segment": segment,
            "period": start.dt.date,
            "value": value,
            "note": note.replace("", None),
            "_row": long["_row"],
        }
    )


def _scale_message(k: KPI, values: pd.Series, lo: float, hi: float) -> pd.Series:
    if k.unit == "%":
        hint = [
            f"value {v:g} is outside {lo:g}–{hi:g} for KPI '{k.id}' (unit %): percentages are stored as "
            f"fractions, so {v:g} % is {v / 100:g}"
            if 1 < abs(v) <= 100 * max(abs(lo), abs(hi))
            else f"value {v:g} is outside the plausible range {lo:g}–{hi:g} for KPI '{k.id}' (unit %)"
            for v in values
        ]
    else:
        hint = [
            f"value {v:g} is outside the plausible range {lo:g}–{hi:g} for KPI '{k.id}' (unit {k.unit})" for v in values
        ]
    return pd.Series(hint, index=values.index)


def parse_actuals(data: bytes, filename: str, config: AppConfig, sheet: str | None = None) -> pd.DataFrame:
    """Read and validate an actuals file (an Excel file's first sheet, or `sheet`) into checked rows, or raise
    ImportFailed; `rows.attrs['sheet']` names the sheet read."""
    df = read_table(
        data,
        filename,
        max_mb=config.app.max_upload_mb,
        cap=config.app.max_import_errors,
        sheet=sheet,
        limits=config.limits,
    )
    rows = check_long(to_long(df, filename, config), filename, config)
    rows.attrs["sheet"] = df.attrs.get("sheet")
    return rows


def check_actuals(table: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """Checked rows (kpi_id, segment, period, value, note, _row) of a long or wide table of actuals; segments
    matched with, and counted together with, the stored ones."""

    def stored(kid: str) -> list[str]:
        with ctx.engine.connect() as conn:
            return list(conn.execute(select(KpiValue.segment).where(KpiValue.kpi_id == kid).distinct()).scalars())

    return check_long(to_long(table, ctx.file, ctx.config), ctx.file, ctx.config, stored)


def _sync(engine: Engine, config: AppConfig, user: User, rows) -> None:
    retrying(lambda: sync_catalog(engine, config, user))


def import_actuals(
    engine: Engine,
    data: bytes,
    filename: str,
    *,
    config: AppConfig,
    user: User,
    sheet: str | None = None,
    progress=None,
    cancel=None,
) -> ImportResult:
    """Validate and store KPI actuals in one transaction; unchanged values are left alone (`cancel`, a
    threading.Event, stops it before it commits)."""
    require(user, "import", engine=engine, what="import actuals")
    df = read_table(
        data,
        filename,
        max_mb=config.app.max_upload_mb,
        cap=config.app.max_import_errors,
        sheet=sheet,
        limits=config.limits,
    )
    return run_import(
        engine, ACTUALS, df, Source.of_bytes(data, filename), config=config, user=user, progress=progress, cancel=cancel
    )


def write_actuals(engine: Engine, rows: pd.DataFrame, *, filename: str, sha256: str, user: User) -> ImportResult:
    """Insert new and update changed values (kpi_id, segment, period, value, note) in one transaction, audited."""
    return write_checked(engine, WRITE_ACTUALS, rows, Source(filename, sha256), user=user)


def store_actuals(rows: pd.DataFrame, w: Writing) -> None:
    """Insert new and update changed values in the import's transaction; a file without a note leaves the stored
    note alone."""
    s, result, user = w.handle, w.result, w.user
    existing = _existing(s, rows)
    merged = rows.merge(existing, on=["kpi_id", "segment", "period"], how="left")
    is_new = merged["id"].isna()
    same_val = np.isclose(merged["value"].to_numpy(float), merged["old_value"].to_numpy(float), rtol=1e-12, atol=1e-12)
    same_note = merged["note"].fillna("").eq(merged["old_note"].fillna("")) | merged["note"].isna()
    changed = ~is_new & ~(same_val & same_note)
    result.inserted, result.updated = int(is_new.sum()), int(changed.sum())
    result.unchanged = len(rows) - result.inserted - result.updated
    if not result.changed:
        return
    now = w.now
    batch_id = w.batch_id
    new = merged[is_new]
    if len(new):
        s.execute(
            insert(KpiValue),
            [
                {
                    "kpi_id": k,
                    "segment": g,
                    "period": p,
                    "value": float(v),
                    "note": None if n is None or pd.isna(n) else n,
                    "import_id": batch_id,
                    "created_at": now,
                    "created_by": user.name,
                }
                for k, g, p, v, n in zip(new["kpi_id"], new["segment"], new["period"], new["value"], new["note"])
            ],
        )
    upd = merged[changed]
    if len(upd):
        s.execute(
            update(KpiValue),
            [
                {
                    "id": int(i),
                    "value": float(v),
                    "note": o if n is None or pd.isna(n) else n,
                    "import_id": batch_id,
                    "updated_at": now,
                    "updated_by": user.name,
                }
                for i, v, n, o in zip(upd["id"], upd["value"], upd["note"], upd["old_note"])
            ],
        )
        s.execute(
            insert(AuditEvent),
            [
                {
                    "at": now,
                    "actor": user.name,
                    "action": "update",
                    "entity": "kpi_value",
                    "entity_id": str(int(i)),
                    "details": {
                        "kpi": k,
                        "segment": g,
                        "period": str(p),
                        "old": float(o),
                        "new": float(v),
                        "import": batch_id,
                        **_note_change(on, n),
                    },
                }
                for i, k, g, p, o, v, on, n in zip(
                    upd["id"],
                    upd["kpi_id"],
                    upd["segment"],
                    upd["period"],
                    upd["old_value"],
                    upd["value"],
                    upd["old_note"],
                    upd["note"],
                )
            ],
        )


ACTUALS = Kind(
    name="actuals",
    columns="the long layout kpi,period,value[,segment,note] or the wide layout kpi[,segment],<period>,<period>,…",
    parse=check_actuals,
    write=store_actuals,
    what="import actuals",
    prepare=_sync,
)
# rows already checked (the demo data, benchmarks): written as an import of actuals
WRITE_ACTUALS = Kind(
    name="actuals", columns=ACTUALS.columns, parse=check_actuals, write=store_actuals, what="write actuals"
)


def _note_change(old, new) -> dict:
    """Audit details of a note change ({} when the note stays)."""
    old = None if old is None or (isinstance(old, float) and np.isnan(old)) else old
    new = None if new is None or (isinstance(new, float) and np.isnan(new)) else new
    if new is None or new == old:
        return {}
    return {"old_note": old, "new_note": new}


def _existing(session, rows: pd.DataFrame) -> pd.DataFrame:
    """Stored values for the KPIs and periods in the file."""
    cols = ["kpi_id", "segment", "period", "id", "old_value", "old_note"]
    frames = []
    for kid, grp in rows.groupby("kpi_id", sort=False):
        q = select(
            KpiValue.kpi_id, KpiValue.segment, KpiValue.period, KpiValue.id, KpiValue.value, KpiValue.note
        ).where(KpiValue.kpi_id == kid, KpiValue.period >= min(grp["period"]), KpiValue.period <= max(grp["period"]))
        frames.append(pd.DataFrame(session.execute(q).all(), columns=cols))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    out["period"] = pd.to_datetime(out["period"]).dt.date
    out["old_value"] = out["old_value"].astype(float)
    return out


def import_actuals_file(
    engine: Engine, path: Path, *, config: AppConfig, user: User, sheet: str | None = None
) -> ImportResult:
    """import_actuals on a file named on the command line."""
    return import_actuals(engine, Path(path).read_bytes(), Path(path).name, config=config, user=user, sheet=sheet)
