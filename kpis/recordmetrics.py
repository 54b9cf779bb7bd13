"""The figures a catalog KPI with source = "records" can name (records_metric), the unit each comes in, the
cadences it can be computed at and the records it comes from (in full for messages, in short for the catalog).
kpis/records.py computes them; kpis/config.py checks a KPI against this table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from kpis.config import KPI

RecordsMetric = Literal[
    "exec_attendance", "decision_cycle_time", "actions_on_time", "cycle_steps_held", "maturity_index"
]


class RecordsMetricInfo(NamedTuple):
    unit: str
    cadences: tuple[str, ...]
    records: str
    short: str


RECORDS_METRICS: dict[str, RecordsMetricInfo] = {
    "exec_attendance": RecordsMetricInfo(
        "%",
        ("month", "quarter"),
        "the meeting log (executive S&OP meetings, invited and attended people)",
        "meeting log",
    ),
    "decision_cycle_time": RecordsMetricInfo(
        "days", ("month", "quarter"), "the decision register (raised and decided dates)", "decision register"
    ),
    "actions_on_time": RecordsMetricInfo(
        "%", ("month", "quarter"), "the improvement action log (due and completion dates)", "action log"
    ),
    "cycle_steps_held": RecordsMetricInfo(
        "%", ("month", "quarter"), "the meeting log (the steps of the S&OP cycle held each month)", "meeting log"
    ),
    "maturity_index": RecordsMetricInfo("score", ("quarter",), "the maturity assessments", "maturity assessments"),
}
FORECAST_RECORDS = "the forecast data (demand actuals and forecast snapshots)"


def records_problems(kpi: KPI, label: str) -> list[str]:
    """A source = "records" KPI names its figure, in that figure's unit and at a cadence it can be computed at."""
    if kpi.source != "records":
        return [f"{label} field 'records_metric': only applies when source is 'records'"] if kpi.records_metric else []
    if kpi.records_metric is None:
        return [f"{label} field 'records_metric': is required when source is 'records' ({', '.join(RECORDS_METRICS)})"]
    unit, cadences = RECORDS_METRICS[kpi.records_metric][:2]
    out = []
    if kpi.unit != unit:
        out.append(f"{label} field 'unit': records_metric '{kpi.records_metric}' is in '{unit}', not '{kpi.unit}'")
    if kpi.cadence not in cadences:
        out.append(
            f"{label} field 'cadence': records_metric '{kpi.records_metric}' is computed per {' or '.join(cadences)}"
        )
    return out
