"""`python -m kpis sync [NAME ...] [--format table|json] [--watch]`: run the [[source]] tables of config.toml.

Exit 0 when every source succeeded or had nothing new (or was already running elsewhere); 2 when a source's data
was refused (that source wrote nothing; the others still ran); 3 when a source could not be reached or read.
"""

from __future__ import annotations

import sys

from kpis.cli import common


def cmd_sync(args) -> int:
    import json
    import logging

    from kpis.sources.run import frame, run_source

    cfg = common.config(args)
    engine = common.engine(cfg)
    by_name = {s.name: s for s in cfg.sources}
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        known = ", ".join(by_name) or "none declared"
        return common.fail(f"unknown source(s) {', '.join(unknown)}; the sources are: {known}")
    chosen = [by_name[n] for n in args.names] if args.names else list(cfg.sources)
    if args.watch:
        from kpis.sources.watch import watch

        if not any(s.schedule for s in chosen):
            return common.fail('no source to watch has a schedule; add schedule = "<cron>" to its [[source]]')
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
        watch(engine, cfg, sources=chosen)
        return 0
    if not chosen:
        return common.fail("config.toml declares no [[source]]; see docs/sources.md")
    results = [run_source(engine, cfg, s) for s in chosen]
    if args.format == "json":
        print(
            json.dumps([{**r.row(), "problems": r.problems, "files": r.files, "message": r.message} for r in results])
        )
    else:
        common.print_frame(frame(results), "table")
    for r in results:  # one line per source that has something to say; a refused one lists its problems
        if r.message:
            print(r.message, file=sys.stderr)
        if r.status == "refused":
            for p in r.problems:
                print(f"  {p}", file=sys.stderr)
    return max(r.exit_code for r in results)


def register(sub) -> None:
    p = sub.add_parser("sync", help="read the [[source]] tables of config.toml (all, or the named ones)")
    p.add_argument("names", nargs="*", metavar="NAME", help="the sources to run (default: every source)")
    p.add_argument("--watch", action="store_true", help="stay running and run each source at its schedule")
    common.add_format(p, ("table", "json"))
    p.set_defaults(func=cmd_sync)
