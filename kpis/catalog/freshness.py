"""Late data: when each KPI's value for a period is due, and which values are overdue on a given day.

A KPI's value for a period is due `due_days` days after the period ends: the KPI's own `due_days` in the
catalog, else the `[catalog] due_days` default; a KPI with neither is not chased. On a day D a period is
overdue when its due date lies before D (due today is not overdue yet, the Actions page's rule) and the
KPI, or a segment it is stored by, has no value for it nor for any later period. Rules in
docs/methodology.md, Late data.

- A KPI is judged on the series the Overview shows (its stored total, its segments rolled up, or, for a KPI
  computed from the forecast data, the computed series: the data that feeds it is what is late).
- Each stored segment of an imported KPI is judged on its own; a segment with no value in the year before
  the latest period due is taken as retired and not chased.
- A KPI or segment without any value yet is not chased (the Data page lists it as "no data"), nor a KPI computed
  from the app's own records (source = "records", kpis.records): a period with no records has no value.

Sources (the sync of issue 22) inherit this for what they deliver: `fed_by` names the KPIs a kind of data
feeds, and `late_data(..., kpi_ids=...)` tells which of them are overdue.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, func, select

from kpis import periods
from kpis.config import KPI, AppConfig
from kpis.store.models import KpiValue

LATE_COLUMNS = [
    "kpi_id",
    "name",
    "segment",
    "period",
    "period_label",
    "due",
    "missing",
    "last_label",
    "data_owner",
    "feeds",
]
PERIODS_A_YEAR = {"week": 52, "month": 12, "quarter": 4}
_DAY = dt.timedelta(days=1)


def due_days(kpi: KPI, config: AppConfig) -> int | None:
    """Days after a period's end its value is due: the KPI's own due_days, else the [catalog] default."""
    return kpi.due_days if kpi.due_days is not None else config.catalog.due_days


def data_owner(kpi: KPI) -> str:
    """Who delivers the KPI's data: its data_owner, else its owner."""
    return kpi.data_owner or kpi.owner


def feeds(kpi: KPI) -> str:
    """What has to arrive for a period's value to exist, in words."""
    if kpi.source == "import":
        return "KPI actuals"
    if kpi.source == "forecast":
        return "demand actuals and forecast snapshots"
    return "the records it is computed from"


def fed_by(config: AppConfig, kind: str) -> list[str]:
    """Ids of the KPIs a kind of import feeds: actuals the imported KPIs, demand and forecasts the KPIs computed
    from the forecast data; any other kind none."""
    source = {"actuals": "import", "demand": "forecast", "forecasts": "forecast"}.get(kind)
    return [k.id for k in config.kpis if k.source == source]


def period_end(start: dt.date, cadence: str) -> dt.date:
    """The last day of the period that starts on `start` (a Sunday for a week, 28 Feb or 29 Feb, 30 Sep …)."""
    return periods.shift(start, 1, cadence) - _DAY


def due_date(start: dt.date, cadence: str, days: int) -> dt.date:
    """The day a period's value is due: `days` after the period's last day."""
    return period_end(start, cadence) + dt.timedelta(days=days)


def latest_due(cadence: str, days: int, day: dt.date) -> dt.date:
    """Start of the newest period whose value is overdue on `day` (its due date lies before `day`)."""
    last_end = day - _DAY - dt.timedelta(days=days)  # a period ending on or before this day is due before `day`
    start = periods.start_of(last_end, cadence)
    return start if period_end(start, cadence) <= last_end else periods.shift(start, -1, cadence)


def _as_date(v) -> dt.date:
    return pd.Timestamp(v).date()


