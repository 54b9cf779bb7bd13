"""Importing assessments (a survey export, CSV or Excel): one row per respondent and quarter.

Columns: respondent, team, period (YYYY-Qn), one column per practice id holding 1-5 or empty for
"don't know", optional function, comment and comment_<practice>. A respondent's quarter already stored
is replaced (audited). Every problem names file, row and column; a file with any problem writes nothing;
importing the same content again changes nothing.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from kpis.access.users import User, require
from kpis.config import FUNCTIONS, PRACTICES, AppConfig
from kpis.ingest import (
    ImportFailed,
    ImportResult,
    Problem,
    _Collector,
    _text,
    read_table,
    too_long,
)
from kpis.maturity.assessments import (
    MAX_COMMENT,
    MAX_NAME,
    Answers,
    parse_quarter,
    quarter_label,
    write,
)
from kpis.store import audit
from kpis.store.engine import session_factory
from kpis.store.models import ImportBatch, utcnow
from kpis.store.repo import find_import
from kpis.store.retry import retrying

REQUIRED = ("respondent", "team", "period")
OPTIONAL = ("function", "comment")
DONT_KNOW = {"", "don't know", "dont know", "don’t know", "dk", "n/a", "na", "?"}
KIND = "assessments"


@dataclass
class AssessmentImport(ImportResult):
    """What an assessments import changed, and which columns it did not use."""

    ignored: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = super().summary().replace("values already stored", "assessments already stored")
        if self.ignored:
            text += f" Columns not used: {', '.join(self.ignored)}."
        return text


def _columns(df: pd.DataFrame, name: str) -> tuple[dict[str, str], list[str]]:
    """Map of known column names (lower case) to the file's names, and the columns that are not used."""
    cols = {str(c).strip().lower(): c for c in df.columns if c != "_row"}
    known = {*REQUIRED, *OPTIONAL, *PRACTICES, *(f"comment_{p}" for p in PRACTICES)}
    problems, ignored = [], []
    for low, orig in cols.items():
        if low in known:
            continue
        hint = difflib.get_close_matches(low, sorted(known), n=1, cutoff=0.8)
        if hint or low.startswith("comment_"):
            what = (
                f"did you mean '{hint[0]}'?"
                if hint
                else f"expected comment_<practice> with a practice id of {list(PRACTICES)}"
            )
            problems.append(Problem(name, 1, str(orig), f"unknown column; {what}"))
        else:
            ignored.append(str(orig))
    missing = [c for c in (*REQUIRED, *PRACTICES) if c not in cols]
    if missing:
        problems.insert(
            0,
            Problem(
                name,
                1,
                None,
                f"missing column(s) {', '.join(repr(c) for c in missing)}; expected "
                f"respondent, team, period and one column per practice id "
                f"({', '.join(PRACTICES)})",
            ),
        )
    if problems:
        raise ImportFailed(problems)
    return cols, ignored


def _score(raw: str) -> tuple[int | None, str]:
    """A score from a cell: (value, '') or (None, error); "don't know" cells give (None, '')."""
    text = raw.strip()
    if text.lower() in DONT_KNOW:
        return None, ""
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # 'inf', 'nan' and words
        return None, f"'{text}' is not a score; expected a whole number from 1 to 5, or empty for \"don't know\""
    if value != int(value) or not 1 <= value <= 5:
        return None, f'{text} is not a whole number from 1 to 5 (empty means "don\'t know")'
    return int(value), ""


