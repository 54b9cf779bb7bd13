"""A believable demo company: 36 months of KPI actuals with seasonality, noise, gaps and
visible improvement after dated interventions, plus forecasts, assessments, reviews,
actions, meetings and decisions. Seeded, so the same seed gives the same data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert, select

from kpis import periods, records
from kpis.access.users import User
from kpis.catalog.load import write_actuals
from kpis.catalog.sync import sync_catalog
from kpis.config import AppConfig
from kpis.improvement import demo as improvement_demo
from kpis.maturity import demo as maturity_demo
from kpis.sponsorship import demo as sponsorship_demo
from kpis.store import audit
from kpis.store.engine import session_factory
from kpis.store.models import (
    Decision,
    DemandActual,
    ForecastValue,
    Item,
    utcnow,
)

MONTHS = 36
SAMPLE_MONTHS = 8  # months of KPI actuals in the sample import files
REGIONS = ["EMEA", "Americas", "APAC"]


@dataclass(frozen=True)
class Intervention:
    """A dated change the demo company made, and the KPIs it moved (delta in the KPI's unit)."""

    month: int  # months after the first demo month
    title: str
    practice: str
    effects: dict[str, float]


INTERVENTIONS = (
    Intervention(
        7,
        "Consensus demand review introduced",
        "collaboration",
        {"forecast_accuracy": 0.0, "otif": 0.02, "fill_rate": 0.012, "promo_forecast_accuracy": 0.07},
    ),
    Intervention(
        11,
        "CEO chairs the executive S&OP meeting",
        "sponsorship",
        {"decision_cycle_time": -7.0, "exec_meeting_attendance": 0.16, "sop_cycle_on_schedule": 0.12},
    ),
    Intervention(
        16,
        "Supplier collaboration portal live",
        "partners",
        {"supplier_otif": 0.045, "customers_sharing_forecasts": 0.18},
    ),
    Intervention(
        22,
        "Inventory policy reset and E&O clean-up",
        "improvement",
        {"excess_obsolete_stock": -160000.0, "inventory_turns": 1.3, "days_of_supply": -9.0},
    ),
    Intervention(
        27,
        "Planning system go-live with master-data governance",
        "technology",
        {"touchless_planning": 0.17, "master_data_completeness": 0.035, "production_plan_adherence": 0.04},
    ),
)
# A change that backfired: weekly sales overrides of the promotion forecast (an action the demo judges 'worse').
SETBACKS = (
    Intervention(28, "Sales overrides promotion forecasts weekly", "collaboration", {"promo_forecast_accuracy": -0.1}),
)

# level at the start, seasonal amplitude, noise sd, slow drift per month
PROFILES: dict[str, tuple[float, float, float, float]] = {
    "otif": (0.905, 0.012, 0.008, 0.0004),
    "fill_rate": (0.945, 0.008, 0.006, 0.0002),
    "days_of_supply": (46.0, 3.0, 1.6, 0.0),
    "inventory_turns": (6.3, 0.35, 0.18, 0.01),
    "production_plan_adherence": (0.86, 0.015, 0.012, 0.0008),
    "capacity_utilisation": (0.84, 0.05, 0.015, 0.0),
    "revenue_vs_plan": (0.975, 0.015, 0.012, 0.0006),
    "gross_margin_vs_plan": (-0.011, 0.004, 0.004, 0.00035),
    "excess_obsolete_stock": (520000.0, 15000.0, 14000.0, 1500.0),
    "supplier_otif": (0.875, 0.01, 0.012, 0.0003),
    "customers_sharing_forecasts": (0.22, 0.0, 0.02, 0.004),
    "exec_meeting_attendance": (0.68, 0.03, 0.05, 0.0),
    "decision_cycle_time": (19.0, 1.0, 2.0, -0.05),
    "training_completion": (0.35, 0.0, 0.015, 0.017),
    "actions_closed_on_time": (0.55, 0.0, 0.07, 0.007),
    "sop_cycle_on_schedule": (0.7, 0.02, 0.05, 0.002),
    "promo_forecast_accuracy": (0.55, 0.04, 0.035, 0.001),
    "npi_launch_on_time": (0.6, 0.0, 0.08, 0.006),
    "master_data_completeness": (0.925, 0.0, 0.005, 0.0004),
    "touchless_planning": (0.28, 0.0, 0.015, 0.003),
    "stockout_weeks": (62.0, 10.0, 6.0, -0.18),
}
SEGMENTED = {"otif", "fill_rate", "days_of_supply"}
LATE_KPI = "capacity_utilisation"  # its last demo month is not loaded: the demo's late data


# The demo company's last month: fixed, so the demo (and the sample files drawn from it) are the same every time.
DEMO_END = dt.date(2026, 10, 1)


def default_end(today: dt.date | None = None) -> dt.date:
    """The last full month before today."""
    today = today or dt.date.today()
    return (pd.Timestamp(today.replace(day=1)) - pd.DateOffset(months=1)).date()


def month_starts(end: dt.date, n: int = MONTHS) -> pd.DatetimeIndex:
    return pd.date_range(end=pd.Timestamp(end), periods=n, freq="MS")


def kpi_actuals(
    config: AppConfig, end: dt.date, rng: np.random.Generator, forecast_kpis: pd.DataFrame | None = None
) -> pd.DataFrame:
    """KPI values (kpi_id, segment, period, value, note) for every catalog KPI."""
    months = month_starts(end)
    t = np.arange(MONTHS)
    frames = []
    for kpi in config.kpis:
        if forecast_kpis is not None and kpi.id in set(forecast_kpis["kpi_id"]):
            frames.append(forecast_kpis[forecast_kpis["kpi_id"] == kpi.id])
            continue
        level, amp, sd, drift = PROFILES.get(kpi.id, (1.0, 0.0, 0.05, 0.0))
        base = level + drift * t + amp * np.sin(2 * np.pi * (months.month.to_numpy() - 3) / 12)
        for iv in (*INTERVENTIONS, *SETBACKS):
            if kpi.id in iv.effects:
                ramp = np.clip((t - iv.month + 1) / 3, 0, 1)  # effect builds over three months
                base = base + iv.effects[kpi.id] * ramp
        lo, hi = kpi.value_range
        if kpi.cadence == "month":
            seg_names = [""] + (REGIONS if kpi.id in SEGMENTED else [])
            for seg in seg_names:
                offset = 0.0 if not seg else rng.normal(0, sd * 1.5)
                vals = np.clip(base + offset + rng.normal(0, sd * (1.6 if seg else 1.0), MONTHS), lo, hi)
                frame = pd.DataFrame({"kpi_id": kpi.id, "segment": seg, "period": months.date, "value": vals})
                if kpi.id not in ("exec_meeting_attendance",):
                    gaps = rng.choice(np.arange(3, MONTHS - 2), size=rng.integers(0, 3), replace=False)
                    frame = frame.drop(index=gaps)
                frames.append(frame)
        elif kpi.cadence == "quarter":
            q = pd.Series(base, index=months).resample("QS").mean()
            vals = np.clip(q.to_numpy() + rng.normal(0, sd, len(q)), lo, hi)
            frames.append(pd.DataFrame({"kpi_id": kpi.id, "segment": "", "period": q.index.date, "value": vals}))
        else:  # week
            weeks = pd.date_range(months[0], pd.Timestamp(end) + pd.offsets.MonthEnd(0), freq="W-MON")
            tw = np.arange(len(weeks)) / 4.345
            wb = level + drift * tw + amp * np.sin(2 * np.pi * (weeks.month.to_numpy() - 3) / 12)
            vals = np.clip(np.round(wb / 4.345 * 1.0 + rng.normal(0, sd / 2, len(weeks))), lo, hi)
            frames.append(pd.DataFrame({"kpi_id": kpi.id, "segment": "", "period": weeks.date, "value": vals}))
    out = pd.concat(frames, ignore_index=True)
    # Values as a planner's file holds them: fractions to 4 decimals, others to 2 (currency and counts whole).
    digits = out["kpi_id"].map({k.id: {"%": 4, "currency": 0, "count": 0}.get(k.unit, 2) for k in config.kpis})
    out["value"] = [round(v, int(d)) for v, d in zip(out["value"], digits)]
    out["note"] = None
    for iv in INTERVENTIONS:
        when = months[iv.month].date()
        for kid in iv.effects:
            hit = (out["kpi_id"] == kid) & (out["period"] == when) & (out["segment"] == "")
            out.loc[hit, "note"] = iv.title
    return out


# --- forecast data ---------------------------------------------------------------------

FAMILIES = ["Valves", "Pumps", "Seals", "Bearings", "Sensors", "Fittings"]
CHANNELS = ["Distributor", "OEM"]
STAGES = ["statistical", "sales", "consensus"]


def forecast_data(
    end: dt.date, rng: np.random.Generator, n_items: int = 120, lags: int = 4
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Items (code + attributes), monthly demand actuals and forecast snapshots for the demo."""
    months = month_starts(end)
    codes = [f"SKU-{1000 + i}" for i in range(n_items)]
    fam = rng.choice(FAMILIES, n_items)
    items = pd.DataFrame(
        {
            "code": codes,
            "family": fam,
            "region": rng.choice(REGIONS, n_items, p=[0.5, 0.3, 0.2]),
            "channel": rng.choice(CHANNELS, n_items, p=[0.6, 0.4]),
        }
    )
    scale = np.exp(rng.normal(5.0, 1.1, n_items))  # Pareto-like volumes for ABC
    season = 1 + 0.25 * np.sin(2 * np.pi * (months.month.to_numpy()[None, :] - 2) / 12)
    cv = rng.choice([0.15, 0.35, 0.8], n_items, p=[0.5, 0.35, 0.15])[:, None]
    demand = np.maximum(0, np.round(scale[:, None] * season * (1 + cv * rng.normal(0, 1, (n_items, MONTHS)))))
    demand[rng.random((n_items, MONTHS)) < 0.02] = 0
    actuals = pd.DataFrame(
        {"item": np.repeat(codes, MONTHS), "period": np.tile(months.date, n_items), "actual": demand.ravel()}
    )
    t = np.arange(MONTHS)
    # The consensus demand review (month 7) cuts the sales over-forecast and the consensus error;
    # the statistical forecast improves a little with the planning system (month 27).
    improve = np.clip((t - 6) / 4, 0, 1)[None, :]
    system = np.clip((t - 26) / 3, 0, 1)[None, :]
    expected = scale[:, None] * season
    volatility = np.sqrt(cv / 0.35)
    stage_error = {  # (relative error sd, bias as a share of expected demand)
        # statistical beats naive; sales overrides add optimism and destroy value (less so after the
        # consensus review); the consensus step recovers and improves a lot after month 7.
        "statistical": (0.30 - 0.04 * system, 0.0 * improve),
        "sales": (0.34 - 0.05 * improve, 0.20 - 0.12 * improve),
        "consensus": (0.27 - 0.11 * improve, 0.07 - 0.06 * improve),
    }
    rows = []
    for lag in range(lags):
        for stage in STAGES:
            sd, bias = stage_error[stage]
            noise = rng.normal(0, 1, (n_items, MONTHS)) * sd * volatility * (1 + 0.15 * lag)
            f = demand + expected * (noise + bias)
            rows.append(
                pd.DataFrame(
                    {
                        "item": np.repeat(codes, MONTHS),
                        "period": np.tile(months.date, n_items),
                        "lag": lag,
                        "stage": stage,
                        "forecast": np.round(np.maximum(f, 0).ravel(), 1),
                    }
                )
            )
    forecasts = pd.concat(rows, ignore_index=True)
    return items, actuals, forecasts


def forecast_kpis(
    actuals: pd.DataFrame, forecasts: pd.DataFrame, lag: int = 1, stage: str = "consensus"
) -> pd.DataFrame:
    """Monthly forecast accuracy (1 − WAPE) and bias at a lag, as KPI values."""
    f = forecasts[(forecasts["lag"] == lag) & (forecasts["stage"] == stage)]
    m = f.merge(actuals, on=["item", "period"])
    m["e"] = m["forecast"] - m["actual"]
    g = m.assign(abs_e=m["e"].abs(), abs_a=m["actual"].abs()).groupby("period")[["abs_e", "abs_a", "e", "actual"]].sum()
    acc = (1 - g["abs_e"] / g["abs_a"]).clip(lower=0)
    bias = g["e"] / g["actual"]
    return pd.concat(
        [
            pd.DataFrame({"kpi_id": "forecast_accuracy", "segment": "", "period": g.index, "value": acc.to_numpy()}),
            pd.DataFrame({"kpi_id": "forecast_bias", "segment": "", "period": g.index, "value": bias.to_numpy()}),
        ],
        ignore_index=True,
    )


# --- loading ---------------------------------------------------------------------------


def load_demo(
    engine: Engine, config: AppConfig, user: User, *, seed: int = 7, end: dt.date | None = None
) -> dict[str, int]:
    """Fill an empty database with the demo company; returns counts per record type."""
    end = end or DEMO_END
    months = month_starts(end)
    sync_catalog(engine, config, user)
    items, demand, forecasts, values = draw(config, seed=seed, end=end)
    rng = np.random.default_rng(seed + 1)  # the other record types
    # KPIs with source = "forecast" (forecast accuracy and bias) are computed from the forecast data loaded below
    # (kpis.forecast.computed_kpi_values) and those with source = "records" (attendance, decision cycle time, ...)
    # from the meetings, decisions, actions and assessments written below (kpis.records), so neither is written as
    # imported values.
    values = values[values["kpi_id"].isin(imported_ids(config))]
    write_actuals(
        engine,
        values[["kpi_id", "segment", "period", "value", "note"]],
        filename="demo data",
        sha256=hashlib.sha256(f"demo-{seed}-{end}".encode()).hexdigest(),
        user=user,
    )
    now = utcnow()
    stamp = {"created_at": now, "created_by": user.name}
    counts = {"KPI values": len(values)}
    with session_factory(engine).begin() as s:
        s.execute(
            insert(Item),
            [
                {"code": c, "attributes": {"family": f, "region": r, "channel": ch}, **stamp}
                for c, f, r, ch in items[["code", "family", "region", "channel"]].itertuples(index=False)
            ],
        )
        ids = dict(s.execute(select(Item.code, Item.id)).all())
        s.execute(
            insert(DemandActual),
            [{"item_id": ids[i], "period": p, "actual": float(a)} for i, p, a in demand.itertuples(index=False)],
        )
        s.execute(
            insert(ForecastValue),
            [
                {"item_id": ids[i], "period": p, "lag": int(k), "stage": st, "forecast": float(f)}
                for i, p, k, st, f in forecasts.itertuples(index=False)
            ],
        )
        counts.update({"items": len(items), "demand rows": len(demand), "forecast rows": len(forecasts)})
        _earlier_assessment_draws(rng, months)
        counts["assessments"] = maturity_demo.add_assessments(s, end=end, user=user, seed=seed)
        counts.update(sponsorship_demo.write_cycle(s, rng, months, stamp, end))
        # the reviews' figures and the actions' verdicts read the KPIs as the app shows them: records KPIs from the
        # meetings and decisions just written
        s.flush()
        values = pd.concat([values, records.kpi_values(s.connection(), config)], ignore_index=True)
        review_ids = improvement_demo.add_reviews(
            s, interventions=INTERVENTIONS, months=months, values=values, config=config, stamp=stamp
        )
        counts["reviews"] = len(review_ids)
        decision_ids = list(s.execute(select(Decision.id).order_by(Decision.id)).scalars())
        counts["actions"] = improvement_demo.add_actions(
            s,
            months=months,
            values=values,
            review_ids=review_ids,
            config=config,
            stamp=stamp,
            decision_ids=decision_ids,
        )
        audit.record(s, user=user, action="demo", entity="database", details={"seed": seed, "end": str(end), **counts})
    return counts


def imported_ids(config: AppConfig) -> list[str]:
    """The KPIs whose values are imported (not computed from the forecast data or the records)."""
    return [k.id for k in config.kpis if k.source == "import"]


def _earlier_assessment_draws(rng: np.random.Generator, months: pd.DatetimeIndex) -> None:
    """Draw what the earlier, simpler assessment generator drew (8 people, 13 quarters), and discard it, so the
    reviews, meetings, decisions and actions that follow stay exactly as before (kpis.maturity.demo now writes
    the assessments from its own seeded generator)."""
    quarters = {pd.Timestamp(m).to_period("Q") for m in months}
    for _ in range(len(quarters) * 8):
        if rng.random() < 0.1:
            continue
        rng.random()
        for _ in range(10):
            rng.normal(0, 0.55)
            rng.random()


def draw(config: AppConfig, *, seed: int = 7, end: dt.date = DEMO_END):
    """The demo company's items, demand, forecasts and KPI values for a seed (the same draw every time)."""
    rng = np.random.default_rng(seed)
    items, demand, forecasts = forecast_data(end, rng)
    values = kpi_actuals(config, end, rng, forecast_kpis=forecast_kpis(demand, forecasts, config.forecast.headline_lag))
    # The plant's capacity figures for the last month are late (due 10 days after month end, not received): the
    # Overview, the Data page and the data owner's My work show one overdue KPI (docs/methodology.md, Late data);
    # the sample files leave them out too, so importing a sample into the demo still changes nothing.
    values = values[~((values["kpi_id"] == LATE_KPI) & (pd.to_datetime(values["period"]) == pd.Timestamp(end)))]
    return items, demand, forecasts, values.reset_index(drop=True)


def write_samples(folder, config: AppConfig, seed: int = 7, end: dt.date = DEMO_END, n_items: int = 20) -> list[str]:
    """Write sample import files for every format into folder: the last 8 months of the demo's imported KPIs and the
    demand and forecasts of its first n_items items, so importing a sample into the demo changes nothing."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items, demand, forecasts, vals = draw(config, seed=seed, end=end)
    keep = set(items["code"].head(n_items))
    items, demand = items[items["code"].isin(keep)], demand[demand["item"].isin(keep)]
    forecasts = forecasts[forecasts["item"].isin(keep)]
    vals = vals[vals["kpi_id"].isin(imported_ids(config))]
    recent = vals[
        (vals["segment"] == "")
        & (pd.to_datetime(vals["period"]) >= pd.Timestamp(end) - pd.DateOffset(months=SAMPLE_MONTHS - 1))
    ]
    monthly = recent[recent["kpi_id"].map(lambda k: config.kpi_by_id[k].cadence == "month")].copy()
    labelled = monthly.assign(period=periods.labels(pd.Series(monthly["period"]), "month").to_numpy())
    labelled[["kpi", "period", "value", "segment", "note"]] = labelled[["kpi_id", "period", "value", "segment", "note"]]
    labelled[["kpi", "period", "value", "segment", "note"]].to_csv(folder / "actuals_long.csv", index=False)
    wide = labelled.pivot(index="kpi", columns="period", values="value").reset_index()
    wide.to_csv(folder / "actuals_wide.csv", index=False)
    wide.to_excel(folder / "actuals_wide.xlsx", index=False, sheet_name="KPI actuals")
    d = demand.merge(items.rename(columns={"code": "item"}), on="item")
    d = d.assign(period=periods.labels(pd.Series(d["period"]), "month").to_numpy())
    d[["item", "period", "actual", "family", "region", "channel"]].to_csv(folder / "demand.csv", index=False)
    f = forecasts.assign(period=periods.labels(pd.Series(forecasts["period"]), "month").to_numpy())
    f.to_csv(folder / "forecasts.csv", index=False)
    pd.DataFrame(maturity_demo.sample_rows(end, seed)).to_csv(folder / "assessments.csv", index=False)
    return sorted(p.name for p in folder.iterdir())
