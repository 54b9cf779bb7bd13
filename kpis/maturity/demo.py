"""The demo company's maturity assessments: eight quarters, seven teams, a plausible rise, one practice
(data) on which planners and managers persistently disagree, one team (Procurement) that lags, and a
current quarter that not everyone has answered yet. Seeded: the same seed gives the same answers."""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy.orm import Session

from kpis.access.users import User
from kpis.config import PRACTICES
from kpis.maturity.assessments import (
    Answers,
    quarter_label,
    quarter_start,
    shift_quarter,
    write,
)

QUARTERS = 8
# team -> (function, respondents, level offset)
TEAMS: dict[str, tuple[str, list[str], float]] = {
    "Demand planning": ("sales", ["Maria Chen", "Omar Haddad", "Lena Fischer"], 0.1),
    "Sales": ("sales", ["Tom Becker", "Sofia Rossi"], -0.05),
    "Marketing": ("marketing", ["Aisha Rahman", "Ben Clarke"], 0.0),
    "Supply planning": ("supply", ["Priya Nair", "Kenji Sato", "Eva Novak"], 0.1),
    "Production": ("production", ["Diego Alvarez", "Ivan Petrov"], 0.0),
    "Procurement": ("partners", ["Hannah Scott", "Paul Moreau"], -0.75),  # the team that lags
    "Finance": ("finance", ["Lars Nilsson", "Chloe Martin"], 0.05),
    "Executive team": ("executive", ["Richard Osei", "Julia Weber"], 0.15),
}
START = {
    "collaboration": 1.9,
    "alignment": 1.7,
    "data": 2.0,
    "technology": 1.8,
    "process": 2.0,
    "change": 1.5,
    "improvement": 1.6,
    "sponsorship": 1.8,
    "partners": 1.4,
    "evaluation": 1.9,
}
GAIN = {
    "collaboration": 1.4,
    "alignment": 1.0,
    "data": 0.8,
    "technology": 1.2,
    "process": 1.3,
    "change": 1.0,
    "improvement": 1.3,
    "sponsorship": 1.8,
    "partners": 1.0,
    "evaluation": 1.4,
}
# Data: the people who work with it every day (the first respondent of each team) rate it low, the others,
# who see the reports, rate it high, quarter after quarter.
DATA_VIEW = (-1.1, 1.0)
NOISE = 0.22
COMMENTS = {
    "data": [
        "Still two versions of the sales history.",
        "Master data fixes take weeks.",
        "Reports look fine to us.",
        "Item attributes missing for new products.",
    ],
    "sponsorship": ["CEO now chairs the executive meeting.", "Decisions still slip to the next month."],
    "partners": ["Only two customers send forecasts.", "Supplier portal helps with the top suppliers."],
    "collaboration": ["Pre-meetings settle most issues now.", "Sales joins late in the cycle."],
}
ANSWER_LATE = 0.4  # share of people who have not answered the current (last) quarter yet


def demo_answers(end: dt.date, seed: int = 7) -> list[Answers]:
    """Every demo assessment, oldest quarter first."""
    rng = np.random.default_rng(seed + 11)
    last = quarter_start(end)
    quarters = [shift_quarter(last, i - QUARTERS + 1) for i in range(QUARTERS)]
    out = []
    for qi, q in enumerate(quarters):
        progress = qi / (QUARTERS - 1)
        for team, (function, people, offset) in TEAMS.items():
            for k, person in enumerate(people):
                skip = rng.random()
                if (qi == QUARTERS - 1 and skip < ANSWER_LATE) or (qi < QUARTERS - 1 and skip < 0.06):
                    continue
                scores, comments = {}, {}
                for p in PRACTICES:
                    level = START[p] + GAIN[p] * progress + offset + rng.normal(0, NOISE)
                    if p == "data":
                        level += DATA_VIEW[min(k, 1)]
                    dont_know = rng.random() < (
                        0.15 if (p == "partners" and function in ("finance", "marketing")) else 0.03
                    )
                    scores[p] = None if dont_know else int(np.clip(round(level), 1, 5))
                    if p in COMMENTS and rng.random() < 0.18:
                        comments[p] = COMMENTS[p][int(rng.integers(0, len(COMMENTS[p])))]
                out.append(
                    Answers(period=q, respondent=person, team=team, function=function, scores=scores, comments=comments)
                )
    return out


def add_assessments(session: Session, *, end: dt.date, user: User, seed: int = 7) -> int:
    """Write the demo assessments in the caller's transaction (each dated inside its quarter); returns the count."""
    answers = demo_answers(end, seed)
    for a in answers:
        when = dt.datetime.combine(a.period + dt.timedelta(days=20), dt.time(9), tzinfo=dt.UTC)
        write(session, answers=a, user=user, now=when, source="demo")
    return len(answers)


def sample_rows(end: dt.date, seed: int = 7, quarters: int = 2) -> list[dict]:
    """The demo's answers of its last `quarters` quarters as survey-export rows (the assessments import format)."""
    answers = demo_answers(end, seed)
    keep = {a.period for a in answers}
    keep = set(sorted(keep)[-quarters:])
    rows = []
    for a in answers:
        if a.period not in keep:
            continue
        row = {"respondent": a.respondent, "team": a.team, "period": quarter_label(a.period), "function": a.function}
        row.update({p: ("" if a.scores[p] is None else a.scores[p]) for p in PRACTICES})
        row.update({f"comment_{p}": a.comments.get(p, "") for p in PRACTICES if p in COMMENTS})
        rows.append(row)
    return rows
