"""A KPI's trend as the KPI trends page shows it: rolled up, with target, status, XmR limits,
signals and the trend in words."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kpis import catalog, periods, spc
from kpis.config import KPI

_ORDER = {"week": 0, "month": 1, "quarter": 2, "year": 3}
SIGNAL_COLUMNS = ("beyond_limits", "two_of_three", "four_of_five", "eight_in_a_row", "any")


def rollup_choices(kpi: KPI) -> list[str]:
    """Cadences a KPI can be viewed at: its own and every coarser one (up to a year)."""
    return [c for c in periods.ROLLUP_CADENCES if _ORDER[c] >= _ORDER[kpi.cadence]]


def roll_up(series: pd.DataFrame, kpi: KPI, cadence: str) -> pd.DataFrame:
    """Aggregate a KPI series (period, value) to a coarser cadence with the KPI's rollup rule.

    Columns period, value, points (sub-periods with a complete value), expected (sub-periods a complete period
    holds), partial (points < expected), target, of (what points count: '' for sub-periods, 'segments').

    A total rolled up from segments may mark a period partial (series columns partial, segments, expected: one
    of the KPI's segments has no value for it, kpis.store.repo.kpi_totals). At the KPI's own cadence that period
    is partial (segments of expected); a coarser period holding it lacks one complete sub-period."""
    has_partial = "partial" in series.columns
    if cadence == kpi.cadence or series.empty:
        out = series[["period", "value"]].reset_index(drop=True)
        partial = series["partial"].fillna(False).astype(bool).to_numpy() if has_partial else False
        by_segment = has_partial and len(series) and bool(np.any(partial))
        return out.assign(
            points=series["segments"].to_numpy() if by_segment else 1,
            expected=series["expected"].to_numpy() if by_segment else 1,
            partial=partial,
            target=catalog.targets_at(kpi, out["period"]) if len(out) else [],
            of="segments" if by_segment else "",
        )
    s = series.sort_values("period").dropna(subset=["value"])
    s = s.assign(target=catalog.targets_at(kpi, s["period"]))
    s = s.assign(complete=~s["partial"].fillna(False).astype(bool) if has_partial else True)
    start = periods.coarse_start(s["period"], kpi.cadence, cadence)
    agg = {"sum": "sum", "mean": "mean", "last": "last"}[kpi.rollup]
    # A summed KPI is compared with the sum of its period targets; a mean or last one with the target in force.
    g = s.assign(period=start.to_numpy()).groupby("period")
    out = g.agg(value=("value", agg), points=("complete", "sum"), present=("value", "size"), target=("target", "last"))
    if agg == "sum":  # a period without a target leaves the summed target undefined, not 0
        out["target"] = g["target"].sum(min_count=1)
    out = out.reset_index()
    out["expected"] = periods.sub_periods(out["period"], kpi.cadence, cadence)
    out["partial"] = out["points"] < out["expected"]
    out["of"] = ""
    return out[["period", "value", "points", "expected", "partial", "target", "of", "present"]]


@dataclass
class TrendView:
    """Everything the KPI trends page shows for one KPI and segment."""

    kpi: KPI
    cadence: str
    table: pd.DataFrame  # period, label, value, target, status, partial, used, phase, centre, ucl, lcl, signals
    limits: spc.XmR | None  # limits of the latest phase (the only one without splits)
    trend: spc.Trend | None
    trend_text: str
    baseline_label: str
    include_partial: bool = False
    phases: list[tuple[str, spc.XmR | None]] | None = None  # (first period label, limits) per phase

    @property
    def used(self) -> pd.DataFrame:
        """Rows that count for latest value, change, status share, limits, signals and trend."""
        return self.table[self.table["used"]] if "used" in self.table else self.table

    @property
    def latest(self) -> pd.Series | None:
        """The newest counted period (a partial one only when partial periods are included)."""
        u = self.used
        return u.iloc[-1] if len(u) else None

    @property
    def previous(self) -> pd.Series | None:
        """The counted period before the latest one."""
        u = self.used
        return u.iloc[-2] if len(u) > 1 else None

    @property
    def partial_rows(self) -> pd.DataFrame:
        """Periods that lack some of their sub-periods."""
        return self.table[self.table["partial"]] if "partial" in self.table else self.table.iloc[0:0]

    @property
    def partial_note(self) -> str:
        """'2026-Q4 is partial (4 of 13 weeks): left out of ...' or '' when no period is partial."""
        p = self.partial_rows
        if p.empty:
            return ""
        unit = periods.sub_unit(self.kpi.cadence)
        parts = [
            f"{r['label']} ({int(r['points'])} of {int(r['expected'])} {r.get('of') or unit})" for _, r in p.iterrows()
        ]
        shown = ", ".join(parts[:4]) + (f" and {len(parts) - 4} more" if len(parts) > 4 else "")
        verb = "is" if len(parts) == 1 else "are"
        if self.include_partial:
            return (
                f"{shown} {verb} partial and INCLUDED in the latest value, change, status, limits, signals "
                "and trend; compare them with care."
            )
        return (
            f"{shown} {verb} partial: drawn hollow and left out of the latest value, change, status, "
            "limits, signals and trend."
        )

    @property
    def trend_headline(self) -> str:
        """The trend sentence without its p-value: 'Improving 0.2 pts a month' or 'No clear trend'."""
        return self.trend_text.split(",")[0].split(" (")[0].capitalize()

    @property
    def trend_evidence(self) -> str:
        """The statistical part of the trend sentence: 'p < 0.001', 'p = 0.31'."""
        text = self.trend_text
        if ", " in text:
            return text.split(", ", 1)[1]
        return text[text.find("(") + 1 : text.rfind(")")] if "(" in text else text

    @property
    def on_target_share(self) -> float:
        """Share of the counted periods whose status is green (NaN without periods)."""
        u = self.used
        return float((u["status"] == "green").mean()) if len(u) else float("nan")

    @property
    def has_limits(self) -> bool:
        """True when at least one phase has control limits (signals are only judged then)."""
        return any(lim is not None for _, lim in (self.phases or [])) or self.limits is not None


def trend_view(
    series: pd.DataFrame,
    kpi: KPI,
    *,
    cadence: str | None = None,
    baseline: str = "all",
    baseline_until: dt.date | None = None,
    currency: str = "EUR",
    include_partial: bool = False,
    splits: list[dt.date] | None = None,
) -> TrendView:
    """Series with target, status, XmR limits and signals, and the trend in words.

    baseline: 'all' (every point), 'first12' (the first 12 points) or 'until' (points before baseline_until),
    applied within each phase when `splits` (dates where the process changed) are given. Partial periods of a
    roll-up are left out of limits, signals and trend unless include_partial.
    """
    cadence = cadence or kpi.cadence
    s = roll_up(series, kpi, cadence).sort_values("period").reset_index(drop=True)
    s["label"] = periods.labels(s["period"], cadence) if len(s) else pd.Series(dtype=str)
    # A summed roll-up is judged per period (value and target divided by the periods in it), so the
    # amber/red tolerances, which are per period, keep their meaning.
    s["scale"] = s["present"].astype(float) if (kpi.rollup == "sum" and cadence != kpi.cadence and len(s)) else 1.0
    s["status"] = (
        catalog.status(kpi, (s["value"] / s["scale"]).to_numpy(), (s["target"] / s["scale"]).to_numpy())
        if len(s)
        else []
    )
    s["used"] = (~s["partial"] | include_partial) & s["value"].notna() if len(s) else pd.Series(dtype=bool)
    # a split takes effect from the start of the period that holds it (that period belongs to the new phase)
    splits = sorted({periods.start_of(d, cadence) for d in (splits or [])})
    s["phase"] = spc.phase_ids(s["period"], splits) if len(s) else pd.Series(dtype=int)
    used = s[s["used"]]
    ph = s["phase"].to_numpy()
    n_phases = len(splits) + 1
    base = s["used"].to_numpy().copy()
    if baseline == "first12":
        for k in range(n_phases):
            idx = np.flatnonzero(base & (ph == k))
            base[idx[12:]] = False
        label = "first 12 points" + (" of each phase" if splits else "")
    elif baseline == "until" and baseline_until is not None and not splits:
        base &= (s["period"] < pd.Timestamp(baseline_until)).to_numpy()
        label = f"points before {periods.label(baseline_until, cadence)}"
    else:
        label = "all points" + (" of each phase" if splits else "")
    if not include_partial and s["partial"].any():
        label += ", partial periods left out"
    lims = spc.phased_limits(s["value"].to_numpy(), ph, baseline=base) if len(s) else []
    lims += [None] * (n_phases - len(lims))
    # a run or window of the signal rules stops at a missing or left-out period (its period number jumps)
    numbers = np.asarray(periods.period_number(used["period"], cadence), dtype=float) if len(used) else None
    flags = spc.phased_signals(used["value"].to_numpy(), ph[s["used"].to_numpy()], lims, numbers) if len(used) else None
    for c in SIGNAL_COLUMNS:
        s[c] = False
        if flags is not None:
            s.loc[used.index, c] = flags[c].to_numpy()
    for col, attr in (("centre", "centre"), ("ucl", "ucl"), ("lcl", "lcl")):
        s[col] = [np.nan if lims[k] is None else getattr(lims[k], attr) for k in ph] if len(s) else []
    phase_starts = [s["label"].iloc[0] if len(s) else ""] + [periods.label(d, cadence) for d in splits]
    limits = lims[-1] if lims else None
    t = np.asarray(periods.period_number(used["period"], cadence), dtype=float) if len(used) else np.array([])
    tr = spc.trend(used["value"].to_numpy(), t) if len(used) else None
    text = spc.describe_trend(
        tr,
        direction=kpi.direction,
        unit=catalog.change_unit(kpi, currency),
        per=periods.per_word(cadence),
        scale=catalog.display_scale(kpi),
        decimals=catalog.decimals(kpi),
    )
    return TrendView(
        kpi=kpi,
        cadence=cadence,
        table=s,
        limits=limits,
        trend=tr,
        trend_text=text,
        baseline_label=label,
        include_partial=include_partial,
        phases=list(zip(phase_starts, lims)),
    )


SIGNAL_LABELS = {
    "beyond_limits": "Point beyond the control limits",
    "two_of_three": "2 of 3 beyond 2σ",
    "four_of_five": "4 of 5 beyond 1σ",
    "eight_in_a_row": "8 in a row on one side",
}


def signal_summary(view: TrendView) -> list[str]:
    """Sentences naming each signal rule that fired and the periods it fired in."""
    out = []
    for col, text in SIGNAL_LABELS.items():
        if col in view.table and view.table[col].any():
            labs = view.table.loc[view.table[col], "label"].tolist()
            shown = ", ".join(labs[:6]) + (f" and {len(labs) - 6} more" if len(labs) > 6 else "")
            out.append(f"{text}: {shown}")
    return out


def export_table(view: TrendView, currency: str = "EUR") -> pd.DataFrame:
    """The trend table as people read it: period, value, target, status, partial, centre, lower_limit,
    upper_limit, signal (the columns of the CSV download and of `python -m kpis trend`)."""
    t = view.table
    status = t["status"].map(catalog.STATUS_LABELS).where(~(t["value"].notna() & t["target"].isna()), "No target")
    if "partial" in t and not view.include_partial:
        status = status.where(~t["partial"], "Partial period")
    out = pd.DataFrame(
        {
            "period": t["label"],
            "value": t["value"],
            "target": t["target"],
            "status": status,
            "partial": t.get("partial", False),
            "centre": t["centre"],
            "lower_limit": t["lcl"],
            "upper_limit": t["ucl"],
            "signal": [
                ", ".join(SIGNAL_LABELS[c] for c in SIGNAL_LABELS if c in t and bool(t.at[i, c])) for i in t.index
            ],
        }
    )
    return out


def shown_table(view: TrendView, currency: str = "EUR") -> pd.DataFrame:
    """export_table as the page shows it: values in the display unit (percent for a % KPI) rounded by the app's one
    rule to the KPI's decimals (kpis.formatting), so the table reads what the chart and the tiles say."""
    from kpis import formatting

    out = export_table(view, currency)
    scale, d = catalog.display_scale(view.kpi), catalog.decimals(view.kpi)
    for col in ("value", "target", "centre", "lower_limit", "upper_limit"):
        out[col] = [formatting.round_half_even(v * scale, d) if pd.notna(v) else np.nan for v in out[col]]
    return out


def limits_text(view: TrendView, currency: str = "EUR") -> str:
    """Markdown under the chart: the trend, the control limits (per phase) and the signals, in words.
    Nothing is said about signals when no phase has limits."""
    kpi = view.kpi

    def fmt(v: float) -> str:
        return catalog.format_value(kpi, v, currency)

    lines = [f"**Trend:** {view.trend_text} (Theil–Sen slope, Kendall's τ test)."]
    phases = view.phases or [("", view.limits)]
    for start, lim in phases:
        where = f" (phase from {start})" if len(phases) > 1 else ""
        if lim is None:
            lines.append(
                f"**Control limits{where}:** not computed — at least {spc.MIN_POINTS} complete points "
                "are needed in the baseline, so no signals are judged."
            )
        else:
            lines.append(
                f"**Control limits{where}** from {view.baseline_label} ({lim.n_baseline} points"
                f"{', provisional' if lim.provisional else ''}): centre {fmt(lim.centre)}, "
                f"limits {fmt(lim.lcl)} – {fmt(lim.ucl)}."
            )
    if not view.has_limits:
        return "  \n".join(lines)
    sig = signal_summary(view)
    if sig:
        return "  \n".join(lines) + "\n\n**Signals** (a real change, not noise):\n" + "\n".join(f"- {s}" for s in sig)
    return "  \n".join([*lines, "**Signals:** none — the variation is consistent with routine noise."])


def export_name(view: TrendView, segment: str = "") -> str:
    """CSV file name carrying the view: KPI, segment, cadence and whether partial periods are included."""
    seg = "_" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in segment) if segment else ""
    return f"{view.kpi.id}{seg}_by_{view.cadence}{'_incl_partial' if view.include_partial else ''}.csv"
