"""KPI catalog read commands: trend (one KPI's series with target, status, partial flag, limits and signals)."""

from __future__ import annotations

from kpis.cli import common


def cmd_trend(args) -> int:
    import pandas as pd

    from kpis import series
    from kpis.catalog import trends

    cfg = common.config(args)
    try:
        kpi = series.resolve_kpi(cfg, args.kpi)
    except ValueError as e:
        return common.fail(str(e))
    by = args.by or kpi.cadence
    if by not in trends.rollup_choices(kpi):
        return common.fail(f"{kpi.name} is {kpi.cadence}ly; --by can be {', '.join(trends.rollup_choices(kpi))}")
    data = series.kpi_series(common.engine(cfg), cfg, kpi.id, args.segment or "")
    if data.empty:
        return common.fail(
            f"no values for {kpi.id}{' in segment ' + repr(args.segment) if args.segment else ''}; "
            "import them with `python -m kpis import actuals FILE`"
        )
    view = trends.trend_view(data, kpi, cadence=by, currency=cfg.app.currency, include_partial=args.include_partial)
    table = trends.export_table(view, cfg.app.currency)
    if args.format == "table":
        table = table.assign(partial=table["partial"].map({True: "yes", False: ""}))
        common.print_frame(table.fillna(pd.NA).astype(object).where(table.notna(), ""), "table")
        if view.partial_note:
            print("\n" + view.partial_note)
    else:
        common.print_frame(table, "csv")
    return 0


def register(sub) -> None:
    """Add the catalog commands."""
    p = sub.add_parser(
        "trend",
        help="one KPI's trend as the KPI trends page shows it: period, value, target, "
        "status, partial, centre, lower_limit, upper_limit, signal",
    )
    p.add_argument("kpi", help="KPI id or name (any case)")
    p.add_argument("--segment", default="", help="a segment (default: the total)")
    p.add_argument("--by", choices=["week", "month", "quarter", "year"], help="roll up to (default: the KPI's cadence)")
    p.add_argument(
        "--include-partial",
        action="store_true",
        help="count partial periods (missing some weeks or months) in limits, signals and status",
    )
    common.add_format(p)
    p.set_defaults(func=cmd_trend)
