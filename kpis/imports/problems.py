"""What is wrong with an imported table: a problem located by file, row and column; identical problems grouped;
the collector every kind checks its rows with; ``ImportFailed`` (nothing was written)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd


def too_long(what: str, n: int, limit: int) -> str:
    """The message for a text longer than its column holds."""
    return f"{what} is {n:,} characters long; at most {limit} characters are allowed"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an imported file, located by row and column."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}"


@dataclass(frozen=True)
class ProblemGroup:
    """Identical problems (same file, column and message) on several rows, shown once with a count."""

    file: str
    column: str | None
    message: str
    rows: tuple[int, ...]  # the first rows (as collected)
    count: int  # rows collected with this problem

    def __str__(self) -> str:
        where = [self.file]
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = f" and {self.count - 5} more" if self.count > 5 else ""
            where.append(f"row{'s' if self.count > 1 else ''} {shown}{more}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}"


def group_problems(problems: list[Problem]) -> list[ProblemGroup]:
    """Problems with the same file, column and message merged into one group, in first-seen order."""
    groups: dict[tuple, list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.file, p.column, p.message), []).append(p)
    return [
        ProblemGroup(f, c, m, tuple(p.row for p in ps if p.row is not None), len(ps))
        for (f, c, m), ps in groups.items()
    ]


class ImportFailed(Exception):
    """The file has problems; nothing was written."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems
        self.total = total if total is not None else len(problems)
        more = f"\n… and {self.total - len(problems)} more" if self.total > len(problems) else ""
        super().__init__("\n".join(map(str, group_problems(problems))) + more)

    @property
    def groups(self) -> list[ProblemGroup]:
        """The collected problems with identical ones merged (count and first rows)."""
        return group_problems(self.problems)


def fail(file: str, message: str, row: int | None = None, column: str | None = None) -> ImportFailed:
    """ImportFailed with one problem (raise it)."""
    return ImportFailed([Problem(file, row, column, message)])


def missing_columns(file: str, missing: list[str], expected: str) -> Problem:
    """The problem of a header without required columns, worded alike for every kind."""
    return Problem(file, 1, None, f"missing column(s) {', '.join(repr(c) for c in missing)}; expected {expected}")


class Collector:
    """Collects problems up to a cap while counting all of them."""

    def __init__(self, file: str, cap: int):
        self.file, self.cap, self.items, self.total = file, cap, [], 0

    def add(self, row: int | None, column: str | None, message: str) -> None:
        self.total += 1
        if len(self.items) < self.cap:
            self.items.append(Problem(self.file, row, column, message))

    def add_many(self, rows: pd.Series, column: str | pd.Series, messages: pd.Series | str) -> None:
        """Add one problem per row of a (small or large) selection, vectorised up to the cap; a `column` or
        `messages` series need only cover the first `cap` rows (all are counted)."""
        n = len(rows)
        if n == 0:
            return
        room = max(self.cap - len(self.items), 0)
        cols = column.iloc[:room] if isinstance(column, pd.Series) else itertools.repeat(column)
        msgs = messages.iloc[:room] if isinstance(messages, pd.Series) else itertools.repeat(messages)
        for r, c, m in zip(rows.iloc[:room], cols, msgs):
            self.items.append(Problem(self.file, int(r), str(c), str(m)))
        self.total += n

    def raise_if_any(self) -> None:
        if self.total:
            ordered = sorted(self.items, key=lambda p: (p.row is not None, p.row or 0, p.column or ""))
            raise ImportFailed(ordered, self.total)
