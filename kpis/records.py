"""The catalog's KPIs that the app's own records define (source = "records"), computed per period from them.

* ``exec_attendance``      invited people who attended / people invited, executive S&OP meetings (meeting log)
* ``decision_cycle_time``  median days from raised to decided, decisions decided in the period (decision register)
* ``actions_on_time``      actions due in the period, not cancelled, completed by their due date (action log)
* ``cycle_steps_held``     steps of the S&OP cycle held in each month / steps (meeting log)
* ``maturity_index``       mean of the practice medians of the quarter's assessments (maturity assessments)

The figures are the sponsorship scorecard's (kpis.sponsorship.measures) for everyone instead of one executive,
the Meetings page's cycle grid (kpis.sponsorship.meetings) and the Maturity page's index
(kpis.maturity.aggregate): one definition each. docs/methodology.md has the formulas. kpis.series reads these
values in place of stored ones, and an import of actuals for such a KPI is refused naming the records it comes
from (``KPI.computed_from``, kpis.config.RECORDS_METRICS).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from kpis import periods
from kpis.config import KPI, AppConfig
from kpis.maturity import aggregate
from kpis.maturity.assessments import scores_from
from kpis.sponsorship import measures
from kpis.sponsorship.meetings import STEPS, cycle_grid
from kpis.store.models import Action, Decision, Meeting, MeetingAttendee

COLUMNS = ["kpi_id", "segment", "period", "value", "note"]


@dataclass(frozen=True)
class Span:
    """One period of a KPI: its first and last day."""

    start: dt.date
    end: dt.date


def current_period(today: dt.date, cadence: str) -> pd.Timestamp:
    """The first day of the month (or quarter) holding today: a period gets a value once it has ended, as a period
    still running is partial (more meetings, decisions and due dates may come)."""
    return pd.Timestamp(today).to_period("M" if cadence == "month" else "Q").start_time


def _spans(first: pd.Timestamp, last: pd.Timestamp, cadence: str) -> list[Span]:
    """The months (or quarters) from the one holding `first` to the one holding `last`."""
    freq = "M" if cadence == "month" else "Q"
    out = []
    for p in pd.period_range(first.to_period(freq), last.to_period(freq), freq=freq):
        out.append(Span(p.start_time.date(), p.end_time.date()))
    return out


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kpi_id": pd.Series([], dtype=object),
            "segment": pd.Series([], dtype=object),
            "period": pd.Series([], dtype="datetime64[ns]"),
            "value": pd.Series([], dtype=float),
            "note": pd.Series([], dtype=object),
        }
    )


# ---------------------------------------------------------------- per metric, on small frames


def attendance_series(attendance: pd.DataFrame, cadence: str, today: dt.date) -> pd.DataFrame:
    """(period, value): measures.attendance_rate for everyone invited, per period with an executive S&OP meeting.

    attendance: meeting_date, type, person, invited, attended (one row per meeting and person)."""
    exe = attendance[attendance["type"] == measures.EXECUTIVE_MEETING]
    return _per_span(exe["meeting_date"], cadence, today, lambda s: measures.attendance_rate(exe, None, s)[0])


def decision_series(decisions: pd.DataFrame, cadence: str, today: dt.date) -> pd.DataFrame:
    """(period, value): measures.decision_latency over every decision, per period with a decision decided.

    decisions: owner, raised_on, decided_on (NaT = pending)."""
    decided = decisions[decisions["decided_on"].notna()]
    return _per_span(decided["decided_on"], cadence, today, lambda s: measures.decision_latency(decided, None, s)[0])


def on_time_series(actions: pd.DataFrame, cadence: str, today: dt.date) -> pd.DataFrame:
    """(period, value): measures.sponsored_on_time over every action, per period with an action due in it.

    actions: sponsor, due_date, status, completed_on."""
    live = actions[actions["status"] != "cancelled"]
    return _per_span(live["due_date"], cadence, today, lambda s: measures.sponsored_on_time(live, None, s)[0])


def cycle_series(meetings: pd.DataFrame, cadence: str, today: dt.date) -> pd.DataFrame:
    """(period, value): share of the cycle's steps held per month (the Meetings page's cycle grid, every month from
    the first to the last with a meeting); per quarter the share of the quarter's month × step cells held.

    meetings: type, date."""
    grid = cycle_grid(meetings[pd.to_datetime(meetings["date"]) < current_period(today, cadence)])
    if grid.empty:
        return pd.DataFrame({"period": pd.Series([], dtype="datetime64[ns]"), "value": pd.Series([], dtype=float)})
    held = (grid[list(STEPS)] > 0).mean(axis=1)
    period = pd.PeriodIndex(grid.index, freq="M")
    if cadence == "quarter":
        period = period.asfreq("Q")
    out = held.groupby(period.start_time).mean()
    return pd.DataFrame({"period": pd.to_datetime(out.index), "value": out.to_numpy(float)})


def maturity_series(scores: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    """(period, value): the maturity index (mean of the practice medians) per quarter that has ended, as the Maturity
    page shows it.

    scores: kpis.maturity.assessments.load_scores."""
    index = aggregate.index_series(aggregate.summarise(scores, {}))
    index = index[index["index"].notna() & (pd.to_datetime(index["period"]) < current_period(today, "quarter"))]
    return pd.DataFrame({"period": pd.to_datetime(index["period"]), "value": index["index"].to_numpy(float)})


def _per_span(dates: pd.Series, cadence: str, today: dt.date, figure) -> pd.DataFrame:
    """(period, value) of a figure per period from the one holding the first date to the one holding the last date
    among the periods that have ended by today; periods where the figure has no value are left out."""
    d = pd.to_datetime(dates)
    d = d[d < current_period(today, cadence)]
    rows = []
    if len(d):
        for span in _spans(d.min(), d.max(), cadence):
            value = figure(span)
            if np.isfinite(value):
                rows.append((pd.Timestamp(span.start), float(value)))
    return pd.DataFrame(rows, columns=["period", "value"]).astype({"period": "datetime64[ns]", "value": float})


# ---------------------------------------------------------------- from the store


def _frame(rows, columns: list[str], dates: tuple[str, ...]) -> pd.DataFrame:
    df = pd.DataFrame(list(rows), columns=columns)
    for c in dates:
        df[c] = pd.to_datetime(df[c])
    return df


def kpi_values(conn, config: AppConfig, kpi_ids: list[str] | None = None, today: dt.date | None = None):
    """KPI values (kpi_id, segment '', period, value, note) of the catalog's source = "records" KPIs (those of
    kpi_ids; None = all), per period, read through `conn` (an Engine or a Connection, e.g. a session's)."""
    if isinstance(conn, Engine):
        with conn.connect() as c:
            return kpi_values(c, config, kpi_ids, today)
    today = today or periods.today()
    kpis = [
        k for k in config.kpis if k.source == "records" and k.records_metric and (kpi_ids is None or k.id in kpi_ids)
    ]
    metrics = {k.records_metric for k in kpis}
    frames: dict[str, pd.DataFrame] = {}
    if metrics & {"exec_attendance"}:
        rows = conn.execute(
            select(
                Meeting.date, Meeting.type, MeetingAttendee.person, MeetingAttendee.invited, MeetingAttendee.attended
            )
            .join(MeetingAttendee, MeetingAttendee.meeting_id == Meeting.id)
            .where(Meeting.type == measures.EXECUTIVE_MEETING)
        ).all()
        frames["attendance"] = _frame(
            rows, ["meeting_date", "type", "person", "invited", "attended"], ("meeting_date",)
        )
    if metrics & {"decision_cycle_time"}:
        rows = conn.execute(select(Decision.owner, Decision.raised_on, Decision.decided_on)).all()
        frames["decisions"] = _frame(rows, ["owner", "raised_on", "decided_on"], ("raised_on", "decided_on"))
    if metrics & {"actions_on_time"}:
        rows = conn.execute(select(Action.sponsor, Action.due_date, Action.status, Action.completed_on)).all()
        frames["actions"] = _frame(
            rows, ["sponsor", "due_date", "status", "completed_on"], ("due_date", "completed_on")
        )
    if metrics & {"cycle_steps_held"}:
        frames["meetings"] = pd.DataFrame(
            conn.execute(select(Meeting.type, Meeting.date)).all(), columns=["type", "date"]
        )
    if metrics & {"maturity_index"}:
        frames["scores"] = scores_from(conn)
    out = []
    for k in kpis:
        s = series_of(k, frames, today)
        if len(s):
            out.append(s.assign(kpi_id=k.id, segment="", note=None)[COLUMNS])
    return pd.concat(out, ignore_index=True) if out else _empty()


def series_of(kpi: KPI, frames: dict[str, pd.DataFrame], today: dt.date) -> pd.DataFrame:
    """(period, value) of one records KPI from the frames kpi_values reads."""
    m = kpi.records_metric
    if m == "exec_attendance":
        return attendance_series(frames["attendance"], kpi.cadence, today)
    if m == "decision_cycle_time":
        return decision_series(frames["decisions"], kpi.cadence, today)
    if m == "actions_on_time":
        return on_time_series(frames["actions"], kpi.cadence, today)
    if m == "cycle_steps_held":
        return cycle_series(frames["meetings"], kpi.cadence, today)
    return maturity_series(frames["scores"], today)
