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
        from kpis.store.repo import sync_catalog
        from kpis.users import current_user

        changes = sync_catalog(engine, cfg, current_user(cfg, args.user))
        print(f"database at revision {current_revision(engine)}; catalog: {len(changes)} change(s)")
    elif args.action == "downgrade":
        downgrade(engine, args.revision or "-1")
        print(f"database at revision {current_revision(engine)}")
    else:
        print(current_revision(engine) or "empty (run `python -m kpis db upgrade`)")
    return 0


def cmd_import(args) -> int:
    from kpis.ingest import ImportFailed, import_actuals
    from kpis.users import NotAllowed, current_user

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
            from kpis import forecasting

            res = forecasting.import_file(engine, path, kind=args.kind, config=cfg, user=user)
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
    from kpis.store.engine import upgrade
    from kpis.store.repo import is_empty
    from kpis.users import current_user

    cfg = get_config(args.config)
    engine = _engine(cfg)
    upgrade(engine)
    if not is_empty(engine):
        print("database already has data; demo data is only loaded into an empty database")
        return 0
    summary = demo.load_demo(engine, cfg, current_user(cfg, args.user), seed=args.seed)
    print("demo data loaded: " + ", ".join(f"{v} {k}" for k, v in summary.items()))
    return 0


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

    imp = sub.add_parser("import", help="import a CSV or Excel file (nothing is written if any row is bad)")
    imp.add_argument("kind", choices=["actuals", "demand", "forecasts"])
    imp.add_argument("file")
    imp.set_defaults(func=cmd_import)

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
