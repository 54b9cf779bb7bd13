"""Small helpers every command shares: config, engine, acting user, output of a table."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from kpis.access.users import User
    from kpis.config import AppConfig


def config(args) -> AppConfig:
    """The validated config named by --config (or SOP_PULSE_CONFIG, or the project's file)."""
    from kpis.config import get_config

    return get_config(args.config)


def engine(cfg: AppConfig):
    """The configured database's engine (DATABASE_URL overrides the config)."""
    from kpis.store.engine import get_engine

    return get_engine(cfg.database_url())


def user(cfg: AppConfig, args) -> User:
    """The acting user: --user, else SOP_PULSE_USER, else the OS login."""
    from kpis.access.users import current_user

    return current_user(cfg, args.user)


def split(text: str | None) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']."""
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def fail(message: str) -> int:
    """Print a message to stderr and return the bad-input exit code."""
    print(message, file=sys.stderr)
    return 2


def print_frame(df: pd.DataFrame, fmt: str, *, empty: str = "(no rows)") -> None:
    """A data frame as CSV (fractions, full precision without float noise) or as an aligned table."""
    if fmt == "csv":
        from kpis.export import LINE_END, neutralise

        neutralise(df).to_csv(sys.stdout, index=False, float_format="%.12g", lineterminator=LINE_END)
    elif df.empty:
        print(empty)
    else:
        print(df.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def write_csv(columns: dict) -> None:
    """Equal-length columns (name -> sequence) as CSV on stdout: floats with 12 significant digits (no float
    noise), NaN as an empty cell, text neutralised against spreadsheet formulas."""
    import csv
    import math

    from kpis.safety import spreadsheet_cell

    def cell(v):
        if isinstance(v, float) or type(v).__name__.startswith("float"):
            return "" if math.isnan(v) else f"{float(v):.12g}"
        if isinstance(v, str):
            return spreadsheet_cell(v)
        return v.item() if hasattr(v, "item") else v

    names = list(columns)
    out = csv.writer(sys.stdout, lineterminator="\r\n")  # CRLF: a cell holding a line break is quoted
    out.writerow(names)
    for row in zip(*(columns[c] for c in names)):
        out.writerow([cell(v) for v in row])


def add_format(p, choices=("table", "csv")) -> None:
    """The --format option."""
    p.add_argument("--format", choices=list(choices), default=choices[0])
