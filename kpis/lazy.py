"""`lazy_module("pandas")`: a module whose code runs on first attribute use (stdlib LazyLoader).

The forecast modules on the CLI's read path bind pandas this way, so `python -m kpis accuracy --format csv`,
which answers from NumPy arrays, never pays the second it takes to import pandas. An ordinary
`import pandas` anywhere else simply loads it.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module `name`, loaded now if it already is, else on first attribute access."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
