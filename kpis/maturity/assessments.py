"""Assessments: one respondent's scores for the ten practices in a quarter; submit (or replace, audited),
read back, and who took part."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.orm import Session

from kpis import safety
from kpis.access.users import User, require
from kpis.config import FUNCTIONS, PRACTICES
from kpis.store import audit
from kpis.store.engine import session_factory
from kpis.store.models import Assessment, AssessmentScore, utcnow

_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
MAX_NAME = 120
MAX_COMMENT = 2000
LOOKBACK = 4  # quarters: people who answered in any of these and not in the current one are listed as missing


def quarter_start(day: dt.date) -> dt.date:
    """First day of the quarter holding day."""
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def current_quarter(today: dt.date | None = None) -> dt.date:
    """Start of this quarter."""
    return quarter_start(today or dt.date.today())


def shift_quarter(start: dt.date, n: int) -> dt.date:
    """The quarter start n quarters later (earlier for n < 0)."""
    months = start.year * 12 + start.month - 1 + 3 * n
    return dt.date(months // 12, months % 12 + 1, 1)


def quarter_label(start: dt.date | pd.Timestamp) -> str:
    """'2025-Q3'."""
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def parse_quarter(text: str) -> dt.date:
    """Start of a quarter written YYYY-Qn; ValueError otherwise."""
    m = _QUARTER.match(str(text).strip())
    if not m:
        raise ValueError(f"'{text}' is not a quarter; expected YYYY-Qn, e.g. 2025-Q3")
    return dt.date(int(m.group(1)), 3 * (int(m.group(2)) - 1) + 1, 1)


@dataclass
class Answers:
    """One respondent's assessment of a quarter; a score of None means "don't know"."""

    period: dt.date
    respondent: str
    team: str
    function: str = ""
    scores: dict[str, int | None] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    comment: str = ""

    def problems(self) -> list[str]:
        """What is wrong with the answers, in words (empty when they can be stored)."""
        out = [
            f"{n} {safety.NUL_MESSAGE}"
            for n in safety.nul_fields(
                {
                    "respondent": self.respondent,
                    "team": self.team,
                    "function": self.function,
                    "comments": self.comments,
                    "comment": self.comment,
                }
            )
        ]
        if self.period != quarter_start(self.period):
            out.append(f"period {self.period} is not the first day of a quarter")
        for name, value in (("respondent", self.respondent), ("team", self.team)):
            if not value.strip():
                out.append(f"{name} is empty")
            elif len(value) > MAX_NAME:
                out.append(f"{name} is longer than {MAX_NAME} characters")
        if self.function and self.function not in FUNCTIONS:
            out.append(f"function '{self.function}' is not one of {', '.join(FUNCTIONS)}")
        unknown = sorted(set(self.scores) - set(PRACTICES))
        if unknown:
            out.append(f"unknown practice(s) {unknown}")
        for p, s in self.scores.items():
            if s is not None and (not isinstance(s, int) or not 1 <= s <= 5):
                out.append(f"{p}: score {s!r} is not a whole number from 1 to 5")
        for p, c in {**self.comments, "": self.comment}.items():
            if c and len(c) > MAX_COMMENT:
                out.append(f"{p or 'comment'}: longer than {MAX_COMMENT} characters")
        return out

    def as_record(self) -> dict:
        """What is compared to decide whether a resubmission changes anything (and what the audit keeps)."""
        return {
            "team": self.team,
            "function": self.function,
            "comment": self.comment or "",
            "scores": {p: self.scores.get(p) for p in PRACTICES},
            "comments": {p: self.comments.get(p) or "" for p in PRACTICES},
        }


def write(
    session: Session, *, answers: Answers, user: User, now: dt.datetime | None = None, source: str = "form"
) -> str:
    """Insert or replace one respondent's answers for a quarter in the caller's transaction.

    Returns 'inserted', 'updated' (the earlier answers replaced, old and new kept in the audit log) or
    'unchanged'.
    """
    problems = answers.problems()
    if problems:
        raise ValueError("; ".join(problems))
    now = now or utcnow()
    row = session.execute(
        select(Assessment).where(Assessment.period == answers.period, Assessment.respondent == answers.respondent)
    ).scalar_one_or_none()
    new = answers.as_record()
    key = {"period": quarter_label(answers.period), "respondent": answers.respondent, "source": source}
    if row is not None:
        old = _stored(session, row).as_record()
        if old == new:
            return "unchanged"
        row.team, row.function, row.comments = answers.team, answers.function, answers.comment or None
        row.updated_at, row.updated_by = now, user.name
        session.execute(delete(AssessmentScore).where(AssessmentScore.assessment_id == row.id))
        action, details = "update", {**key, "old": old, "new": new}
    else:
        row = Assessment(
            period=answers.period,
            respondent=answers.respondent,
            team=answers.team,
            function=answers.function,
            comments=answers.comment or None,
            created_at=now,
            created_by=user.name,
        )
        session.add(row)
        action, details = "create", {**key, "new": new}
    session.flush()
    session.execute(
        insert(AssessmentScore),
        [
            {
                "assessment_id": row.id,
                "practice": p,
                "score": answers.scores.get(p),
                "comment": (answers.comments.get(p) or None),
            }
            for p in PRACTICES
        ],
    )
    audit.record(session, user=user, action=action, entity="assessment", entity_id=row.id, details=details)
    return "updated" if action == "update" else "inserted"


