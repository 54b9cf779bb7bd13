"""Where an imported table came from, and the digest of its content.

A file (uploaded bytes or a path named on the command line) is digested as the bytes it holds, so importing the
same file again is recognised. A table from elsewhere (a database query, a folder of files: the data connectors)
is digested from its cells. Messages name the source by `name`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

BLOCK = 8 << 20  # bytes read at a time when digesting a file on disk


@dataclass(frozen=True)
class Source:
    """Where a table came from: a file (`path` or uploaded bytes), a database `query` or a `folder`; `name` is what
    messages and the import history call it; `digest` is the SHA-256 of the content (None: the runner digests the
    table's cells as it reads them)."""

    name: str
    digest: str | None = None
    path: Path | None = None
    query: str | None = None
    folder: str | None = None
    sheet: str | None = None

    @classmethod
    def of_bytes(cls, data: bytes, filename: str, *, sheet: str | None = None) -> Source:
        """An uploaded file."""
        return cls(Path(filename).name, hashlib.sha256(data).hexdigest(), sheet=sheet)

    @classmethod
    def of_path(cls, path: str | Path, *, name: str | None = None, sheet: str | None = None) -> Source:
        """A file on disk, digested a block at a time (memory does not grow with the file)."""
        path = Path(path)
        h = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(BLOCK):
                h.update(block)
        return cls(Path(name or path.name).name, h.hexdigest(), path=path, sheet=sheet)

    @classmethod
    def of_query(cls, name: str, query: str) -> Source:
        """Rows read by a database query (digested from the cells by the runner)."""
        return cls(name, None, query=query)

    @classmethod
    def of_folder(cls, name: str, folder: str) -> Source:
        """Files read from a folder (digested from the cells by the runner)."""
        return cls(name, None, folder=folder)

    def with_digest(self, digest: str) -> Source:
        return replace(self, digest=digest)


def digest_blocks(blocks: Iterable[bytes]) -> str:
    """SHA-256 of content given in blocks."""
    h = hashlib.sha256()
    for b in blocks:
        h.update(b)
    return h.hexdigest()


class CellDigest:
    """SHA-256 of a table's cells, fed a frame or an Arrow record batch at a time (same cells, same digest)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add_frame(self, df) -> None:
        import pandas as pd

        self._h.update("\x1f".join(map(str, df.columns)).encode("utf-8", "replace"))
        self._h.update(pd.util.hash_pandas_object(df.astype(str), index=False).to_numpy().tobytes())

    def hexdigest(self) -> str:
        return self._h.hexdigest()
