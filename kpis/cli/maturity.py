"""Integration maturity read command: maturity --by period[,team]."""

from __future__ import annotations

from kpis.cli import common

COLUMNS = ["practice", "n", "median", "mean", "min", "max", "spread", "target", "gap", "dont_know"]


def cmd_maturity(args) -> int:
    from kpis.maturity import aggregate, assessments

    by = common.split(args.by) or ["period"]
    if by not in (["period"], ["period", "team"]):
        return common.fail(f"--by {args.by!r}: expected 'period' or 'period,team'")
    cfg = common.config(args)
    scores = assessments.load_scores(common.engine(cfg))
    if scores.empty:
        return common.fail(
            "no assessments yet; submit them on the Assess page or run `python -m kpis import assessments FILE`"
        )
    table = aggregate.for_export(aggregate.summarise(scores, cfg.maturity.targets, by=tuple(by)))
    common.print_frame(table[[*by, *COLUMNS]], args.format)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "maturity",
        help="integration maturity per quarter (and team) and practice: n, median, mean, "
        "min, max, spread, target, gap; practice 'overall' = the maturity index",
    )
    p.add_argument("--by", default="period", help="period (default) or period,team")
    common.add_format(p)
    p.set_defaults(func=cmd_maturity)
