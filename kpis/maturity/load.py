"""Importing assessments (a survey export, CSV or Excel): one row per respondent and quarter.

Columns: respondent, team, period (YYYY-Qn), one column per practice id holding 1-5 or empty for
"don't know", optional function, comment and comment_<practice>. A respondent's quarter already stored
is replaced (audited). Every problem names file, row and column; a file with any problem writes nothing;
importing the same content again changes nothing.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from kpis.access.users import User, require
from kpis.config import FUNCTIONS, PRACTICES, AppConfig
from kpis.imports.cells import text as cell_text
from kpis.imports.problems import Collector, ImportFailed, Problem, missing_columns, too_long
from kpis.imports.read import read_table
from kpis.imports.result import ImportResult
from kpis.imports.runner import Context, Kind, Writing, run_import
from kpis.imports.source import Source
from kpis.maturity.assessments import (
    MAX_COMMENT,
    MAX_NAME,
    Answers,
    parse_quarter,
    quarter_label,
    write,
)

REQUIRED = ("respondent", "team", "period")
OPTIONAL = ("function", "comment")
DONT_KNOW = {"", "don't know", "dont know", "don’t know", "dk", "n/a", "na", "?"}
KIND = "assessments"


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
        problems.insert(0, missing_columns(name, missing, COLUMNS))
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


def check_rows(df: pd.DataFrame, filename: str, config: AppConfig) -> tuple[list[Answers], list[str]]:
    """Checked answers, one per row, and the ignored columns; ImportFailed lists every problem."""
    name = Path(filename).name
    cols, ignored = _columns(df, name)
    bag = Collector(name, config.app.max_import_errors)
    text = {low: cell_text(df[orig]) for low, orig in cols.items()}
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


def check_assessments(table: pd.DataFrame, ctx: Context) -> tuple[list[Answers], list[str]]:
    return check_rows(table, ctx.file, ctx.config)


def import_assessments(engine: Engine, data: bytes, filename: str, *, config: AppConfig, user: User) -> ImportResult:
    """Validate a file and store its assessments in one audited transaction (nothing on any problem)."""
    require(user, "import", engine=engine, what="import assessments")
    df = read_table(
        data, filename, max_mb=config.app.max_upload_mb, cap=config.app.max_import_errors, limits=config.limits
    )
    return run_import(engine, ASSESSMENTS, df, Source.of_bytes(data, filename), config=config, user=user)


def store_assessments(checked: tuple[list[Answers], list[str]], w: Writing) -> None:
    """Store each respondent's quarter (a stored one is replaced, audited by kpis.maturity.assessments.write)."""
    for a in checked[0]:
        outcome = write(w.handle, answers=a, user=w.user, now=w.now, source=f"import {w.source.name}")
        setattr(w.result, outcome, getattr(w.result, outcome) + 1)


COLUMNS = f"respondent, team, period and one column per practice id ({', '.join(PRACTICES)})"
ASSESSMENTS = Kind(
    name=KIND,
    columns=COLUMNS,
    parse=check_assessments,
    write=store_assessments,
    what="import assessments",
    unit="assessments",
    count=lambda checked: len(checked[0]),
    ignored=lambda checked: tuple(checked[1]),
    ignored_label="Columns not used",
)


def import_assessments_file(engine: Engine, path: Path, *, config: AppConfig, user: User) -> ImportResult:
    """import_assessments on a file named on the command line."""
    return import_assessments(engine, Path(path).read_bytes(), Path(path).name, config=config, user=user)
