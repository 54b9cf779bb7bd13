"""The command line, `python -m kpis COMMAND` (see --help). Exit 0 on success, 2 on bad input.

Each domain registers its commands in its own module here (``register(sub)``). Those modules
import nothing heavy at the top: a command imports what it needs when it runs, so every command
pays only for the packages it uses (``python -X importtime -m kpis accuracy ...`` shows it).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that add sub-commands, in the order they appear in --help.
COMMAND_MODULES = (
    "kpis.cli.setup",
    "kpis.cli.imports",
    "kpis.cli.forecast",
    "kpis.cli.maturity",
    "kpis.cli.sponsorship",
    "kpis.cli.improvement",
    "kpis.cli.catalog",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command."""
    p = argparse.ArgumentParser(prog="python -m kpis", description="S&OP Pulse command line")
    p.add_argument("--config", help="path to config.toml (default: SOP_PULSE_CONFIG or the project's file)")
    p.add_argument("--user", help="act as this user (default: SOP_PULSE_USER or the OS login)")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; config problems and refused permissions end with exit 2 and a message, not a traceback."""
    from kpis.config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a reader that stopped early (`| head`) is noticed here, not at exit
        return code
    except BrokenPipeError:
        return _reader_gone()
    except ConfigError as e:
        print("config.toml has problems:\n" + "\n".join(f"  - {p}" for p in e.problems), file=sys.stderr)
        return 2
    except PermissionError as e:  # kpis.access.users.NotAllowed
        print(str(e), file=sys.stderr)
        return 2
    except Exception as e:  # the database unreachable or refusing: one clear line, never SQL or a traceback
        if type(e).__name__ == "CubeTooLarge":  # kpis.forecast.cube: the forecast data past the size limit
            print(str(e), file=sys.stderr)
            return 2
        if not _is_database_error(e):
            raise
        from kpis.store.engine import describe_db_error

        reason = describe_db_error(e)
        hint = (
            "run `python -m kpis db upgrade`"
            if "no such table" in reason or "does not exist" in reason
            else "check DATABASE_URL or [database] url in config.toml"
        )
        print(f"the database could not answer ({reason}); {hint}", file=sys.stderr)
        return 2


def _reader_gone() -> int:
    """The output's reader closed the pipe (`python -m kpis accuracy ... | head`): end quietly, as other command
    line tools do, with nothing more written to the closed pipe (no BrokenPipeError at exit)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 0


def _is_database_error(e: BaseException) -> bool:
    """True for a database that cannot be reached or used (SQLAlchemy's, the drivers' or SQLite's
    OperationalError / InterfaceError), found without importing those packages."""
    names = {c.__name__ for c in type(e).__mro__}
    return bool(names & {"OperationalError", "InterfaceError"})
