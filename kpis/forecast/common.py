"""Names and small helpers shared by the forecast modules (stage names, period grids, memory)."""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Callable

import numpy as np

NAIVE = "naive"

NONE_VALUE = "(none)"

KEY_COLUMNS = {"item", "period", "actual", "lag", "snapshot", "stage", "forecast", "abc", "xyz", "n", "_row"}
# Column names the accuracy views and downloads produce: an attribute of the same name would collide with them.
VIEW_COLUMNS = {
    "mae",
    "rmse",
    "wape",
    "accuracy",
    "mape",
    "mape_excluded",
    "bias",
    "mase",
    "sum_a",
    "sum_f",
    "sum_abs_a",
    "sum_e",
    "sum_abs_e",
    "sum_sq_e",
    "sum_ape",
    "n_ape",
    "n_zero_a",
    "sum_scaled_abs_e",
    "n_scaled",
    "fva_vs_previous",
    "fva_vs_naive",
    "left_out",
    "ts",
    "flagged",
    "abs_error",
    "share",
    "rank",
    "error_share",
    "items",
    "why",
    "window",
    "value",
    "target",
    "status",
}
RESERVED = KEY_COLUMNS | VIEW_COLUMNS

# The forecast-data version: the audit id of the newest demand or forecast import, demo load or restore (a restore's
# event takes an id above every earlier one, kpis.access.backups, so the version never comes round again). Catalog
# syncs and KPI imports leave it alone, so they do not rebuild the cube. Plain SQL (no parameters) so the
# engine and the light DB-API path of the CLI run the very same query.
VERSION_SQL = (
    "SELECT COALESCE(MAX(id), 0) FROM audit_event WHERE action IN ('demo', 'restore') OR (entity = 'import_batch' "
    "AND entity_id IN (SELECT CAST(id AS VARCHAR(20)) FROM import_batch "
    "WHERE kind IN ('demand', 'forecasts')))"
)


FVA_COLUMNS = ["stage", "n", "wape", "fva_vs_previous", "fva_vs_naive", "left_out"]
Progress = Callable[[float, str], None]


def cadence_adjective(cadence: str) -> str:
    return {"week": "weekly", "month": "monthly"}.get(cadence, cadence)


def cadence_plural(cadence: str) -> str:
    return {"week": "ISO weeks", "month": "months"}.get(cadence, cadence)


def period_start(num: np.ndarray, cadence: str) -> np.ndarray:
    """Period numbers (periods.period_number) back to start dates (datetime64[D])."""
    num = np.asarray(num, dtype=np.int64)
    if cadence == "week":
        return (np.datetime64("1970-01-05", "D") + (num * 7).astype("timedelta64[D]")).astype("datetime64[D]")
    return (num - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]")


def cadence_of_days(days: np.ndarray) -> str | None:
    """Cadence implied by a set of stored period start dates (days since 1970-01-01)."""
    if not len(days):
        return None
    d = np.unique(np.asarray(days, dtype=np.int64)).astype("datetime64[D]")
    first = (d.astype("datetime64[M]").astype("datetime64[D]") == d).all()
    monday = (((d.astype(np.int64) - 4) % 7) == 0).all()
    if first and not monday:
        return "month"
    if monday and not first:
        return "week"
    if first and monday and len(d) > 1:
        return "week" if (np.diff(d.astype(np.int64)) < 28).any() else "month"
    return None


def release_memory() -> None:
    """Collect garbage, hand Arrow's freed buffers and (on glibc) the freed heap back to the OS (keeps an import's
    peak memory down: the cube is built right after it)."""
    gc.collect()
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:  # only when an import loaded it; its allocator keeps freed blocks for reuse otherwise
        with contextlib.suppress(Exception):
            arrow.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass
