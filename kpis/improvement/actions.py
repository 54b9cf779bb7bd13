"""Improvement actions: their fields, the status rules, and every audited write.

Status flow: ``open -> in progress -> done -> verified | not effective``; ``cancelled`` from open or
in progress. ``done`` needs a completion date; ``verified`` / ``not effective`` freeze the verdict
(kpis.improvement.effect) with its figures and who decided. Any other move is refused with
:class:`ActionRefused`, whoever asks (page, CLI, import, a stale form).

Every write runs through kpis.store.retry (the database's "locked" or "serialization" answers are retried),
and an edit or move that names `expected_version` (the version its form was opened at) is refused with
kpis.store.versions.EditConflict when someone else changed the action since.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, func, select

from kpis import limits, safety
from kpis.access.users import User, require
from kpis.config import PRACTICES, AppConfig
from kpis.improvement import effect
from kpis.store import audit, versions
from kpis.store.engine import session_factory
from kpis.store.models import ACTION_STATUSES, Action, Decision, Review, utcnow
from kpis.store.retry import retrying

STATUSES = ACTION_STATUSES
COMPLETED_STATES = ("done", "verified", "not effective")
DECIDED_STATES = ("verified", "not effective")
TYPES = ("improvement", "corrective", "preventive")
SOURCES = {
    "pir": "Post-implementation review",
    "kpi_exception": "KPI exception",
    "meeting_decision": "Meeting decision",
    "other": "Other",
}
PRIORITIES = ("high", "medium", "low")
DIRECTIONS = ("higher", "lower")
MOVES: dict[str, tuple[str, ...]] = {
    "open": ("in progress", "cancelled"),
    "in progress": ("done", "cancelled"),
    "done": ("verified", "not effective"),
    "verified": (),
    "not effective": (),
    "cancelled": (),
}
# Fields a person types or picks; status, dates of moves and the verdict only change through move_action.
FIELDS = (
    "title",
    "description",
    "type",
    "source",
    "review_id",
    "decision_id",
    "source_note",
    "practice",
    "kpi_id",
    "segment",
    "expected_direction",
    "owner",
    "sponsor",
    "priority",
    "due_date",
    "ref",
)
LIMITS = {"title": 200, "source_note": 255, "owner": 120, "sponsor": 120, "segment": 80, "ref": 60}


class ActionRefused(ValueError):
    """A write that breaks an action rule; the message says why and what to do."""


def allowed_moves(status: str, user: User | None = None) -> list[str]:
    """Statuses an action in `status` may move to (for this user, when given)."""
    moves = list(MOVES.get(status, ()))
    if user is not None and not user.can("manage_actions"):
        return []
    return moves


def check_fields(fields: dict[str, Any], config: AppConfig) -> list[tuple[str, str]]:
    """Problems with an action's fields as (field, message); empty when the action may be stored."""
    problems: list[tuple[str, str]] = [(n, f"{n} {safety.NUL_MESSAGE}") for n in safety.nul_fields(fields)]
    for name in ("title", "owner"):
        if not str(fields.get(name) or "").strip():
            problems.append((name, f"{name} is required"))
    for name, limit in LIMITS.items():
        if len(str(fields.get(name) or "")) > limit:
            problems.append((name, f"{name} is longer than {limit} characters"))
    if fields.get("type") not in TYPES:
        problems.append(("type", f"type must be one of {', '.join(TYPES)}"))
    if fields.get("source", "other") not in SOURCES:
        problems.append(("source", f"source must be one of {', '.join(SOURCES)}"))
    if fields.get("practice") not in PRACTICES:
        problems.append(("practice", "practice must be one of " + ", ".join(PRACTICES)))
    if fields.get("priority", "medium") not in PRIORITIES:
        problems.append(("priority", f"priority must be one of {', '.join(PRIORITIES)}"))
    if not isinstance(fields.get("due_date"), dt.date):
        problems.append(("due_date", "due date is required (YYYY-MM-DD)"))
    elif problem := limits.date_problem(fields["due_date"], config.limits, "due date"):
        problems.append(("due_date", problem))
    kpi_id = fields.get("kpi_id") or None
    if kpi_id is not None and kpi_id not in config.kpi_by_id:
        problems.append(("kpi_id", f"unknown KPI '{kpi_id}'; see the KPI catalog for valid ids"))
    direction = fields.get("expected_direction") or None
    if kpi_id and direction not in DIRECTIONS:
        problems.append(
            (
                "expected_direction",
                (
                    "an action linked to a KPI needs the expected direction 'higher' or "
                    "'lower' (the way the action should move the KPI)"
                ),
            )
        )
    if direction is not None and direction not in DIRECTIONS:
        problems.append(("expected_direction", "expected direction must be 'higher' or 'lower'"))
    if fields.get("segment") and not kpi_id:
        problems.append(("segment", "a segment needs a KPI"))
    return problems


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Only known fields, text stripped, empty optional text as None."""
    out: dict[str, Any] = {}
    for k in FIELDS:
        if k not in fields:
            continue
        v = fields[k]
        if isinstance(v, str):
            v = v.strip()
            if v == "" and k not in ("description", "segment"):
                v = None
        out[k] = v
    out.setdefault("segment", "")
    out["segment"] = out["segment"] or ""
    if not out.get("kpi_id"):
        out["expected_direction"] = out.get("expected_direction") or None
    return out


def _refuse_if(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise ActionRefused("; ".join(msg for _, msg in problems))


def _check_links(s, fields: dict[str, Any], action_id: int | None = None) -> None:
    """Linked review/decision exist; the ref is not used by another action."""
    if fields.get("review_id") is not None and s.get(Review, int(fields["review_id"])) is None:
        raise ActionRefused(f"review #{fields['review_id']} does not exist")
    if fields.get("decision_id") is not None and s.get(Decision, int(fields["decision_id"])) is None:
        raise ActionRefused(f"decision #{fields['decision_id']} does not exist")
    if fields.get("ref"):
        other = s.execute(select(Action.id).where(Action.ref == fields["ref"])).scalar()
        if other is not None and other != action_id:
            raise ActionRefused(f"ref '{fields['ref']}' is already used by action #{other}")


def create_action(*, engine: Engine, fields: dict[str, Any], user: User, config: AppConfig) -> int:
    """Store a new open action (audited); returns its id."""
    require(user, "manage_actions", engine=engine, what="create action")
    fields = _clean({"source": "other", "priority": "medium", **fields})
    _refuse_if(check_fields(fields, config))

    def write() -> int:
        with session_factory(engine).begin() as s:
            _check_links(s, fields)
            a = Action(**fields, status="open", created_at=utcnow(), created_by=user.name)
            s.add(a)
            s.flush()
            audit.record(s, user=user, action="create", entity="action", entity_id=a.id, details=_jsonable(fields))
            return a.id

    return retrying(write)


def update_action(
    *,
    engine: Engine,
    action_id: int,
    fields: dict[str, Any],
    user: User,
    config: AppConfig,
    expected_version: int | None = None,
) -> list[str]:
    """Change an action's fields (not its status); audited with before/after; returns the changed field names.

    `expected_version` is the version the form was opened at: when the action changed since, EditConflict."""
    require(user, "manage_actions", engine=engine, what="update action")

    def write() -> list[str]:
        with session_factory(engine).begin() as s:
            a = _get(s, action_id)
            versions.check(a, expected_version, entity="action")
            judged = ("kpi_id", "segment", "expected_direction")
            if a.status in DECIDED_STATES and any(fields.get(k, getattr(a, k)) != getattr(a, k) for k in judged):
                raise ActionRefused("the KPI, segment and direction of an action with a frozen verdict cannot change")
            merged = _clean({**{k: getattr(a, k) for k in FIELDS}, **fields})
            _refuse_if(check_fields(merged, config))
            _check_links(s, merged, action_id)
            changed = {k: (getattr(a, k), v) for k, v in merged.items() if getattr(a, k) != v}
            if not changed:
                return []
            for k, (_, v) in changed.items():
                setattr(a, k, v)
            a.updated_at, a.updated_by = utcnow(), user.name  # the version goes up in the checked UPDATE
            audit.record(
                s,
                user=user,
                action="update",
                entity="action",
                entity_id=a.id,
                details={k: {"old": _jsonable(o), "new": _jsonable(n)} for k, (o, n) in changed.items()},
            )
            return sorted(changed)

    return retrying(write)


def move_action(
    *,
    engine: Engine,
    action_id: int,
    to: str,
    user: User,
    config: AppConfig,
    completed_on: dt.date | None = None,
    on: dt.date | None = None,
    expected_status: str | None = None,
    expected_version: int | None = None,
    not_before_created: bool = False,
) -> str:
    """Move an action to status `to` if the rules allow it (audited); returns a sentence saying what happened.

    `not_before_created` (the app's form): a completion date before the day the action was created is refused.
    The core leaves it off for callers that replay an existing log, whose dates may precede the row.

    `expected_status` / `expected_version` are what the caller saw: when the action changed meanwhile the move is
    refused (ActionRefused / EditConflict naming who changed it and when).
    """
    require(user, "manage_actions", engine=engine, what="move action")
    on = on or dt.date.today()

    def write() -> str:
        with session_factory(engine).begin() as s:
            a = _get(s, action_id)
            versions.check(a, expected_version, entity="action")
            if expected_status is not None and a.status != expected_status:
                raise ActionRefused(
                    f"action #{a.id} is now '{a.status}' (it was '{expected_status}' when you opened "
                    "it); reload and try again"
                )
            if to not in STATUSES:
                raise ActionRefused(f"unknown status '{to}'; statuses are {', '.join(STATUSES)}")
            if to not in MOVES[a.status]:
                allowed = ", ".join(f"'{m}'" for m in MOVES[a.status]) or "none (this status is final)"
                raise ActionRefused(f"action #{a.id} cannot move from '{a.status}' to '{to}'; allowed: {allowed}")
            before = {"status": a.status, "completed_on": _jsonable(a.completed_on)}
            details: dict[str, Any] = {"from": a.status, "to": to}
            if to == "done":
                if completed_on is None:
                    raise ActionRefused("'done' needs a completion date")
                if completed_on > on:
                    raise ActionRefused(f"the completion date {completed_on} is in the future")
                created = created_day(a.created_at)
                if not_before_created and created is not None and completed_on < created:
                    raise ActionRefused(
                        f"the completion date {completed_on} is before the day action #{a.id} was created "
                        f"({created}); an action cannot be completed before it exists"
                    )
                a.completed_on = completed_on
                details["completed_on"] = completed_on.isoformat()
            elif to == "cancelled":
                a.cancelled_on = on
                details["cancelled_on"] = on.isoformat()
            elif to in DECIDED_STATES:
                v = effect.current_verdict(
                    engine,
                    config,
                    kpi_id=a.kpi_id,
                    segment=a.segment,
                    direction=a.expected_direction,
                    completed_on=a.completed_on,
                )
                a.verdict = v.verdict if v is not None else None
                a.verdict_figures = v.figures() if v is not None else None
                a.verified_by, a.verified_at = user.name, utcnow()
                details["verdict"] = a.verdict
                details["figures"] = a.verdict_figures
            a.status = to
            a.updated_at, a.updated_by = utcnow(), user.name  # the version goes up in the checked UPDATE
            details["before"] = before
            audit.record(s, user=user, action="status", entity="action", entity_id=a.id, details=details)
            return f"Action #{a.id} moved from '{before['status']}' to '{to}'."

    return retrying(write)


def created_day(created_at: dt.datetime | None) -> dt.date | None:
    """The UTC day an action was created on (the earliest completion date the app's form accepts)."""
    if created_at is None:
        return None
    if created_at.tzinfo is not None:
        created_at = created_at.astimezone(dt.UTC)
    return created_at.date()


def _get(s, action_id: int) -> Action:
    a = s.get(Action, int(action_id))
    if a is None:
        raise ActionRefused(f"there is no action #{action_id}")
    return a


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


def get_action(engine: Engine, action_id: int) -> dict[str, Any] | None:
    """One action as a dict of its columns, or None."""
    with session_factory(engine)() as s:
        a = s.get(Action, int(action_id))
        return None if a is None else {c.name: getattr(a, c.name) for c in Action.__table__.columns}


def awaiting_verification(engine: Engine) -> int:
    """How many actions are done and wait for a manager to mark them verified or not effective."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Action).where(Action.status == "done")).scalar_one())
