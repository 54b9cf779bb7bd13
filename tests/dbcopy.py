"""Copy a test's SQLite database the way SQLite allows it: through its online backup API.

A plain file copy opens and closes the database file in the test process; on POSIX that close drops every lock the
process's own SQLite connections hold on the file, so a server process writing the same database can checkpoint
and reset its WAL under them and leave the file malformed (CI saw "database disk image is malformed" on the shared
demo database). The backup API reads through SQLite's locks and includes pages still in the -wal file."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def copy_db(source: str | Path, target: str | Path) -> Path:
    """Copy the SQLite database `source` (a path or a sqlite:/// URL) into the new file `target`; returns target."""
    src_path = str(source).removeprefix("sqlite:///")
    target = Path(str(target).removeprefix("sqlite:///"))
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True, timeout=60)
    dst = sqlite3.connect(target, timeout=60)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target
