"""Executive sponsorship commands: scorecard."""

from __future__ import annotations

from kpis.cli import common

COLUMNS = [
    "executive",
    "attendance_rate",
    "decision_latency_days",
    "pending_decisions",
    "sponsored_on_time",
    "overdue_sponsored",
    "kpis_on_target",
    "sponsorship_maturity",
]


def cmd_scorecard(args) -> int:
    from kpis.sponsorship import scorecard as sc

    cfg = common.config(args)
    try:
        q = sc.parse_quarter(args.quarter)
    except ValueError as e:
        return common.fail(str(e))
    if not cfg.executives:
        return common.fail("no executives in config.toml; add [[executive]] tables with name and title")
    table = sc.portfolio(sc.load_inputs(common.engine(cfg), cfg), cfg, q)[COLUMNS]
    # Counts are whole numbers; undefined figures stay empty in CSV.
    for c in ("pending_decisions", "overdue_sponsored"):
        table[c] = table[c].astype("Int64")
    common.print_frame(table, args.format)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "scorecard",
        help="executive sponsorship scorecard for a quarter: one row per executive "
        "(rates as fractions; empty where a figure is undefined)",
    )
    p.add_argument("--quarter", required=True, help="YYYY-Qn, e.g. 2026-Q3")
    common.add_format(p)
    p.set_defaults(func=cmd_scorecard)
