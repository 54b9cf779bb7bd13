"""`python -m kpis import KIND FILE`: every import kind, each answered by its domain's loader.

A loader is ``f(engine, path, *, config, user, sheet=None) -> result`` where ``result.summary()`` is one line;
it raises ``kpis.imports.problems.ImportFailed`` (nothing written) on any bad row.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from kpis.cli import common

# kind -> "module:function"; each domain adds its own kinds here.
IMPORTERS = {
    "actuals": "kpis.catalog.load:import_actuals_file",
    "demand": "kpis.forecast.load:import_demand_file",
    "forecasts": "kpis.forecast.load:import_forecasts_file",
    "assessments": "kpis.maturity.load:import_assessments_file",
    "meetings": "kpis.sponsorship.load:import_meetings_file",
    "decisions": "kpis.sponsorship.load:import_decisions_file",
    "actions": "kpis.improvement.load:import_actions_file",
    "comments": "kpis.commentary:import_comments_file",
}


def cmd_import(args) -> int:
    from kpis.imports.problems import ImportFailed

    cfg = common.config(args)
    user = common.user(cfg, args)
    engine = common.engine(cfg)
    path = Path(args.file)
    if not path.is_file():
        return common.fail(f"{path}: file not found")
    module, _, func = IMPORTERS[args.kind].partition(":")
    loader = getattr(importlib.import_module(module), func)
    kwargs = {"sheet": args.sheet} if args.sheet else {}
    if args.sheet and path.suffix.lower() not in (".xlsx", ".xlsm"):
        return common.fail(f"{path.name}: --sheet applies to Excel files only")
    try:
        res = loader(engine, path, config=cfg, user=user, **kwargs)
    except ImportFailed as e:
        print(f"import failed, nothing was written ({e.total} problem{'s' if e.total != 1 else ''}):", file=sys.stderr)
        print(str(e), file=sys.stderr)
        return 2
    print(res.summary())
    return 0


def register(sub) -> None:
    imp = sub.add_parser(
        "import", help="import a CSV, Excel or (demand/forecasts) Parquet file (nothing is written if any row is bad)"
    )
    imp.add_argument("kind", choices=list(IMPORTERS))
    imp.add_argument("file")
    imp.add_argument("--sheet", help="Excel: the sheet to read (default: the first one)")
    imp.set_defaults(func=cmd_import)