def validate(df: pd.DataFrame, filename: str, config: AppConfig) -> tuple[list[Answers], list[str]]:
    """Checked answers, one per row, and the ignored columns; ImportFailed lists every problem."""
    name = Path(filename).name
    cols, ignored = _columns(df, name)
    bag = _Collector(name, config.app.max_import_errors)
    text = {low: _text(df[orig]) for low, orig in cols.items()}
    rows = df["_row"].astype(int).tolist()
    out: list[Answers] = []
    seen: dict[tuple, int] = {}
    for i, r in enumerate(rows):
        cells = {c: v.iloc[i] for c, v in text.items()}

        def cell(c: str, cells: dict = cells) -> str:
            return cells.get(c, "")

        ok = True
        for c in ("respondent", "team"):
            if not cell(c):
                bag.add(r, cols[c], f"{c} is empty")
                ok = False
            elif len(cell(c)) > MAX_NAME:
                bag.add(r, cols[c], too_long(c, len(cell(c)), MAX_NAME))
                ok = False
        try:
            period = parse_quarter(cell("period"))
        except ValueError as e:
            bag.add(r, cols["period"], str(e) if cell("period") else "period is empty; expected YYYY-Qn, e.g. 2025-Q3")
            ok, period = False, None
        func = cell("function").lower()
        if func and func not in FUNCTIONS:
            bag.add(r, cols["function"], f"function '{cell('function')}' is not one of {', '.join(FUNCTIONS)}")
            ok = False
        scores: dict[str, int | None] = {}
        for p in PRACTICES:
            scores[p], err = _score(cell(p))
            if err:
                bag.add(r, cols[p], err)
                ok = False
        comments = {p: cell(f"comment_{p}") for p in PRACTICES if cell(f"comment_{p}")}
        for c in [*(f"comment_{p}" for p in comments), "comment"]:
            if len(cell(c)) > MAX_COMMENT:
                bag.add(r, cols[c], too_long("comment", len(cell(c)), MAX_COMMENT))
                ok = False
        if period is not None and cell("respondent"):
            key = (cell("respondent"), period)
            if key in seen:
                bag.add(
                    r,
                    cols["respondent"],
                    f"duplicate: row {seen[key]} already has {key[0]} for "
                    f"{quarter_label(period)} (one row per respondent and quarter)",
                )
                ok = False
            seen.setdefault(key, r)
        if ok:
            out.append(
                Answers(
                    period=period,
                    respondent=cell("respondent"),
                    team=cell("team"),
                    function=func,
                    scores=scores,
                    comments=comments,
                    comment=cell("comment"),
                )
            )
    bag.raise_if_any()
    return out, ignored


def import_assessments(
    engine: Engine, data: bytes, filename: str, *, config: AppConfig, user: User
) -> AssessmentImport:
    """Validate a file and store its assessments in one audited transaction (nothing on any problem)."""
    require(user, "import", engine=engine, what="import assessments")
    df = read_table(data, filename, max_mb=config.app.max_upload_mb, cap=config.app.max_import_errors)
    answers, ignored = validate(df, filename, config)
    name, sha = Path(filename).name, hashlib.sha256(data).hexdigest()

    def store() -> AssessmentImport:
        result = AssessmentImport(filename=name, rows=len(answers), ignored=ignored)
        now = utcnow()
        with session_factory(engine).begin() as s:
            for a in answers:
                outcome = write(s, answers=a, user=user, now=now, source=f"import {name}")
                setattr(result, outcome, getattr(result, outcome) + 1)
            if not result.changed:
                result.previous = find_import(engine, sha, KIND)
                return result
            batch = ImportBatch(
                kind=KIND,
                filename=name,
                sha256=sha,
                rows_in_file=len(answers),
                inserted=result.inserted,
                updated=result.updated,
                unchanged=result.unchanged,
                created_at=now,
                created_by=user.name,
            )
            s.add(batch)
            s.flush()
            result.batch_id = batch.id
            audit.record(
                s,
                user=user,
                action="import",
                entity="import_batch",
                entity_id=batch.id,
                details={
                    "file": name,
                    "kind": KIND,
                    "inserted": result.inserted,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                    "sha256": sha,
                },
            )
        return result

    # two imports of the same file at once: the second runs again and finds the first one's answers
    return retrying(store)


def import_assessments_file(engine: Engine, path: Path, *, config: AppConfig, user: User) -> AssessmentImport:
    """import_assessments on a file named on the command line."""
    return import_assessments(engine, Path(path).read_bytes(), Path(path).name, config=config, user=user)