def overdue(latest: pd.DataFrame, config: AppConfig, day: dt.date, kpi_ids: list[str] | None = None) -> pd.DataFrame:
    """Overdue values on `day` from the latest period received per KPI and segment (kpi_id, segment,
    last_period; segment '' = the KPI itself): one row per KPI or segment that owes data, with the first
    period it owes (period, period_label), that period's due date, how many periods it owes up to the newest
    one due (missing), the last period received, the data owner and what feeds it; oldest due first."""
    frames = []
    wanted = set(kpi_ids) if kpi_ids is not None else None
    by_kpi = dict(tuple(latest.groupby("kpi_id", sort=False))) if len(latest) else {}
    for k in config.kpis:
        days = due_days(k, config)
        if days is None or k.id not in by_kpi or (wanted is not None and k.id not in wanted) or k.source == "records":
            continue  # a KPI computed from the app's records has nothing to receive: a period without records is empty
        newest_due = latest_due(k.cadence, days, day)
        got = by_kpi[k.id]
        last = pd.to_datetime(got["last_period"])
        retired = periods.shift(newest_due, -PERIODS_A_YEAR[k.cadence], k.cadence)
        late = (last < pd.Timestamp(newest_due)) & ((got["segment"] == "") | (last >= pd.Timestamp(retired)))
        if not late.any():
            continue
        owed = periods.period_number(pd.Series([pd.Timestamp(newest_due)]), k.cadence)[0]
        # one computation per distinct last period (a few), not per segment (up to thousands)
        lasts = pd.DatetimeIndex(pd.unique(last[late]))
        firsts = [periods.shift(_as_date(lp), 1, k.cadence) for lp in lasts]
        per_last = pd.DataFrame(
            {
                "period": firsts,
                "period_label": [periods.label(f, k.cadence) for f in firsts],
                "due": [due_date(f, k.cadence, days) for f in firsts],
                "missing": (owed - periods.period_number(pd.Series(lasts), k.cadence)).astype(int),
                "last_label": [periods.label(_as_date(lp), k.cadence) for lp in lasts],
            },
            index=lasts,
        )
        facts = per_last.reindex(pd.DatetimeIndex(last[late])).reset_index(drop=True)
        facts.insert(0, "segment", got["segment"][late].to_numpy())
        frames.append(facts.assign(kpi_id=k.id, name=k.name, data_owner=data_owner(k), feeds=feeds(k)))
    if not frames:
        return pd.DataFrame(columns=LATE_COLUMNS)
    out = pd.concat(frames, ignore_index=True)[LATE_COLUMNS]
    order = {k.id: i for i, k in enumerate(config.kpis)}
    return (
        out.assign(_o=out["kpi_id"].map(order))
        .sort_values(["due", "_o", "segment"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )


def latest_received(engine: Engine, config: AppConfig, totals: pd.DataFrame) -> pd.DataFrame:
    """The latest period received (kpi_id, segment, last_period): per KPI from its total series `totals`
    (kpi_id, period, value, as the Overview reads it), per stored segment of an imported KPI from the database."""
    kpi_level = (
        totals.groupby("kpi_id", as_index=False)["period"].max().rename(columns={"period": "last_period"})
        if len(totals)
        else pd.DataFrame(columns=["kpi_id", "last_period"])
    ).assign(segment="")
    imported = [k.id for k in config.kpis if k.source == "import"]
    q = (
        select(KpiValue.kpi_id, KpiValue.segment, func.max(KpiValue.period))
        .where(KpiValue.segment != "", KpiValue.kpi_id.in_(imported))
        .group_by(KpiValue.kpi_id, KpiValue.segment)
    )
    with engine.connect() as conn:
        segs = pd.DataFrame(conn.execute(q).all(), columns=["kpi_id", "segment", "last_period"])
    parts = [p for p in (kpi_level[["kpi_id", "segment", "last_period"]], segs) if len(p)]
    if not parts:
        return pd.DataFrame(columns=["kpi_id", "segment", "last_period"])
    out = pd.concat(parts, ignore_index=True)
    out["last_period"] = pd.to_datetime(out["last_period"])
    return out


def late_data(
    engine: Engine,
    config: AppConfig,
    day: dt.date,
    *,
    totals: pd.DataFrame | None = None,
    kpi_ids: list[str] | None = None,
) -> pd.DataFrame:
    """Overdue KPI values on `day` (see `overdue`); `totals` = the KPI total series when the caller has them."""
    if totals is None:
        from kpis.series import kpi_totals

        totals = kpi_totals(engine, config)
    return overdue(latest_received(engine, config, totals), config, day, kpi_ids)


def today() -> dt.date:
    """The day late data is judged on: kpis.periods.today (SOP_PULSE_TODAY when set)."""
    return periods.today()


def reference_day(as_of: pd.Timestamp | dt.date | None, choices: list, today: dt.date) -> dt.date:
    """The day the Overview judges late data on: today when it shows the newest month (or no month is chosen),
    else the last day of the chosen month (today at the latest)."""
    if as_of is None or not choices or pd.Timestamp(as_of) >= max(pd.Timestamp(c) for c in choices):
        return today
    month_end = (pd.Timestamp(as_of) + pd.offsets.MonthEnd(0)).date()
    return min(today, month_end)


def day_text(d: dt.date, day: dt.date) -> str:
    """'5 Nov' (the year added when it is not the year of `day`: '28 Dec 2025')."""
    return f"{d.day} {d:%b}" + (f" {d.year}" if d.year != day.year else "")


def late_text(row: pd.Series | dict, day: dt.date) -> str:
    """'2026-10 due 10 Nov, not received' (and how many more periods are owed)."""
    more = int(row["missing"]) - 1
    extra = f" (and {more} later period{'s' if more != 1 else ''})" if more > 0 else ""
    return f"{row['period_label']} due {day_text(row['due'], day)}, not received{extra}"


def tile_marks(late: pd.DataFrame, day: dt.date) -> dict[str, str]:
    """Per overdue KPI the mark its Overview tile shows: the KPI's own lateness, else its segments'."""
    marks: dict[str, str] = {}
    for kid, rows in late.groupby("kpi_id", sort=False):
        own = rows[rows["segment"] == ""]
        if len(own):
            marks[kid] = late_text(own.iloc[0], day)
            continue
        first, more = rows.iloc[0], len(rows) - 1
        also = f" and {more} more segment{'s' if more != 1 else ''}" if more else ""
        marks[kid] = f"{first['segment']}{also}: {late_text(first, day)}"
    return marks


def late_table(late: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Overdue values as the Data page and My work show them."""
    return pd.DataFrame(
        {
            "KPI": late["name"],
            "Segment": late["segment"].replace("", "(total)"),
            "Owed from": late["period_label"],
            "Due": late["due"].map({d: day_text(d, day) for d in pd.unique(late["due"])}),
            "Periods owed": late["missing"].astype(int),
            "Last received": late["last_label"],
            "Data owner": late["data_owner"],
            "Waiting for": late["feeds"],
            "Import id": late["kpi_id"],
        }
    )
