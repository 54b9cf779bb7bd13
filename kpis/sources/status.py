"""What the Data page shows of the sources: each source's kind, where it reads (host and table or folder; never a
user or password), schedule, last run and next run; and "Run now" for those who may import."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, func, select

from kpis.access import rules
from kpis.access.users import User
from kpis.catalog import freshness
from kpis.config import AppConfig
from kpis.sources.config import SourceConfig
from kpis.store.models import ImportBatch, KpiValue, SourceRun, utcnow

RESULT = {
    "ok": "imported",
    "unchanged": "nothing new",
    "refused": "refused: nothing written",
    "unreachable": "could not be read",
}


def last_runs(engine: Engine) -> dict[str, SourceRun]:
    """The latest run of every source that has run."""
    latest = select(SourceRun.source, func.max(SourceRun.id).label("id")).group_by(SourceRun.source).subquery()
    with engine.connect() as c:
        rows = c.execute(select(SourceRun).join(latest, SourceRun.id == latest.c.id)).all()
    return {r.source: r for r in rows}


def delivered_kpis(engine: Engine, config: AppConfig, src: SourceConfig) -> list[str]:
    """The KPIs a source delivers, whose due dates it inherits: for actuals the KPIs its runs have written values of;
    for demand and forecasts the KPIs computed from the forecast data (kpis.catalog.freshness.fed_by); else none."""
    if src.kind != "actuals":
        return freshness.fed_by(config, src.kind)
    q = (
        select(KpiValue.kpi_id)
        .join(ImportBatch, KpiValue.import_id == ImportBatch.id)
        .where(ImportBatch.created_by == f"source:{src.name}")
        .distinct()
    )
    with engine.connect() as c:
        written = set(c.execute(q).scalars())
    return [k.id for k in config.kpis if k.id in written]


def late_by_source(engine: Engine, config: AppConfig, late: pd.DataFrame, day: dt.date) -> dict[str, list[str]]:
    """For each source, the overdue values (`late`: kpis.catalog.freshness.late_data on `day`) of the KPIs it
    delivers, as 'Name: 2026-10 due 10 Nov, not received' (a segment named after the KPI's name)."""
    out: dict[str, list[str]] = {}
    for s in config.sources:
        ids = set(delivered_kpis(engine, config, s))
        rows = late[late["kpi_id"].isin(ids)] if len(late) else late
        out[s.name] = [
            f"{r['name']}{' · ' + r['segment'] if r['segment'] else ''}: {freshness.late_text(r, day)}"
            for _, r in rows.iterrows()
        ]
    return out


def table(
    engine: Engine,
    config: AppConfig,
    now: dt.datetime | None = None,
    *,
    late: pd.DataFrame | None = None,
    day: dt.date | None = None,
) -> pd.DataFrame:
    """One row per declared source; with `late` (the overdue KPI values on `day`) a "Late data" column naming what
    the source delivers and has not delivered on time."""
    from kpis.sources.watch import next_run

    now = now or utcnow()
    runs = last_runs(engine)
    owed = late_by_source(engine, config, late, day or now.date()) if late is not None else {}
    out = []
    for s in config.sources:
        r = runs.get(s.name)
        nxt = next_run(s.schedule, now)
        out.append(
            {
                "Source": s.name,
                "Kind": s.kind,
                "Reads": s.where(),
                "Schedule": f"{s.schedule} (UTC)" if s.schedule else "by hand (sync)",
                "Last run": _when(r.started_at) if r else "never",
                "Result": RESULT.get(r.status, r.status) if r else "",
                "Inserted": r.inserted if r else None,
                "Updated": r.updated if r else None,
                "Unchanged": r.unchanged if r else None,
                "Problems": "; ".join(r.problems[:3])
                + (f" (+{len(r.problems) - 3} more)" if len(r.problems) > 3 else "")
                if r
                else "",
                "Next run": _when(nxt) if nxt else "",
                **({"Late data": "; ".join(owed.get(s.name, [])) or "none"} if late is not None else {}),
            }
        )
    return pd.DataFrame(out)


def failing(engine: Engine, config: AppConfig) -> list[str]:
    """A line for each source whose last run was refused or could not read the source: its name, result and first
    problem."""
    runs = last_runs(engine)
    out = []
    for s in config.sources:
        r = runs.get(s.name)
        if r is not None and r.status in ("refused", "unreachable"):
            first = (r.problems or [""])[0].removeprefix(f"{s.name}: ")
            out.append(f"{s.name} ({RESULT[r.status]}, {_when(r.started_at)}): {first}")
    return out


def _when(t: dt.datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return f"{t.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def may_run(user: User) -> bool:
    """Editors and admins may run a source now."""
    return rules.may(user, "import")


def run_now(engine: Engine, config: AppConfig, src: SourceConfig, user: User):
    """Run a source at a person's request (an editor or admin; audited as source:NAME via that person)."""
    from kpis.sources.run import run_source

    rules.require(user, "import", engine=engine, what=f"run source {src.name}")
    return run_source(engine, config, src, by=user)
