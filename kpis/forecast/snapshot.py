"""A cube on disk without pickle: one folder of NumPy ``.npy`` arrays (read with ``allow_pickle=False``,
memory-mapped) plus ``meta.json``. Nothing in a snapshot can run code when it is read, and a folder that
another local account could write to is never used (``safe_folder``).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = 3
_META = "meta.json"


def safe_folder(folder: Path) -> bool:
    """True when the folder is ours and no other account can write to it (else its files cannot be trusted)."""
    try:
        st = folder.stat()
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or folder.is_symlink():
        return False
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return False
    return not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _encode(name: str, value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """A JSON description of one attribute; arrays go to `arrays` under a generated file name."""
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        if value.dtype == object:
            arrays[key] = value.astype(str) if len(value) else np.empty(0, dtype="<U1")
            return {"array": key, "object": True}
        arrays[key] = value
        return {"array": key}
    if isinstance(value, dict):
        return {"dict": [[k, _encode(f"{name}.{k}", v, arrays)] for k, v in value.items()]}
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return {"json": value.item()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"json": value}
    if isinstance(value, (list, tuple)) and all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
        return {"json": list(value)}
    raise TypeError(f"cube attribute {name!r} of type {type(value).__name__} cannot be stored in a snapshot")


def _decode(desc: dict, folder: Path) -> Any:
    if "array" in desc:
        arr = np.load(folder / f"{desc['array']}.npy", mmap_mode="r", allow_pickle=False)
        return arr.astype(object) if desc.get("object") else arr
    if "dict" in desc:
        return {k: _decode(v, folder) for k, v in desc["dict"]}
    return desc["json"]


def write(path: Path, state: dict[str, Any], *, kind: str) -> None:
    """Write `state` (attribute name -> value) as a snapshot folder at `path`, atomically (rename)."""
    arrays: dict[str, np.ndarray] = {}
    meta = {"format": FORMAT, "kind": kind, "attrs": {k: _encode(k, v, arrays) for k, v in state.items()}}
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.mkdir(mode=0o700)
        for key, arr in arrays.items():
            np.save(tmp / f"{key}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        (tmp / _META).write_text(json.dumps(meta), encoding="utf-8")
        for f in tmp.iterdir():
            os.chmod(f, 0o600)
        try:
            os.rename(tmp, path)
        except OSError:  # another process wrote the same snapshot first
            shutil.rmtree(tmp, ignore_errors=True)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read(path: Path, *, kind: str) -> dict[str, Any] | None:
    """The state stored at `path` (arrays memory-mapped read-only), or None when absent or not ours."""
    meta_file = path / _META
    if not meta_file.is_file() or not safe_folder(path):
        return None
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT or meta.get("kind") != kind:
        return None
    return {k: _decode(v, path) for k, v in meta["attrs"].items()}


def prune(folder: Path, pattern: str, keep: int) -> None:
    """Keep only the `keep` newest snapshot folders matching `pattern`."""
    found = sorted(
        (p for p in folder.glob(pattern) if p.is_dir() and not p.name.endswith(".tmp")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in found[keep:]:
        shutil.rmtree(old, ignore_errors=True)
