"""Commentary on the numbers: what happened to a KPI in a period (and segment), why, and what is being done.

One comment per KPI, segment and period (the start of the KPI's own period), optionally linking an improvement
action or a decision. It is written by the KPI's owner (matched by identity: User.is_self, their key or verified
e-mail, never a typed name) or an editor/admin (kpis.access.rules, "comment"); a viewer cannot comment. Saves
are audited with before/after and, when the form names the version it was opened at, refused with
kpis.store.versions.EditConflict when someone saved the comment since, as reviews are. ``COMMENTS`` is the import
kind of `python -m kpis import comments FILE` (columns kpi, period, segment, author, text).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from kpis import periods, safety
from kpis.access import rules
from kpis.access.users import User
from kpis.catalog import overview
from kpis.config import AppConfig
from kpis.imports.cells import text as cell_text
from kpis.imports.problems import Collector, ImportFailed, missing_columns, too_long
from kpis.imports.read import read_table
from kpis.imports.result import ImportResult
from kpis.imports.runner import Context, Kind, Writing, run_import
from kpis.imports.source import Source
from kpis.store import audit, versions
from kpis.store.engine import session_factory
from kpis.store.models import Action, Decision, KpiComment, utcnow
from kpis.store.retry import retrying

MAX_TEXT = 4000
MAX_AUTHOR = 120
MAX_SEGMENT = 80
COLUMNS = ("kpi", "period", "segment", "author", "text")
FIELDS = ("author", "text", "action_id", "decision_id")
LIST_COLUMNS = ["id", "kpi_id", "segment", "period", "author", "text", "action_id", "decision_id", "version"]
DUE_COLUMNS = ["kpi_id", "name", "status", "period", "period_label"]
NEEDS_COMMENT = ("red", "amber")  # statuses whose latest period wants a comment before the meeting


class CommentRefused(ValueError):
    """A comment write that breaks a rule; the message says why."""


def may_comment(user: User, config: AppConfig, kpi_id: str) -> bool:
    """True when the user may comment on the KPI: its owner (by identity) as a contributor, or an editor/admin."""
    kpi = config.kpi_by_id.get(kpi_id)
    return kpi is not None and rules.may(user, "comment", kpi.owner)


def check_comment(fields: dict[str, Any], config: AppConfig) -> list[str]:
    """Problems with a comment's fields (kpi_id, segment, text, author), as messages."""
    problems = [f"{n} {safety.NUL_MESSAGE}" for n in safety.nul_fields(fields)]
    if fields.get("kpi_id") not in config.kpi_by_id:
        problems.append(f"unknown KPI '{fields.get('kpi_id')}'")
    text = str(fields.get("text") or "").strip()
    if not text:
        problems.append("the comment is empty; say what happened, why, and what is being done")
    elif len(text) > MAX_TEXT:
        problems.append(too_long("the comment", len(text), MAX_TEXT))
    if len(str(fields.get("author") or "")) > MAX_AUTHOR:
        problems.append(too_long("author", len(str(fields.get("author"))), MAX_AUTHOR))
    if len(str(fields.get("segment") or "")) > MAX_SEGMENT:
        problems.append(too_long("segment", len(str(fields.get("segment"))), MAX_SEGMENT))
    return problems


def _snapshot(c: KpiComment) -> dict[str, Any]:
    return {
        "kpi_id": c.kpi_id,
        "segment": c.segment,
        "period": c.period.isoformat(),
        **{f: getattr(c, f) for f in FIELDS},
    }


def save_comment(
    engine: Engine,
    config: AppConfig,
    user: User,
    *,
    kpi_id: str,
    period: dt.date | pd.Timestamp,
    text: str,
    segment: str = "",
    action_id: int | None = None,
    decision_id: int | None = None,
    expected_version: int | None = None,
) -> int:
    """Write (or change) the comment on a KPI's period and segment; audited with before/after.

    `period` is any day of the period (stored as the start of the KPI's own period). `expected_version` is the
    version the form was opened at (None for a new comment): when the comment was saved since, EditConflict."""
    kpi = config.kpi_by_id.get(kpi_id)
    rules.require(user, "comment", own=kpi is not None and user.is_self(kpi.owner), engine=engine, what="comment")
    fields = {"kpi_id": kpi_id, "segment": (segment or "").strip(), "text": str(text or "").strip()}
    fields["author"] = (user.display or user.name)[:MAX_AUTHOR]
    problems = check_comment(fields, config)
    if problems:
        raise CommentRefused("; ".join(problems))
    start = periods.start_of(period, kpi.cadence)

    def write() -> int:
        with session_factory(engine).begin() as s:
            for model, ref, what in ((Action, action_id, "action"), (Decision, decision_id, "decision")):
                if ref is not None and s.get(model, int(ref)) is None:
                    raise CommentRefused(f"there is no {what} #{ref}")
            c = s.execute(
                select(KpiComment).where(
                    KpiComment.kpi_id == kpi_id, KpiComment.segment == fields["segment"], KpiComment.period == start
                )
            ).scalar_one_or_none()
            values = {"author": fields["author"], "text": fields["text"], "action_id": action_id}
            values["decision_id"] = decision_id
            if c is None:
                if expected_version is not None:  # the form was opened on a comment someone has deleted since
                    raise CommentRefused("this comment no longer exists; reload the page")
                c = KpiComment(kpi_id=kpi_id, segment=fields["segment"], period=start, **values)
                c.created_at, c.created_by = utcnow(), user.name
                s.add(c)
                s.flush()
                audit.record(s, user=user, action="create", entity="kpi_comment", entity_id=c.id,
                             details={"after": _snapshot(c)})  # fmt: skip
                return c.id
            versions.check(c, expected_version, entity="comment")
            before = _snapshot(c)
            for k, v in values.items():
                setattr(c, k, v)
            c.updated_at, c.updated_by = utcnow(), user.name
            s.flush()
            after = _snapshot(c)
            changed = {k: {"old": before[k], "new": after[k]} for k in after if before[k] != after[k]}
            audit.record(s, user=user, action="update", entity="kpi_comment", entity_id=c.id,
                         details={"changed": changed})  # fmt: skip
            return c.id

    return retrying(write)


