"""Forecast-accuracy read commands: accuracy, fva."""

from __future__ import annotations

import sys

from kpis.cli import common


def _cube(cfg):
    """The forecast cube of the configured database, or None (message printed) when there is no forecast data.
    Read straight from its snapshot when there is one (no SQLAlchemy, no pandas), else loaded and built."""
    from kpis.forecast.cache import cube_from_snapshot

    answered, cube = cube_from_snapshot(cfg)
    if not answered:
        from kpis.forecast.cache import forecast_version, get_cube

        engine = common.engine(cfg)
        cube = get_cube(engine, cfg, forecast_version(engine))
    if cube is None:
        print(
            "no forecast data; import demand and forecasts first (python -m kpis import demand|forecasts FILE)",
            file=sys.stderr,
        )
    return cube


def _filters(specs: list[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for spec in specs or []:
        name, sep, values = spec.partition("=")
        if not sep:
            raise ValueError(f"--filter {spec!r}: expected NAME=VALUE[,VALUE...]")
        out.setdefault(name.strip(), []).extend(common.split(values))
    return out


def _print(df, cube, fmt: str) -> None:
    from kpis import periods

    out = df.copy()
    if "period" in out.columns:
        out["period"] = periods.labels(out["period"], cube.cadence).to_numpy()
    common.print_frame(out, fmt, empty="(no rows with both an actual and a forecast)")


def cmd_accuracy(args) -> int:
    cfg = common.config(args)
    cube = _cube(cfg)
    if cube is None:
        return 2
    view = dict(
        stage=args.stage,
        lag=args.lag,
        period_from=args.period_from,
        period_to=args.period_to,
        filters=_filters(args.filter),
    )
    try:
        if args.format == "csv":  # straight from the arrays: the CSV path never imports pandas
            columns = cube.accuracy_columns(common.split(args.by), **view)
            if "period" in columns:
                from kpis import periods

                columns["period"] = [periods.label(p, cube.cadence) for p in columns["period"]]
            common.write_csv(columns)
            return 0
        df = cube.accuracy(common.split(args.by), **view)
    except ValueError as e:
        return common.fail(str(e))
    _print(df, cube, args.format)
    return 0


def cmd_fva(args) -> int:
    cfg = common.config(args)
    cube = _cube(cfg)
    if cube is None:
        return 2
    try:
        df = cube.fva(
            common.split(args.by),
            lag=args.lag,
            period_from=args.period_from,
            period_to=args.period_to,
            filters=_filters(args.filter),
        )
    except ValueError as e:
        return common.fail(str(e))
    _print(df, cube, args.format)
    return 0


def _view_options(p, *, stage: bool) -> None:
    p.add_argument("--by", default="", help="comma-separated: item, attribute columns, abc, xyz, period, lag, stage")
    if stage:
        p.add_argument("--stage", help="stage (default: the last configured stage with data)")
    p.add_argument("--lag", type=int, help="only this lag (default: all lags)")
    p.add_argument("--from", dest="period_from", help="first period (2025-03, 2025-W05 or a date)")
    p.add_argument("--to", dest="period_to", help="last period")
    p.add_argument("--filter", action="append", metavar="NAME=V1,V2", help="keep only these values (repeatable)")
    common.add_format(p)


def register(sub) -> None:
    acc = sub.add_parser(
        "accuracy",
        help="forecast accuracy per group: n, actual, forecast, mae, rmse, wape, "
        "accuracy, mape, mape_excluded, bias, mase (fractions)",
    )
    _view_options(acc, stage=True)
    acc.set_defaults(func=cmd_accuracy)

    fva = sub.add_parser(
        "fva",
        help=(
            "forecast value added stairstep on the matched sample (item-periods where every stage "
            "has a forecast): wape, FVA vs previous and vs naive, n, rows left out"
        ),
    )
    _view_options(fva, stage=False)
    fva.set_defaults(func=cmd_fva)
