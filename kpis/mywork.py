"""My work: what waits for the acting user across the app, as plain data for the My work page.

Ownership is matched by name. The records keep people as typed or imported names (an action's owner, a
decision's owner, a KPI's owner in config.toml, a maturity respondent) or as the acting user's name (a
review's author); a person is matched, ignoring case and surrounding spaces, by:

- their user name (the key ``oidc:<iss>|<sub>`` when signed in, the login or SOP_PULSE_USER in local mode),
- their e-mail address, when the identity provider verified it (kpis.access.identity),
- their display name (the identity provider's `name` claim),
- the name in their verified e-mail address: `maria.chen@example.com` -> "maria chen" (dots, underscores
  and hyphens read as spaces).

A draft review is private to its author, so drafts are matched by who the person is (their key or verified
e-mail: User.keys), never by a display name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Engine, func, select

from kpis import commentary
from kpis.access.identity import OIDC
from kpis.access.users import User
from kpis.catalog import freshness, overview, units
from kpis.config import AppConfig
from kpis.improvement.views import add_overdue
from kpis.maturity.assessments import current_quarter, quarter_label
from kpis.series import kpi_totals
from kpis.store.models import OPEN_ACTION_STATUSES, Action, Assessment, Decision, Review

ACTION_COLUMNS = ["id", "ref", "title", "status", "due_date", "priority", "overdue", "days_overdue"]
DRAFT_COLUMNS = ["id", "initiative", "review_date", "updated"]
DECISION_COLUMNS = ["id", "ref", "text", "owner", "raised_on", "age_days"]
KPI_COLUMNS = ["kpi_id", "name", "value", "target", "period_label"]
MATCHED_BY = (
    "your login or verified sign-in e-mail, your display name, and the name in your e-mail address "
    '(maria.chen@… matches "Maria Chen"), ignoring upper and lower case'
)


def owner_names(user: User) -> tuple[str, ...]:
    """The lower-case names that count as this user in owner fields (see the module docstring)."""
    mail = user.email or (user.name if "@" in user.name and not user.name.startswith(OIDC) else None)
    names = [user.name, mail or "", user.display]
    if mail:
        local = mail.split("@", 1)[0]
        names.append(" ".join(local.replace(".", " ").replace("_", " ").replace("-", " ").split()))
    return tuple(dict.fromkeys(n.strip().lower() for n in names if n and n.strip()))


def _is(column, names: tuple[str, ...]):
    """SQL: the column names one of `names` (case and surrounding spaces ignored; bound parameters)."""
    return func.lower(func.trim(column)).in_(list(names))


def _mine(value: object, names: tuple[str, ...]) -> bool:
    return isinstance(value, str) and value.strip().lower() in names


def open_actions(engine: Engine, names: tuple[str, ...], today: dt.date) -> pd.DataFrame:
    """Actions the person owns that are open or in progress, overdue first (most days first), then by due date.
    Overdue = due before today (due today is not overdue yet), the Actions page's rule."""
    if not names:
        return pd.DataFrame(columns=ACTION_COLUMNS)
    q = select(Action.id, Action.ref, Action.title, Action.status, Action.due_date, Action.priority).where(
        _is(Action.owner, names), Action.status.in_(OPEN_ACTION_STATUSES)
    )
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(q).all(), columns=ACTION_COLUMNS[:6])
    df = add_overdue(df, today)
    return df.sort_values(["days_overdue", "due_date", "id"], ascending=[False, True, True], ignore_index=True)[
        ACTION_COLUMNS
    ]


def draft_reviews(engine: Engine, names: tuple[str, ...]) -> pd.DataFrame:
    """The person's reviews still in draft (a draft belongs to whoever created it), latest change first."""
    if not names:
        return pd.DataFrame(columns=DRAFT_COLUMNS)
    q = select(
        Review.id, Review.initiative, Review.review_date, func.coalesce(Review.updated_at, Review.created_at)
    ).where(Review.status == "draft", _is(Review.created_by, names))
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(q).all(), columns=DRAFT_COLUMNS)
    return df.sort_values(["updated", "id"], ascending=False, ignore_index=True)


def pending_decisions(engine: Engine, names: tuple[str, ...], today: dt.date) -> pd.DataFrame:
    """Decisions the person owns that are not decided yet, oldest first, with the days they have been pending."""
    if not names:
        return pd.DataFrame(columns=DECISION_COLUMNS)
    q = (
        select(Decision.id, Decision.ref, Decision.text, Decision.owner, Decision.raised_on)
        .where(_is(Decision.owner, names), Decision.decided_on.is_(None))
        .order_by(Decision.raised_on, Decision.id)
    )
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(q).all(), columns=DECISION_COLUMNS[:5])
    df["age_days"] = [(today - r).days for r in df["raised_on"]]
    return df[DECISION_COLUMNS]


@dataclass(frozen=True)
class AssessmentDue:
    """This quarter's maturity assessment, not answered yet by the person."""

    period: dt.date
    quarter: str
    team: str | None  # their team in their latest earlier answer, if any
    team_answered: int  # people of that team who answered this quarter


def assessment_due(engine: Engine, user: User, names: tuple[str, ...], today: dt.date) -> AssessmentDue | None:
    """This quarter's assessment when the person may answer (contributor or above) and has not; None otherwise.
    Answers are kept per respondent (the Assess page stores the user name); any of the person's names counts."""
    if not user.can("submit") or not names:
        return None
    quarter = current_quarter(today)
    with engine.connect() as conn:
        answered = conn.execute(
            select(Assessment.id).where(Assessment.period == quarter, _is(Assessment.respondent, names)).limit(1)
        ).first()
        if answered is not None:
            return None
        team = conn.execute(
            select(Assessment.team)
            .where(_is(Assessment.respondent, names), Assessment.period < quarter)
            .order_by(Assessment.period.desc())
            .limit(1)
        ).scalar_one_or_none()
        n = 0
        if team is not None:
            n = int(
                conn.execute(
                    select(func.count())
                    .select_from(Assessment)
                    .where(Assessment.period == quarter, Assessment.team == team)
                ).scalar_one()
            )
    return AssessmentDue(quarter, quarter_label(quarter), team, n)


