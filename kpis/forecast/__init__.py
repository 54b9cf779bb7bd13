"""The forecast-accuracy domain: demand and forecast imports, the in-memory cube, its views and metrics.

Modules, one concern each:

* ``load``      import a demand or forecast file (``import_file``) through ``kpis.imports.runner``, with
                ``validate`` (checking rows), ``write`` (comparing with what is stored, in the import's
                transaction), ``bulk`` (SQLite/PostgreSQL bulk writes) and ``stream`` (big Parquet and CSV
                forecast files batch by batch)
* ``sql``       fast reads of stored rows as numpy arrays
* ``cube``      ``ForecastCube``: the item-periods present plus additive pre-aggregates; every view is vectorised;
                built stage by stage in ``cube_build``, from the additive error terms of ``cube_terms``
* ``cache``     one cube per data version, in memory and as an on-disk snapshot (``get_cube``)
* ``metrics``   the error metrics on plain data frames (WAPE, bias, MASE, FVA, ABC/XYZ, tracking signal)
* ``views``     the numbers the Forecast accuracy and Exceptions pages show
* ``charts``    their charts (lag waterfall, FVA stairstep, heat maps, an item's actual vs forecast)
* ``filters``   ``ForecastFilters``: what those pages are cut by (window, lag, stage, attributes), one frozen value
* ``computed``  the catalog's forecast KPIs, per period

The package's public names are imported on first use, so ``import kpis.forecast`` costs nothing
until a name is needed (the CLI stays fast). docs/methodology.md says how every figure is computed.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "SUPPORTED": "kpis.forecast.validate",
    "ForecastImportResult": "kpis.forecast.load",
    "import_file": "kpis.forecast.load",
    "ForecastCube": "kpis.forecast.cube",
    "final_stage": "kpis.forecast.cube",
    "CubeTooLarge": "kpis.forecast.cube_build",
    "get_cube": "kpis.forecast.cache",
    "forecast_version": "kpis.forecast.cache",
    "clear_cache": "kpis.forecast.cache",
    "computed_kpi_values": "kpis.forecast.computed",
    "METRIC_COLUMNS": "kpis.forecast.metrics",
    "SUM_COLUMNS": "kpis.forecast.metrics",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'kpis.forecast' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