def comments(engine: Engine, kpi_ids: list[str] | None = None, segment: str | None = "") -> pd.DataFrame:
    """Stored comments (LIST_COLUMNS), by KPI and period; `segment` None = every segment."""
    q = select(*[getattr(KpiComment, c) for c in LIST_COLUMNS]).order_by(KpiComment.kpi_id, KpiComment.period)
    if kpi_ids is not None:
        q = q.where(KpiComment.kpi_id.in_(list(kpi_ids)))
    if segment is not None:
        q = q.where(KpiComment.segment == segment)
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(q).all(), columns=LIST_COLUMNS)
    df["period"] = pd.to_datetime(df["period"])
    return df


def comment_at(found: pd.DataFrame, kpi_id: str, period: Any) -> dict[str, Any] | None:
    """The comment of `found` (comments()) on a KPI's period, or None."""
    if period is None or pd.isna(period) or found.empty:
        return None
    hit = found[(found["kpi_id"] == kpi_id) & (found["period"] == pd.Timestamp(period))]
    return None if hit.empty else hit.iloc[0].to_dict()


def tile_comments(engine: Engine, tiles: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The company-total comment on each Overview tile's period, by KPI id."""
    if tiles.empty:
        return {}
    found = comments(engine, list(tiles["kpi_id"]))
    out = {}
    for k, p in zip(tiles["kpi_id"], tiles["period"]):
        if (c := comment_at(found, k, p)) is not None:
            out[k] = c
    return out


def chart_marks(found: pd.DataFrame, kpi_id: str) -> pd.DataFrame:
    """A KPI's comments as trend-chart marks (kind 'comment', id, date, label)."""
    mine = found[found["kpi_id"] == kpi_id]
    return pd.DataFrame(
        {
            "kind": "comment",
            "id": mine["id"].to_numpy(),
            "date": mine["period"].dt.date.to_numpy(),
            "label": [f"Comment by {a}: {short(t)}" for a, t in zip(mine["author"], mine["text"])],
        },
        columns=["kind", "id", "date", "label"],
    )


def links(engine: Engine, kpi_id: str) -> tuple[dict[int, str], dict[int, str]]:
    """What a comment on the KPI may link: its improvement actions and its decisions, as id -> label."""
    with engine.connect() as conn:
        acts = conn.execute(
            select(Action.id, Action.ref, Action.title).where(Action.kpi_id == kpi_id).order_by(Action.id.desc())
        ).all()
        decs = conn.execute(
            select(Decision.id, Decision.ref, Decision.text)
            .where(Decision.kpi_id == kpi_id)
            .order_by(Decision.id.desc())
        ).all()
    return (
        {i: f"{r or '#' + str(i)}: {short(t, 80)}" for i, r, t in acts},
        {i: f"{r or '#' + str(i)}: {short(t, 80)}" for i, r, t in decs},
    )


def short(text: str, n: int = 120) -> str:
    one = " ".join(str(text).split())
    return one if len(one) <= n else one[: n - 1] + "…"


def without_comment(engine: Engine, totals: pd.DataFrame, config: AppConfig, owned: list) -> pd.DataFrame:
    """Tiles of the `owned` KPIs whose latest period is red or amber and has no company-total comment yet."""
    if not owned or totals.empty:
        return pd.DataFrame(columns=DUE_COLUMNS)
    tiles = overview.overview_tiles(totals, owned, config)
    due = tiles[tiles["status"].isin(NEEDS_COMMENT)]
    if due.empty:
        return due[DUE_COLUMNS].reset_index(drop=True)
    found = comments(engine, list(due["kpi_id"]))
    keep = [comment_at(found, k, p) is None for k, p in zip(due["kpi_id"], due["period"])]
    return due[keep][DUE_COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------- import


@dataclass(frozen=True)
class _Row:
    kpi_id: str
    segment: str
    period: dt.date
    author: str
    text: str
    row: int


def check_comments(df: pd.DataFrame, ctx: Context) -> dict[tuple[str, str, dt.date], _Row]:
    """Checked comments by (kpi, segment, period start): every row and column problem, or ImportFailed."""
    name, config = ctx.file, ctx.config
    cols = {str(c).strip().lower(): c for c in df.columns if c != "_row"}
    missing = [c for c in ("kpi", "period", "author", "text") if c not in cols]
    if missing:
        raise ImportFailed([missing_columns(name, missing, ",".join(COLUMNS))])
    bag = Collector(name, config.app.max_import_errors)
    cells = {c: cell_text(df[cols[c]]) if c in cols else pd.Series("", index=df.index) for c in COLUMNS}
    out: dict[tuple[str, str, dt.date], _Row] = {}
    for i in df.index:
        r = int(df.at[i, "_row"])
        kpi_id, raw_period, segment, author, text = (cells[c][i] for c in COLUMNS)
        for col, v in (("segment", segment), ("author", author), ("text", text)):
            if "\x00" in v:
                bag.add(r, col, safety.NUL_MESSAGE)
        kpi = config.kpi_by_id.get(kpi_id)
        if kpi is None:
            bag.add(r, "kpi", f"unknown KPI '{kpi_id}'; see the KPI catalog for valid ids" if kpi_id else "is empty")
        start = None
        if not raw_period:
            bag.add(r, "period", f"is empty; expected a period ({periods.FORMAT_HINT})")
        elif kpi is not None:
            try:
                start = periods.parse_one(raw_period, kpi.cadence)
            except periods.PeriodError as e:
                bag.add(r, "period", str(e))
        if not author:
            bag.add(r, "author", "is empty; who wrote the comment")
        elif len(author) > MAX_AUTHOR:
            bag.add(r, "author", too_long("author", len(author), MAX_AUTHOR))
        if not text:
            bag.add(r, "text", "is empty; say what happened, why, and what is being done")
        elif len(text) > MAX_TEXT:
            bag.add(r, "text", too_long("text", len(text), MAX_TEXT))
        if len(segment) > MAX_SEGMENT:
            bag.add(r, "segment", too_long("segment", len(segment), MAX_SEGMENT))
        if kpi is None or start is None:
            continue
        key = (kpi_id, segment, start)
        if key in out:
            bag.add(r, "period", f"{kpi_id} {raw_period}{' ' + segment if segment else ''} is listed twice "
                    f"(also row {out[key].row})")  # fmt: skip
            continue
        out[key] = _Row(kpi_id, segment, start, author, text, r)
    bag.raise_if_any()
    return out


def store_comments(rows: dict[tuple[str, str, dt.date], _Row], w: Writing) -> None:
    """Add new comments and change those whose author or text differ, in the import's transaction."""
    s, result = w.handle, w.result
    kpi_ids = sorted({k[0] for k in rows})
    stored = {
        (c.kpi_id, c.segment, c.period): c
        for c in s.execute(select(KpiComment).where(KpiComment.kpi_id.in_(kpi_ids))).scalars()
    }
    todo = []
    for key, row in rows.items():
        c = stored.get(key)
        if c is None:
            result.inserted += 1
        elif (c.author, c.text) != (row.author, row.text):
            result.updated += 1
        else:
            result.unchanged += 1
            continue
        todo.append((row, c))
    if not result.changed:
        return
    w.batch_id  # noqa: B018 -- the import batch comes first, as in every kind
    for row, c in todo:
        if c is None:
            s.add(KpiComment(kpi_id=row.kpi_id, segment=row.segment, period=row.period, author=row.author,
                             text=row.text, created_at=w.now, created_by=w.user.name))  # fmt: skip
        else:
            c.author, c.text, c.updated_at, c.updated_by = row.author, row.text, w.now, w.user.name


def _sync(engine: Engine, config: AppConfig, user: User, rows: Any) -> None:
    from kpis.catalog.sync import sync_catalog

    sync_catalog(engine, config, user)  # the KPI rows the comments point to


COMMENTS = Kind(
    name="comments",
    columns=",".join(COLUMNS),
    parse=check_comments,
    write=store_comments,
    what="import comments",
    unit="comments",
    noun="comments",
    prepare=_sync,
)


def import_comments(
    engine: Engine, data: bytes, filename: str, *, config: AppConfig, user: User, sheet: str | None = None
) -> ImportResult:
    """Check and store a file of comments in one audited transaction (nothing is written if any row is bad)."""
    df = read_table(data, filename, max_mb=config.app.max_upload_mb, cap=config.app.max_import_errors, sheet=sheet)
    return run_import(engine, COMMENTS, df, Source.of_bytes(data, filename, sheet=sheet), config=config, user=user)


def import_comments_file(
    engine: Engine, path: Path, *, config: AppConfig, user: User, sheet: str | None = None
) -> ImportResult:
    """import_comments on a file named on the command line."""
    return import_comments(engine, Path(path).read_bytes(), Path(path).name, config=config, user=user, sheet=sheet)
