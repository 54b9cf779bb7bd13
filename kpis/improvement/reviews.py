"""Post-implementation reviews (PIR): drafts, submission, audited amendments, KPI prefill, list and search.

Saves run through kpis.store.retry; a save that names `expected_version` (the version the form was opened at)
is refused with kpis.store.versions.EditConflict when someone else saved the review since."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, func, or_, select

from kpis import safety
from kpis.access import rules
from kpis.access.users import User, require
from kpis.config import PRACTICES, AppConfig
from kpis.series import kpi_series
from kpis.store import audit, versions
from kpis.store.engine import session_factory
from kpis.store.models import Action, Review, ReviewKpi, utcnow
from kpis.store.retry import retrying

METHODS = ("5 whys", "fishbone", "other")
TEXT_FIELDS = {  # field -> heading, in the order a review reads
    "objectives": "Objectives",
    "planned": "What was planned",
    "happened": "What happened",
    "root_cause": "Why they differ (root cause)",
    "went_well": "What went well",
    "to_improve": "What to improve",
    "lessons": "Lessons learned",
    "benefits": "Benefits realised",
}
FIELDS = (
    "initiative",
    "practices",
    "review_date",
    "period",
    "team",
    "facilitator",
    "participants",
    *TEXT_FIELDS,
    "root_cause_method",
    "rating",
)
KPI_FIELDS = ("kpi_id", "baseline", "target", "actual", "baseline_period", "actual_period")


class ReviewRefused(ValueError):
    """A review write that breaks a rule; the message says why."""


def check_review(
    fields: dict[str, Any], kpis: list[dict[str, Any]], config: AppConfig, *, submit: bool
) -> list[tuple[str, str]]:
    """Problems as (field, message). A draft needs an initiative; a submitted review needs every core field."""
    problems: list[tuple[str, str]] = [(n, f"{n} {safety.NUL_MESSAGE}") for n in safety.nul_fields(fields)]
    problems += [("kpis", f"KPI {n} {safety.NUL_MESSAGE}") for k in kpis for n in safety.nul_fields(k)]
    if not str(fields.get("initiative") or "").strip():
        problems.append(("initiative", "initiative is required"))
    if len(str(fields.get("initiative") or "")) > 200:
        problems.append(("initiative", "initiative is longer than 200 characters"))
    for name in ("team", "facilitator"):
        if len(str(fields.get(name) or "")) > 120:
            problems.append((name, f"{name} is longer than 120 characters"))
    unknown = [p for p in fields.get("practices") or [] if p not in PRACTICES]
    if unknown:
        problems.append(("practices", f"unknown practice(s) {', '.join(unknown)}"))
    if fields.get("root_cause_method", "5 whys") not in METHODS:
        problems.append(("root_cause_method", f"method must be one of {', '.join(METHODS)}"))
    rating = fields.get("rating")
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        problems.append(("rating", "rating must be a whole number from 1 to 5"))
    if submit:
        for name in ("team", "facilitator"):
            if not str(fields.get(name) or "").strip():
                problems.append((name, f"{name} is required to submit"))
        if not fields.get("practices"):
            problems.append(("practices", "tag at least one practice to submit"))
        if not isinstance(fields.get("review_date"), dt.date):
            problems.append(("review_date", "review date is required to submit"))
    seen = set()
    for k in kpis:
        if k.get("kpi_id") not in config.kpi_by_id:
            problems.append(("kpis", f"unknown KPI '{k.get('kpi_id')}'"))
        if k.get("kpi_id") in seen:
            problems.append(("kpis", f"KPI '{k.get('kpi_id')}' is listed twice"))
        seen.add(k.get("kpi_id"))
    return problems


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    out = {k: fields.get(k) for k in FIELDS if k in fields}
    for k in ("initiative", "team", "facilitator", *TEXT_FIELDS):
        if k in out:
            out[k] = str(out[k] or "").strip()
    out["practices"] = list(out.get("practices") or [])
    out["participants"] = [p.strip() for p in out.get("participants") or [] if p and p.strip()]
    out.setdefault("root_cause_method", "5 whys")
    return out


def _snapshot(r: Review, kpi_rows: list[ReviewKpi]) -> dict[str, Any]:
    d = {k: getattr(r, k) for k in FIELDS}
    d["kpis"] = [{k: getattr(x, k) for k in KPI_FIELDS} for x in kpi_rows]
    return _jsonable(d)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def save_review(
    *,
    engine: Engine,
    fields: dict[str, Any],
    kpis: list[dict[str, Any]],
    user: User,
    config: AppConfig,
    submit: bool,
    review_id: int | None = None,
    expected_version: int | None = None,
) -> int:
    """Create or change a review (draft or submitted); amendments of a submitted review are audited with before/after.

    `expected_version` is the version the form was opened at: when the review was saved since, EditConflict."""
    require(user, "submit", engine=engine, what="save review")
    fields = _clean(fields)
    problems = check_review(fields, kpis, config, submit=submit)
    if problems:
        raise ReviewRefused("; ".join(m for _, m in problems))
    if not isinstance(fields.get("review_date"), dt.date):
        fields["review_date"] = dt.date.today()

    def write() -> int:
        now = utcnow()
        with session_factory(engine).begin() as s:
            if review_id is None:
                r = Review(**fields, status="draft", created_at=now, created_by=user.name)
                if submit:  # submitted in the INSERT, so a new review starts at version 1
                    r.status, r.submitted_by, r.submitted_at = "submitted", user.name, now
                s.add(r)
                s.flush()
                before = None
            else:
                r = s.get(Review, int(review_id))
                if r is None:
                    raise ReviewRefused(f"there is no review #{review_id}")
                versions.check(r, expected_version, entity="review")
                if r.status == "draft" and not user.is_self(r.created_by):
                    raise ReviewRefused("a draft can only be changed by its author")
                if r.status == "submitted" and not submit:
                    raise ReviewRefused("a submitted review cannot go back to draft; amend it instead")
                if r.status == "submitted" and not rules.allowed(
                    user.role, "amend review", own=user.is_self(r.created_by)
                ):
                    raise ReviewRefused("only the author or a manager may amend a submitted review")
                old_kpis = list(s.execute(select(ReviewKpi).where(ReviewKpi.review_id == r.id)).scalars())
                before = _snapshot(r, old_kpis)
                for k, v in fields.items():
                    setattr(r, k, v)
                # Always a change (the stamp), so the version goes up in the checked UPDATE even when only KPIs moved.
                r.updated_at, r.updated_by = now, user.name
                was = r.status
                if submit and r.status == "draft":
                    r.status, r.submitted_by, r.submitted_at = "submitted", user.name, now
                s.flush()  # one checked UPDATE, one version, before the KPI rows are replaced
                s.execute(delete(ReviewKpi).where(ReviewKpi.review_id == r.id))
            for k in kpis:
                s.add(ReviewKpi(review_id=r.id, **{f: k.get(f) for f in KPI_FIELDS}))
            s.flush()
            new_kpis = list(s.execute(select(ReviewKpi).where(ReviewKpi.review_id == r.id)).scalars())
            after = _snapshot(r, new_kpis)
            if before is None:
                action = "submit" if submit else "create"
                audit.record(s, user=user, action=action, entity="review", entity_id=r.id, details={"after": after})
            else:
                changed = {
                    k: {"old": before.get(k), "new": after.get(k)} for k in after if before.get(k) != after.get(k)
                }
                action = "amend" if was == "submitted" else ("submit" if submit else "update")
                audit.record(s, user=user, action=action, entity="review", entity_id=r.id, details={"changed": changed})
            return r.id

    return retrying(write)


def list_reviews(engine: Engine, user: User) -> pd.DataFrame:
    """Reviews the user may see (every submitted one, plus their own drafts), newest first, with KPI ids and
    counts of follow-up actions and of those awaiting verification."""
    cols = [
        "id",
        "initiative",
        "practices",
        "review_date",
        "period",
        "team",
        "facilitator",
        "participants",
        *TEXT_FIELDS,
        "root_cause_method",
        "rating",
        "status",
        "created_by",
        "submitted_by",
        "submitted_at",
    ]
    q = (
        select(*[getattr(Review, c) for c in cols])
        .where(or_(Review.status == "submitted", *_authored_by(user)))
        .order_by(Review.review_date.desc(), Review.id.desc())
    )
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(q).all(), columns=cols)
        kp = pd.DataFrame(conn.execute(select(ReviewKpi.review_id, ReviewKpi.kpi_id)).all(), columns=["id", "kpi_id"])
        ac = pd.DataFrame(
            conn.execute(select(Action.review_id, Action.status).where(Action.review_id.is_not(None))).all(),
            columns=["id", "status"],
        )
    df["kpis"] = df["id"].map(kp.groupby("id")["kpi_id"].agg(list)).apply(lambda v: v if isinstance(v, list) else [])
    df["actions"] = df["id"].map(ac.groupby("id").size()).fillna(0).astype(int)
    df["awaiting_verification"] = df["id"].map(ac[ac["status"] == "done"].groupby("id").size()).fillna(0).astype(int)
    return df


def search_reviews(
    df: pd.DataFrame,
    *,
    text: str = "",
    practices=None,
    teams=None,
    ratings=None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
) -> pd.DataFrame:
    """Reviews matching every filter; text is searched (case-insensitive) in every text field."""
    keep = pd.Series(True, index=df.index)
    if text.strip():
        needle = text.strip().lower()
        hay = df[["initiative", "team", "facilitator", *TEXT_FIELDS]].fillna("").astype(str).agg(" ".join, axis=1)
        hay = hay + " " + df["participants"].apply(lambda p: " ".join(p or []))
        keep &= hay.str.lower().str.contains(needle, regex=False)
    if practices:
        keep &= df["practices"].apply(lambda ps: bool(set(ps or []) & set(practices)))
    if teams:
        keep &= df["team"].isin(list(teams))
    if ratings:
        keep &= df["rating"].isin(list(ratings))
    period = pd.to_datetime(df["period"].fillna(df["review_date"]))
    if period_from is not None:
        keep &= period >= pd.Timestamp(period_from)
    if period_to is not None:
        keep &= period <= pd.Timestamp(period_to)
    return df[keep]


def _authored_by(user: User) -> list:
    """SQL conditions for rows this user created: by key, or by their verified e-mail (User.is_self)."""
    out = [Review.created_by == user.name]
    if user.email:
        out.append(func.lower(Review.created_by) == user.email)
    return out


def get_review(engine: Engine, review_id: int, user: User) -> dict[str, Any] | None:
    """One review with its KPIs and follow-up actions, or None when missing or a draft of someone else."""
    with session_factory(engine)() as s:
        r = s.get(Review, int(review_id))
        if r is None or (r.status == "draft" and not user.is_self(r.created_by)):
            return None
        out = {c.name: getattr(r, c.name) for c in Review.__table__.columns}
        out["kpis"] = [
            {k: getattr(x, k) for k in KPI_FIELDS}
            for x in s.execute(select(ReviewKpi).where(ReviewKpi.review_id == r.id)).scalars()
        ]
        out["follow_up"] = [
            {
                "id": a.id,
                "ref": a.ref,
                "title": a.title,
                "owner": a.owner,
                "due_date": a.due_date,
                "status": a.status,
                "verdict": a.verdict,
            }
            for a in s.execute(select(Action).where(Action.review_id == r.id).order_by(Action.id)).scalars()
        ]
        return out


def value_at(engine: Engine, config: AppConfig, kpi_id: str, period: dt.date | None) -> float | None:
    """The KPI's total in the period holding `period` (its latest point starting on or before it), for prefill."""
    if period is None or kpi_id not in config.kpi_by_id:
        return None
    s = kpi_series(engine, config, kpi_id)
    s = s[s["period"] <= pd.Timestamp(period)]
    return None if s.empty else float(s["value"].iloc[-1])


def kpi_prefill(
    engine: Engine, config: AppConfig, kpi_id: str, *, baseline_period: dt.date | None, actual_period: dt.date | None
) -> dict[str, Any]:
    """Baseline, target and actual of a KPI for a review's periods (the person may overwrite them)."""
    from kpis.catalog.targets import targets_at

    kpi = config.kpi_by_id[kpi_id]
    target = None
    if actual_period is not None:
        t = float(targets_at(kpi, [pd.Timestamp(actual_period)])[0])
        target = None if pd.isna(t) else t
    return {
        "kpi_id": kpi_id,
        "baseline_period": baseline_period,
        "actual_period": actual_period,
        "baseline": value_at(engine, config, kpi_id, baseline_period),
        "actual": value_at(engine, config, kpi_id, actual_period),
        "target": target,
    }