def red_kpis(totals: pd.DataFrame, config: AppConfig, names: tuple[str, ...]) -> pd.DataFrame:
    """KPIs the person owns (catalog `owner`) whose latest value is red (off target), by the Overview's rule."""
    owned = [k for k in config.kpis if _mine(k.owner, names)]
    if not owned or totals.empty:
        return pd.DataFrame(columns=KPI_COLUMNS)
    tiles = overview.overview_tiles(totals, owned, config)
    red = tiles[tiles["status"] == "red"]
    cur = config.app.currency
    return pd.DataFrame(
        {
            "kpi_id": red["kpi_id"],
            "name": red["name"],
            "value": [units.format_value(config.kpi_by_id[k], v, cur) for k, v in zip(red["kpi_id"], red["value"])],
            "target": [units.target_text(config.kpi_by_id[k], t, cur) for k, t in zip(red["kpi_id"], red["target"])],
            "period_label": red["period_label"],
        },
        columns=KPI_COLUMNS,
    ).reset_index(drop=True)


def owed_data(
    engine: Engine,
    config: AppConfig,
    names: tuple[str, ...],
    today: dt.date,
    totals: pd.DataFrame,
    late: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Overdue KPI values the person delivers (the KPI's data_owner, else its owner), oldest due first
    (kpis.catalog.freshness: due_days after the period ends, not received by today); `late` = every overdue
    value today when the caller has them."""
    kpi_ids = [k.id for k in config.kpis if _mine(freshness.data_owner(k), names)]
    if not kpi_ids:
        return pd.DataFrame(columns=freshness.LATE_COLUMNS)
    if late is not None:
        return late[late["kpi_id"].isin(kpi_ids)].reset_index(drop=True)
    return freshness.late_data(engine, config, today, totals=totals, kpi_ids=kpi_ids)


def known_owner(engine: Engine, config: AppConfig, names: tuple[str, ...]) -> bool:
    """True when any record names the person: an action's owner or sponsor, a decision's owner, a KPI's owner or
    data owner, a maturity respondent, or a review's author."""
    if not names:
        return False
    if any(_mine(k.owner, names) or _mine(k.data_owner, names) for k in config.kpis):
        return True
    probes = [
        select(Action.id).where(_is(Action.owner, names) | _is(Action.sponsor, names)),
        select(Decision.id).where(_is(Decision.owner, names)),
        select(Assessment.id).where(_is(Assessment.respondent, names)),
        select(Review.id).where(_is(Review.created_by, names)),
    ]
    with engine.connect() as conn:
        return any(conn.execute(p.limit(1)).first() is not None for p in probes)


@dataclass(frozen=True)
class MyWork:
    """Everything waiting for one person."""

    names: tuple[str, ...]
    actions: pd.DataFrame
    drafts: pd.DataFrame
    assessment: AssessmentDue | None
    decisions: pd.DataFrame
    red_kpis: pd.DataFrame
    known: bool  # some record names the person (see known_owner)
    # red and amber KPIs they own whose latest period has no comment yet (kpis.commentary.without_comment)
    uncommented: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=commentary.DUE_COLUMNS))
    owed_data: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=freshness.LATE_COLUMNS))

    @property
    def spellings(self) -> tuple[str, ...]:
        """The names to tell the person (their owner names without the unreadable ``oidc:`` key)."""
        return tuple(n for n in self.names if not n.startswith(OIDC))

    def counts(self) -> dict[str, int]:
        """The figures at the top of the page."""
        return {
            "open_actions": len(self.actions),
            "overdue_actions": int(self.actions["overdue"].sum()),
            "draft_reviews": len(self.drafts),
            "assessment": int(self.assessment is not None),
            "pending_decisions": len(self.decisions),
            "red_kpis": len(self.red_kpis),
        }

    @property
    def empty(self) -> bool:
        """True when nothing waits for the person."""
        c = self.counts()
        return (
            not any(v for k, v in c.items() if k != "overdue_actions")
            and self.owed_data.empty
            and self.uncommented.empty
        )


def my_work(
    engine: Engine,
    config: AppConfig,
    user: User,
    *,
    today: dt.date | None = None,
    totals: pd.DataFrame | None = None,
    late: pd.DataFrame | None = None,
) -> MyWork:
    """What waits for the user today; `totals` = the KPI total series, `late` = every overdue KPI value today
    (kpis.catalog.freshness.late_data), when the caller has them (else loaded)."""
    today = today or dt.date.today()
    names = owner_names(user)
    if totals is None:
        totals = kpi_totals(engine, config)
    return MyWork(
        names=names,
        actions=open_actions(engine, names, today),
        drafts=draft_reviews(engine, tuple(k.strip().lower() for k in user.keys)),  # by identity only
        assessment=assessment_due(engine, user, names, today),
        decisions=pending_decisions(engine, names, today),
        red_kpis=red_kpis(totals, config, names),
        known=known_owner(engine, config, names),
        owed_data=owed_data(engine, config, names, today, totals, late),
        uncommented=commentary.without_comment(
            engine, totals, config, [k for k in config.kpis if _mine(k.owner, names)]
        ),
    )