def submit(engine: Engine, *, answers: Answers, user: User) -> str:
    """Store a respondent's answers for a quarter (replacing earlier ones); contributors answer for themselves,
    editors may enter answers for others. Returns 'inserted', 'updated' or 'unchanged'."""
    require(user, "submit", engine=engine, what="submit")
    if not user.is_self(answers.respondent):
        require(user, "import", engine=engine, what="submit")
    with session_factory(engine).begin() as s:
        return write(s, answers=answers, user=user)


def _stored(session: Session, row: Assessment) -> Answers:
    scores = session.execute(
        select(AssessmentScore.practice, AssessmentScore.score, AssessmentScore.comment).where(
            AssessmentScore.assessment_id == row.id
        )
    ).all()
    return Answers(
        period=row.period,
        respondent=row.respondent,
        team=row.team,
        function=row.function or "",
        scores={p: (None if s is None else int(s)) for p, s, _ in scores},
        comments={p: c for p, _, c in scores if c},
        comment=row.comments or "",
    )


def answers_of(engine: Engine, respondent: str, period: dt.date) -> Answers | None:
    """A respondent's stored answers for a quarter, or None."""
    with session_factory(engine)() as s:
        row = s.execute(
            select(Assessment).where(Assessment.period == period, Assessment.respondent == respondent)
        ).scalar_one_or_none()
        return None if row is None else _stored(s, row)


def last_answers(engine: Engine, respondent: str, before: dt.date) -> Answers | None:
    """The respondent's most recent answers for a quarter before `before` (shown for reference), or None."""
    with session_factory(engine)() as s:
        row = s.execute(
            select(Assessment)
            .where(Assessment.respondent == respondent, Assessment.period < before)
            .order_by(Assessment.period.desc())
            .limit(1)
        ).scalar_one_or_none()
        return None if row is None else _stored(s, row)


SCORE_COLUMNS = ["assessment_id", "period", "respondent", "team", "function", "practice", "score", "comment"]


def load_scores(engine: Engine) -> pd.DataFrame:
    """Every answer, one row per assessment and practice; score NaN = "don't know"; period as a date."""
    with engine.connect() as conn:
        return scores_from(conn)


def scores_from(conn: Connection) -> pd.DataFrame:
    """load_scores read through an open connection (a session's, for one consistent read)."""
    q = (
        select(
            Assessment.id,
            Assessment.period,
            Assessment.respondent,
            Assessment.team,
            Assessment.function,
            AssessmentScore.practice,
            AssessmentScore.score,
            AssessmentScore.comment,
        )
        .join(AssessmentScore, AssessmentScore.assessment_id == Assessment.id)
        .order_by(Assessment.period, Assessment.team, Assessment.respondent, AssessmentScore.practice)
    )
    df = pd.DataFrame(conn.execute(q).all(), columns=SCORE_COLUMNS)
    df["score"] = pd.to_numeric(df["score"], errors="coerce").astype(float)
    df["period"] = pd.to_datetime(df["period"]).dt.date if len(df) else pd.Series(dtype=object)
    return df


def teams(scores: pd.DataFrame) -> list[str]:
    """Teams that have answered, alphabetically."""
    return sorted(scores["team"].dropna().unique().tolist()) if len(scores) else []


def participation(scores: pd.DataFrame) -> pd.DataFrame:
    """Respondents per quarter and team (period, team, respondents), plus each quarter's total as team 'All teams'."""
    if scores.empty:
        return pd.DataFrame(columns=["period", "team", "respondents"])
    people = scores.drop_duplicates("assessment_id")
    by_team = people.groupby(["period", "team"]).size().rename("respondents").reset_index()
    total = people.groupby("period").size().rename("respondents").reset_index().assign(team="All teams")
    return pd.concat([by_team, total], ignore_index=True).sort_values(["period", "team"], ignore_index=True)


def not_answered(scores: pd.DataFrame, period: dt.date, lookback: int = LOOKBACK) -> pd.DataFrame:
    """People who answered in one of the `lookback` quarters before `period` but not in `period`:
    respondent, team (their latest), last quarter answered."""
    cols = ["respondent", "team", "last_answered"]
    if scores.empty:
        return pd.DataFrame(columns=cols)
    people = scores.drop_duplicates("assessment_id")
    earliest = shift_quarter(period, -lookback)
    recent = people[(people["period"] >= earliest) & (people["period"] < period)]
    answered = set(people.loc[people["period"] == period, "respondent"])
    latest = recent.sort_values("period").groupby("respondent").tail(1)
    out = latest[~latest["respondent"].isin(answered)]
    return pd.DataFrame(
        {
            "respondent": out["respondent"],
            "team": out["team"],
            "last_answered": [quarter_label(p) for p in out["period"]],
        }
    ).sort_values(["team", "respondent"], ignore_index=True)
