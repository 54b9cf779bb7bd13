"""Commands that set things up: check-config, db, demo."""

from __future__ import annotations

from kpis.cli import common


def cmd_check_config(args) -> int:
    cfg = common.config(args)
    print(f"{cfg.path.name}: OK — {len(cfg.kpis)} KPIs, database {cfg.database_url().split('@')[-1]}")
    owners = {k.owner for k in cfg.kpis}
    for ex in cfg.executives:
        if ex.name not in owners:
            print(f"note: executive '{ex.name}' owns no KPI in the catalog; their 'KPIs on target' stays empty")
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
    upgrade(engine)
    if not is_empty(engine):
        print("database already has data; demo data is only loaded into an empty database")
        return 0
    summary = demo.load_demo(engine, cfg, common.user(cfg, args), seed=args.seed)
    print("demo data loaded: " + ", ".join(f"{v} {k}" for k, v in summary.items()))
    return 0


def register(sub) -> None:
    sub.add_parser("check-config", help="validate config.toml and list every problem").set_defaults(func=cmd_check_config)

    db = sub.add_parser("db", help="database schema migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?", help="target revision for downgrade (default: one step)")
    db.set_defaults(func=cmd_db)

    demo = sub.add_parser("demo", help="fill an empty database with the seeded demo company")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)
