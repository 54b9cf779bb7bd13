"""Improvement-loop commands: `actions` (the action log, overdue) and `effect` (did an action work?)."""

from __future__ import annotations

import datetime as dt
import json
import sys

from kpis.cli import common

ACTION_COLUMNS = [
    "id",
    "ref",
    "title",
    "kpi",
    "segment",
    "owner",
    "sponsor",
    "practice",
    "due_date",
    "status",
    "completed_on",
    "overdue",
    "days_overdue",
    "verdict",
]
EFFECT_FIELDS = [
    "verdict",
    "n_before",
    "n_after",
    "centre",
    "lower_limit",
    "upper_limit",
    "signal_improving",
    "signal_worsening",
    "p_good",
    "p_bad",
    "median_shift",
    "explanation",
]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of {text!r}: expected YYYY-MM-DD") from None


def cmd_actions(args) -> int:
    import pandas as pd

    from kpis.improvement import effect, views

    cfg = common.config(args)
    engine = common.engine(cfg)
    try:
        as_of = _date(args.as_of) if args.as_of else dt.date.today()
    except ValueError as e:
        return common.fail(str(e))
    df = views.load_actions(engine, as_of=as_of)
    if args.overdue:
        df = df[df["overdue"]]
    verdicts = []
    for row in df.itertuples():
        frozen = row.verdict if isinstance(row.verdict, str) else ""
        if frozen or row.status != "done":
            verdicts.append(frozen)
            continue
        v = effect.current_verdict(
            engine,
            cfg,
            kpi_id=row.kpi_id,
            segment=row.segment,
            direction=row.expected_direction,
            completed_on=row.completed_on,
        )
        verdicts.append(v.verdict if v else "")
    out = df.assign(
        kpi=df["kpi_id"].fillna(""),
        verdict=verdicts,
        ref=df["ref"].fillna(""),
        completed_on=df["completed_on"].map(lambda d: "" if pd.isna(d) else d.isoformat()),
        sponsor=df["sponsor"].fillna(""),
    )
    common.print_frame(out[ACTION_COLUMNS].reset_index(drop=True), args.format, empty="(no actions)")
    return 0


def cmd_effect(args) -> int:
    from kpis.access import people
    from kpis.improvement import actions, effect

    cfg = common.config(args)
    engine = common.engine(cfg)
    a = actions.get_action(engine, args.id)
    if a is None:
        return common.fail(f"there is no action #{args.id}")
    if a["verdict_figures"]:
        v, frozen = effect.Verdict.from_figures(a["verdict_figures"]), True
    else:
        frozen = False
        if not a["kpi_id"]:
            return common.fail(f"action #{a['id']} is not linked to a KPI, so there is no verdict")
        if a["completed_on"] is None:
            return common.fail(f"action #{a['id']} has no completion date yet (status '{a['status']}')")
        v = effect.current_verdict(
            engine,
            cfg,
            kpi_id=a["kpi_id"],
            segment=a["segment"],
            direction=a["expected_direction"],
            completed_on=a["completed_on"],
        )
        if v is None:
            return common.fail(f"action #{a['id']} has no expected direction ('higher' or 'lower')")
    figures = v.figures()
    if args.format == "json":
        print(
            json.dumps(
                {
                    **{k: figures[k] for k in EFFECT_FIELDS},
                    "frozen": frozen,
                    "verified_by": a["verified_by"] if frozen else None,
                },
                indent=2,
            )
        )
        return 0
    width = max(map(len, EFFECT_FIELDS))
    for k in EFFECT_FIELDS:
        val = figures[k]
        text = "" if val is None else (f"{val:.6g}" if isinstance(val, float) else str(val))
        print(f"{k:<{width}}  {text}")
    state = (
        f"frozen when {people.name(engine, a['verified_by'])} marked the action '{a['status']}' "
        f"on {a['verified_at']:%Y-%m-%d}"
        if frozen
        else "on today's data (not frozen yet)"
    )
    print(f"({state})", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser("actions", help="list improvement actions (overdue ones with --overdue)")
    p.add_argument("--overdue", action="store_true", help="only actions past their due date and still open")
    p.add_argument("--as-of", help="judge overdue as of this date (YYYY-MM-DD; default today)")
    common.add_format(p)
    p.set_defaults(func=cmd_actions)
    e = sub.add_parser("effect", help="did an action work? the verdict on its KPI and its figures")
    e.add_argument("id", type=int, help="the action's number in the app")
    common.add_format(e, ("table", "json"))
    e.set_defaults(func=cmd_effect)
