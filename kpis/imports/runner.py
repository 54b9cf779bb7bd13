"""``run_import``: the one chain every import goes through.

1. check the caller may import this kind;
2. check every row (the kind's ``parse``): any problem raises ``ImportFailed`` and nothing is written;
3. digest the content (the Source's, or the cells');
4. in one transaction, rerun when the database asks (``kpis.store.retry``): the kind's ``write`` compares the
   checked rows with what is stored and writes what changed; when something changed, the import batch is opened
   (the kind may open it earlier, when its rows point to it) and the import is audited; when nothing changed the
   transaction is rolled back and the result names the earlier import of the same content, if any.

A kind supplies only what is its own: ``columns`` (what it expects), ``parse`` and ``write``. The table is a
pandas DataFrame (with a ``_row`` column of file row numbers, as ``read_table`` makes it; without one, records
are numbered from 1) or an iterator of Arrow record batches; a kind with ``stream`` takes the batches one at a
time (bounded memory), any other kind gets them as one table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert, update
from sqlalchemy.orm import Session

from kpis import limits as file_limits
from kpis.access.users import User, require
from kpis.config import AppConfig, LimitsSection
from kpis.imports.problems import Collector, ImportFailed, Problem
from kpis.imports.read import arrow_frame, frame_of, row_table
from kpis.imports.result import ImportResult
from kpis.imports.source import CellDigest, Source
from kpis.store import audit
from kpis.store.engine import session_factory
from kpis.store.models import AuditEvent, ImportBatch, utcnow
from kpis.store.repo import find_import
from kpis.store.retry import retrying

Progress = Callable[[float, str], None]


class ImportCancelled(Exception):
    """The import was cancelled before it committed; nothing was written."""


@dataclass
class Context:
    """What a kind's ``parse`` may use: the source's name (for problems), the configuration, the engine (to look
    up what rows refer to) and a collector of problems."""

    file: str
    config: AppConfig
    engine: Engine
    user: User
    progress: Progress

    def collector(self) -> Collector:
        return Collector(self.file, self.config.app.max_import_errors)


@dataclass
class Writing:
    """What a kind's ``write`` works with inside the transaction: the result to count into, who and when, and the
    import batch (opened on first use of ``batch_id``; its counts are the result's when the import commits)."""

    handle: Any  # an ORM Session, or the Connection of a kind with its own transaction
    result: ImportResult
    source: Source
    user: User
    now: dt.datetime
    progress: Progress
    details: dict[str, Any] = field(default_factory=dict)  # extra audit details of the import
    cancel: threading.Event | None = None
    cap: int = 50  # problems kept when the write itself finds some
    _batch: int | None = None

    @property
    def batch_id(self) -> int:
        if self._batch is None:
            r = self.result
            self._batch = int(
                self.handle.execute(
                    insert(ImportBatch)
                    .values(
                        kind=r.kind,
                        filename=self.source.name,
                        sha256=self.source.digest or "",
                        rows_in_file=r.rows,
                        inserted=r.inserted,
                        updated=r.updated,
                        unchanged=r.unchanged,
                        created_at=self.now,
                        created_by=self.user.name,
                    )
                    .returning(ImportBatch.id)
                ).scalar_one()
            )
            self.result.batch_id = self._batch
        return self._batch

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ImportCancelled("import cancelled; nothing was written")

    def finish(self) -> None:
        """Record the batch's final counts and audit the import."""
        r = self.result
        batch = self.batch_id
        self.handle.execute(
            update(ImportBatch)
            .where(ImportBatch.id == batch)
            .values(
                sha256=self.source.digest,
                rows_in_file=r.rows,
                inserted=r.inserted,
                updated=r.updated,
                unchanged=r.unchanged,
            )
        )
        details = {
            "file": self.source.name,
            "kind": r.kind,
            "inserted": r.inserted,
            "updated": r.updated,
            "unchanged": r.unchanged,
            "sha256": self.source.digest,
            **self.details,
        }
        if isinstance(self.handle, Session):
            audit.record(
                self.handle, user=self.user, action="import", entity="import_batch", entity_id=batch, details=details
            )
        else:
            if getattr(self.user, "via", None):
                details["via"] = self.user.via
            self.handle.execute(
                insert(AuditEvent),
                [
                    {
                        "at": self.now,
                        "actor": self.user.name[:120],
                        "action": "import",
                        "entity": "import_batch",
                        "entity_id": str(batch),
                        "details": details,
                    }
                ],
            )


@contextlib.contextmanager
def session_transaction(engine: Engine, rows: Any) -> Iterator[Session]:
    """The default transaction: an ORM session, committed at the end (rolled back on any exception)."""
    with session_factory(engine).begin() as s:
        yield s


@dataclass(frozen=True)
class Kind:
    """One kind of import: what it expects and how its rows are checked and written.

    - ``columns``: the columns it expects (descriptive; the messages of ``parse`` name them);
    - ``parse(table, ctx)``: checked rows from a table with a ``_row`` column, or ImportFailed listing every problem;
    - ``write(rows, w)``: inside the transaction (``w.handle``), compare with what is stored, count into
      ``w.result`` and write what changed (``w.batch_id`` opens the import batch);
    - ``stream(batches, w, ctx)`` (optional): check, compare and write Arrow batches one at a time.
    """

    name: str
    columns: str
    parse: Callable[[pd.DataFrame, Context], Any]
    write: Callable[[Any, Writing], None]
    rights: tuple[str, ...] = ("import",)
    what: str = ""  # 'import actuals'
    unit: str = "values"
    noun: str = ""
    added: str = "inserted"
    ignored_label: str = "Ignored column(s)"
    count: Callable[[Any], int] = len
    prepare: Callable[[Engine, AppConfig, User, Any], None] | None = None  # before the transaction
    transaction: Callable[[Engine, Any], contextlib.AbstractContextManager] = session_transaction
    ignored: Callable[[Any], tuple[str, ...]] = lambda rows: ()
    stream: Callable[[Iterable, Writing, Context], None] | None = None


class _Unchanged(Exception):
    """Nothing changed: roll the transaction back."""


def _noop(_fraction: float, _text: str) -> None:
    return None


def check_size(rows: int, columns: int, limits: LimitsSection, name: str) -> None:
    """Refuse a table (a DataFrame, or the Arrow batches read so far) with more rows or columns than config
    [limits] allows (kpis.limits), before any of its rows is checked."""
    problems = file_limits.check_columns(columns, limits, name) + file_limits.check_rows(rows, limits, name)
    if problems:
        raise ImportFailed([Problem(*p) for p in problems])


def _data_columns(table: Any) -> int:
    names = list(table.schema.names) if hasattr(table, "schema") else list(table.columns)
    return len(names) - ("_row" in names)


def _batches_frame(
    batches: Iterable, name: str, cancel: threading.Event | None, limits: LimitsSection | None = None
) -> pd.DataFrame:
    """Arrow record batches as one table with a `_row` column (records numbered from 1); the rows and columns
    counted against `limits` as the batches come, before any is decoded to pandas."""
    limits = limits or LimitsSection()
    frames, n = [], 0
    for b in batches:
        if cancel is not None and cancel.is_set():
            raise ImportCancelled("import cancelled; nothing was written")
        n += b.num_rows
        check_size(n, _data_columns(b), limits, name)
        frames.append(arrow_frame(b))
    if not frames:
        raise _empty(name)
    df = pd.concat(frames, ignore_index=True)
    return row_table(frame_of(df, np.arange(1, len(df) + 1, dtype=np.int64), name))


def _empty(name: str) -> ImportFailed:
    from kpis.imports.problems import fail

    return fail(name, "file has a header but no data rows")


def as_table(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """A DataFrame with a `_row` column (kept) or without one (headers checked, records numbered from 1)."""
    if "_row" in table.columns:
        return table
    return row_table(frame_of(table, np.arange(1, len(table) + 1, dtype=np.int64), name))


def run_import(
    engine: Engine,
    kind: Kind,
    table_or_batches: pd.DataFrame | Iterable,
    source: Source,
    *,
    config: AppConfig,
    user: User,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ImportResult:
    """Check, digest, compare and write one table of `kind` in one audited transaction; see the module doc."""
    for right in kind.rights:
        require(user, right, engine=engine, what=kind.what or f"import {kind.name}")
    progress = progress or _noop
    ctx = Context(source.name, config, engine, user, progress)
    if not isinstance(table_or_batches, pd.DataFrame) and kind.stream is not None:
        return _run_streamed(engine, kind, table_or_batches, source, ctx, user, cancel)
    if isinstance(table_or_batches, pd.DataFrame):
        check_size(len(table_or_batches), _data_columns(table_or_batches), config.limits, source.name)
        table = as_table(table_or_batches, source.name)
    else:
        table = _batches_frame(table_or_batches, source.name, cancel, config.limits)
    sheet = table.attrs.get("sheet", source.sheet)
    rows = kind.parse(table, ctx)
    if source.digest is None:
        d = CellDigest()
        d.add_frame(table.drop(columns="_row"))
        source = source.with_digest(d.hexdigest())
    del table
    if cancel is not None and cancel.is_set():
        raise ImportCancelled("import cancelled; nothing was written")
    if kind.prepare is not None:
        kind.prepare(engine, config, user, rows)
    return write_checked(
        engine,
        kind,
        rows,
        source,
        user=user,
        sheet=sheet,
        progress=progress,
        cancel=cancel,
        cap=config.app.max_import_errors,
    )


def write_checked(
    engine: Engine,
    kind: Kind,
    rows: Any,
    source: Source,
    *,
    user: User,
    sheet: str | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    cap: int = 50,
) -> ImportResult:
    """Write rows `kind.parse` checked: one transaction, rerun when the database asks; see the module doc."""
    for right in kind.rights:
        require(user, right, engine=engine, what=kind.what or f"import {kind.name}")
    progress = progress or _noop

    def attempt() -> ImportResult:
        result = _fresh(kind, source, kind.count(rows), kind.ignored(rows), sheet)
        w = Writing(None, result, source, user, utcnow(), progress, cancel=cancel, cap=cap)
        try:
            with kind.transaction(engine, rows) as handle:
                w.handle = handle
                kind.write(rows, w)
                w.check_cancel()
                if not result.changed:
                    raise _Unchanged
                w.finish()
        except _Unchanged:
            result.previous = find_import(engine, source.digest, kind.name)
        return result

    return retrying(attempt)


def _fresh(kind: Kind, source: Source, n: int, ignored: tuple[str, ...], sheet: str | None) -> ImportResult:
    return ImportResult(
        filename=source.name,
        rows=n,
        sheet=sheet,
        kind=kind.name,
        unit=kind.unit,
        noun=kind.noun,
        added=kind.added,
        ignored_columns=tuple(ignored),
        ignored_label=kind.ignored_label,
    )


class _Watched:
    """Batches as the kind's `stream` reads them: cancel checked before each one, rows and columns counted against
    config [limits] (Arrow batches of a data connector), cells digested when the source has no digest; `n` (rows
    expected) and `from_file` passed on."""

    def __init__(self, batches: Iterable, w: Writing, digest: CellDigest | None, limits: LimitsSection | None = None):
        self.batches, self.w, self.digest = batches, w, digest
        self.limits = limits or LimitsSection()
        self.n, self.from_file = getattr(batches, "n", 0), getattr(batches, "from_file", False)

    def __iter__(self):
        seen = 0
        for b in self.batches:
            self.w.check_cancel()
            if hasattr(b, "num_rows"):  # an Arrow batch (a file's batches are checked from the file before)
                seen += b.num_rows
                check_size(seen, _data_columns(b), self.limits, self.w.source.name)
            if self.digest is not None:
                self.digest.add_frame(arrow_frame(b))
            yield b


def _run_streamed(
    engine: Engine, kind: Kind, batches: Iterable, source: Source, ctx: Context, user: User, cancel
) -> ImportResult:
    """A kind that takes batches one at a time: checked, compared and written batch by batch in one transaction
    (the kind's `stream`); the batches are read once, so a failed attempt is not retried."""
    digest = CellDigest() if source.digest is None else None
    result = _fresh(kind, source, getattr(batches, "n", 0), (), None)
    w = Writing(None, result, source, user, utcnow(), ctx.progress, cancel=cancel)

    try:
        with kind.transaction(engine, batches) as handle:
            w.handle = handle
            kind.stream(_Watched(batches, w, digest, ctx.config.limits), w, ctx)
            w.check_cancel()
            if digest is not None:
                w.source = source = source.with_digest(digest.hexdigest())
            if not result.changed:
                raise _Unchanged
            w.finish()
    except _Unchanged:
        result.previous = find_import(engine, source.digest, kind.name)
    return result
