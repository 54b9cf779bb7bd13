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
    "kpis.cli.sources",
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
    """Run one command; config problems, refused permissions, a database that cannot be used or a migration or backup
    that cannot be done end with exit 2 and one line, never a traceback, SQL or a password."""
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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the database unreachable or refusing: one clear line, never SQL or a traceback
        from kpis import redact

        if type(e).__name__ in CLEAR_ERRORS:
            print(redact.text(e), file=sys.stderr)
            return 2
        if not _is_database_error(e):
            return _unexpected(e)
        from kpis.store.engine import describe_db_error

        reason = describe_db_error(e)
        hint = (
            "run `python -m kpis db upgrade`"
            if "no such table" in reason or "does not exist" in reason or "UndefinedTable" in reason
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


def _unexpected(e: BaseException) -> int:
    """Anything else: one line naming the error (its text redacted), exit 1; SOP_PULSE_DEBUG=1 shows the traceback."""
    import os
    import traceback

    from kpis import redact

    if os.environ.get("SOP_PULSE_DEBUG"):
        print(redact.text("".join(traceback.format_exception(e))), file=sys.stderr, end="")
    detail = redact.text(str(e)).strip().splitlines()
    reason = f": {detail[0][:300]}" if detail else ""
    print(
        f"the command failed ({type(e).__name__}{reason}); run again with SOP_PULSE_DEBUG=1 for the details",
        file=sys.stderr,
    )
    return 1


# Errors whose message is written for the person running the command (found by name, without importing them):
# the forecast data past the size limit (kpis.forecast.cube), a database URL that cannot be used, a migration that
# cannot run (kpis.store.engine), a backup or restore refused (kpis.store.backup).
CLEAR_ERRORS = frozenset({"CubeTooLarge", "DatabaseUrlError", "MigrationError", "BackupError"})


def _is_database_error(e: BaseException) -> bool:
    """True for a database that cannot be reached or used (SQLAlchemy's, the drivers' or SQLite's errors: a table
    that does not exist in an un-migrated database too), found without importing those packages."""
    names = {c.__name__ for c in type(e).__mro__}
    return bool(names & {"OperationalError", "InterfaceError", "ProgrammingError", "DBAPIError", "DatabaseError"})
