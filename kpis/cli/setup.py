"""Commands that set things up: check-config, db, demo."""

from __future__ import annotations

import sys

from kpis.cli import common


def cmd_check_config(args) -> int:
    from kpis import redact
    from kpis.store.engine import check_url

    cfg = common.config(args)
    check_url(cfg.database_url())  # an unknown driver or a port that is not a number: one line, exit 2
    if cfg.sources:
        from kpis.config import ConfigError
        from kpis.sources.config import missing_env

        if problems := missing_env(cfg.sources, cfg.path.name):
            raise ConfigError(problems)
    print(f"{cfg.path.name}: OK — {len(cfg.kpis)} KPIs, database {redact.url(cfg.database_url(), user=False)}")
    owners = {k.owner for k in cfg.kpis}
    for ex in cfg.executives:
        if ex.name not in owners:
            print(f"note: executive '{ex.name}' owns no KPI in the catalog; their 'KPIs on target' stays empty")
    if cfg.sources:
        print(f"sources: {', '.join(s.name for s in cfg.sources)}")
    return 0


def cmd_db(args) -> int:
    from kpis.store.engine import current_revision, downgrade, upgrade

    cfg = common.config(args)
    engine = common.engine(cfg)
    if args.action == "upgrade":
        upgrade(engine)
        from kpis.catalog.sync import sync_catalog

        changes = sync_catalog(engine, cfg, common.user(cfg, args))
        print(f"database at revision {current_revision(engine)}; catalog: {len(changes)} change(s)")
    elif args.action == "downgrade":
        from kpis.access.users import require

        require(common.user(cfg, args), "admin", engine=engine, what="db downgrade")
        if not args.yes:
            return common.fail(
                "db downgrade removes tables and columns and the data in them; run it again with "
                "--yes if that is what you want (back up first: python -m kpis backup FILE)"
            )
        downgrade(engine, args.revision or "-1")
        print(f"database at revision {current_revision(engine)}")
    else:
        print(current_revision(engine) or "empty (run `python -m kpis db upgrade`)")
    return 0


def cmd_demo(args) -> int:
    from kpis import demo
    from kpis.store.engine import upgrade
    from kpis.store.repo import is_empty

    cfg = common.config(args)
    engine = common.engine(cfg)
    user = common.user(cfg, args)
    upgrade(engine)
    if not is_empty(engine):
        if not args.yes:
            print("database already has data; demo data is only loaded into an empty database")
            print("(`python -m kpis demo --yes` replaces everything with the demo; admins only)", file=sys.stderr)
            return 0
        from kpis.access.users import require
        from kpis.store.engine import downgrade

        require(user, "admin", engine=engine, what="demo --yes")
        downgrade(engine, "base")
        upgrade(engine)
    summary = demo.load_demo(engine, cfg, user, seed=args.seed)
    print("demo data loaded: " + ", ".join(f"{v} {k}" for k, v in summary.items()))
    from kpis.sources.run import run_source

    for src in (s for s in cfg.sources if s.path):  # the folder sources shipped with the demo: one run each
        r = run_source(engine, cfg, src)
        print(f"source {src.name}: {r.status}, {r.inserted} inserted" + (f" ({r.message})" if r.message else ""))
    return 0


def cmd_backup(args) -> int:
    from pathlib import Path

    from kpis.access.backups import backup_database

    cfg = common.config(args)
    pages = backup_database(common.engine(cfg), cfg.database_url(), common.user(cfg, args), Path(args.file))
    print(f"backed up to {args.file} ({pages} pages)")
    return 0


def cmd_restore(args) -> int:
    from pathlib import Path

    from kpis.access.backups import check_restore, restore_database

    cfg = common.config(args)
    engine = common.engine(cfg)
    user = common.user(cfg, args)
    rev = check_restore(engine, user, Path(args.file))
    if not args.yes:
        return common.fail(
            f"{args.file} is a good backup (schema revision {rev}); restoring replaces everything "
            "stored now (a copy of it is kept aside). Run again with --yes to do it."
        )
    rev, kept = restore_database(engine, cfg.database_url(), user, Path(args.file))
    print(
        f"restored {args.file} (schema revision {rev}, now at the latest revision); "
        f"the database as it was is kept in {kept}"
    )
    return 0


def register(sub) -> None:
    sub.add_parser("check-config", help="validate config.toml and list every problem").set_defaults(
        func=cmd_check_config
    )

    db = sub.add_parser("db", help="database schema migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?", help="target revision for downgrade (default: one step)")
    db.add_argument("--yes", action="store_true", help="confirm a downgrade (admins only; it drops data)")
    db.set_defaults(func=cmd_db)

    demo = sub.add_parser("demo", help="fill an empty database with the seeded demo company")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--yes", action="store_true", help="replace a database that has data with the demo (admins only)")
    demo.set_defaults(func=cmd_demo)

    bk = sub.add_parser("backup", help="copy the SQLite database into a new file (online, consistent; admins only)")
    bk.add_argument("file")
    bk.set_defaults(func=cmd_backup)

    rs = sub.add_parser("restore", help="replace the SQLite database with a backup (admins only, needs --yes)")
    rs.add_argument("file")
    rs.add_argument("--yes", action="store_true", help="confirm: everything stored now is replaced by the backup")
    rs.set_defaults(func=cmd_restore)
