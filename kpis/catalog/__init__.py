"""The KPI catalog domain: targets and status, units, actuals import, catalog sync, Overview and trends.

``from kpis import catalog`` gives the names used everywhere (status, targets, formats); the
modules ``load``, ``sync``, ``overview``, ``trends`` and ``charts`` (the trend chart) are imported where they are
needed.
"""

from kpis.catalog.targets import (  # noqa: F401
    DIRECTION_LABELS,
    FUNCTION_LABELS,
    STATUS_COLOURS,
    STATUS_LABELS,
    STATUSES,
    bands,
    improving_sign,
    shortfall,
    status,
    targets_at,
)
from kpis.catalog.units import (  # noqa: F401
    change_unit,
    decimals,
    display_scale,
    format_change,
    format_value,
    is_percent,
    target_text,
    unit_label,
)
