"""Command line: `python -m kpis COMMAND` (see --help). Exit 0 on success, 2 on bad input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kpis.config import ConfigError, get_config


def _engine(config):
    from kpis.store.engine import get_engine

    return get_engine(config.database_url())


def cmd_check_config(args) -> int:
    cfg = get_config(args.config)
    print(f"{cfg.path.name}: OK — {len(cfg.kpis)} KPIs, database {cfg.database_url().split('@')[-1]}")
    return 0


def cmd_db(args) -> int:
    from kpis.store.engine import current_revision, downgrade, upgrade

    cfg = get_config(args.config)
    engine = _engine(cfg)
    if args.action == "upgrade":
        upgrade(engine)
        from kpis.access.users import current_user
        from kpis.catalog.sync import sync_catalog

        changes = sync_catalog(engine, cfg, current_user(cfg, args.user))
        print(f"database at revision {current_revision(engine)}; catalog: {len(changes)} change(s)")
    elif args.action == "downgrade":
        downgrade(engine, args.revision or "-1")
        print(f"database at revision {current_revision(engine)}")
    else:
        print(current_revision(engine) or "empty (run `python -m kpis db upgrade`)")
    return 0


def cmd_import(args) -> int:
    from kpis.access.users import NotAllowed, current_user
    from kpis.catalog.load import import_actuals
    from kpis.ingest import ImportFailed

    cfg = get_config(args.config)
    user = current_user(cfg, args.user)
    engine = _engine(cfg)
    path = Path(args.file)
    if not path.is_file():
        print(f"{path}: file not found", file=sys.stderr)
        return 2
    try:
        if args.kind == "actuals":
            res = import_actuals(engine, path.read_bytes(), path.name, config=cfg, user=user)
            print(res.summary())
        else:
            from kpis import forecast

            res = forecast.import_file(engine, path, kind=args.kind, config=cfg, user=user)
            print(res.summary())
    except ImportFailed as e:
        print(f"import failed, nothing was written ({e.total} problem{'s' if e.total != 1 else ''}):", file=sys.stderr)
        print(str(e), file=sys.stderr)
        return 2
    except NotAllowed as e:
        print(str(e), file=sys.stderr)
        return 2
    return 0


def cmd_demo(args) -> int:
    from kpis import demo
    from kpis.access.users import current_user
    from kpis.store.engine import upgrade
    from kpis.store.repo import is_empty

    cfg = get_config(args.config)
    engine = _engine(cfg)
    upgrade(engine)
    if not is_empty(engine):
        print("database already has data; demo data is only loaded into an empty database")
        return 0
    summary = demo.load_demo(engine, cfg, current_user(cfg, args.user), seed=args.seed)
    print("demo data loaded: " + ", ".join(f"{v} {k}" for k, v in summary.items()))
    return 0


def _forecast_cube(cfg):
    """The forecast cube of the configured database, or None (message printed) when there is no forecast data."""
    from kpis import forecast

    engine = _engine(cfg)
    cube = forecast.get_cube(engine, cfg, forecast.forecast_version(engine))
    if cube is None:
        print("no forecast data; import demand and forecasts first (python -m kpis import demand|forecasts FILE)",
              file=sys.stderr)
    return cube


def _split(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _filters(specs: list[str] | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for spec in specs or []:
        name, sep, values = spec.partition("=")
        if not sep:
            raise ValueError(f"--filter {spec!r}: expected NAME=VALUE[,VALUE...]")
        out.setdefault(name.strip(), []).extend(_split(values))
    return out


def _print_frame(df, cube, fmt: str) -> None:
    from kpis import periods

    out = df.copy()
    if "period" in out.columns:
        out["period"] = periods.labels(out["period"], cube.cadence).to_numpy()
    if fmt == "csv":
        out.to_csv(sys.stdout, index=False)
    elif out.empty:
        print("(no rows with both an actual and a forecast)")
    else:
        print(out.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def cmd_accuracy(args) -> int:
    cfg = get_config(args.config)
    cube = _forecast_cube(cfg)
    if cube is None:
        return 2
    try:
        df = cube.accuracy(_split(args.by), stage=args.stage, lag=args.lag, period_from=args.period_from,
                           period_to=args.period_to, filters=_filters(args.filter))
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2
    _print_frame(df, cube, args.format)
    return 0


def cmd_fva(args) -> int:
    cfg = get_config(args.config)
    cube = _forecast_cube(cfg)
    if cube is None:
        return 2
    try:
        df = cube.fva(_split(args.by), lag=args.lag, period_from=args.period_from, period_to=args.period_to,
                      filters=_filters(args.filter))
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2
    _print_frame(df, cube, args.format)
    return 0


def _view_options(p: argparse.ArgumentParser, *, stage: bool) -> None:
    p.add_argument("--by", default="", help="comma-separated: item, attribute columns, abc, xyz, period, lag, stage")
    if stage:
        p.add_argument("--stage", help="stage (default: the last configured stage with data)")
    p.add_argument("--lag", type=int, help="only this lag (default: all lags)")
    p.add_argument("--from", dest="period_from", help="first period (2025-03, 2025-W05 or a date)")
    p.add_argument("--to", dest="period_to", help="last period")
    p.add_argument("--filter", action="append", metavar="NAME=V1,V2", help="keep only these values (repeatable)")
    p.add_argument("--format", choices=["table", "csv"], default="table")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kpis", description="S&OP Pulse command line")
    p.add_argument("--config", help="path to config.toml (default: SOP_PULSE_CONFIG or the project's file)")
    p.add_argument("--user", help="act as this user (default: SOP_PULSE_USER or the OS login)")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("check-config", help="validate config.toml and list every problem").set_defaults(func=cmd_check_config)

    db = sub.add_parser("db", help="database schema migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?", help="target revision for downgrade (default: one step)")
    db.set_defaults(func=cmd_db)

    imp = sub.add_parser("import", help="import a CSV, Excel or (demand/forecasts) Parquet file (nothing is written "
                                        "if any row is bad)")
    imp.add_argument("kind", choices=["actuals", "demand", "forecasts"])
    imp.add_argument("file")
    imp.set_defaults(func=cmd_import)

    acc = sub.add_parser("accuracy", help="forecast accuracy per group: n, actual, forecast, mae, rmse, wape, "
                                          "accuracy, mape, mape_excluded, bias, mase (fractions)")
    _view_options(acc, stage=True)
    acc.set_defaults(func=cmd_accuracy)

    fva = sub.add_parser("fva", help="forecast value added stairstep: each stage's wape, FVA vs previous stage and vs naive")
    _view_options(fva, stage=False)
    fva.set_defaults(func=cmd_fva)

    demo = sub.add_parser("demo", help="fill an empty database with the seeded demo company")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print("config.toml has problems:\n" + "\n".join(f"  - {p}" for p in e.problems), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
