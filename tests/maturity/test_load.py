"""The assessments import and the form's submit, on SQLite and PostgreSQL: every import error, replace with audit,
re-import changes nothing, roles."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pytest
from sqlalchemy import func, select

from kpis.access.users import NotAllowed, User
from kpis.config import PRACTICES
from kpis.imports.problems import ImportFailed
from kpis.maturity import aggregate, assessments
from kpis.maturity.assessments import Answers
from kpis.maturity.load import import_assessments
from kpis.store.models import Assessment, AssessmentScore, AuditEvent, ImportBatch

HEADER = "respondent,team,period,function," + ",".join(PRACTICES) + ",comment_data,comment"
Q3 = dt.date(2025, 7, 1)


def line(
    who="Ann", team="Demand planning", period="2025-Q3", function="sales", scores=None, comment_data="", comment=""
) -> str:
    s = dict.fromkeys(PRACTICES, "3") | (scores or {})
    return ",".join([who, team, period, function, *(s[p] for p in PRACTICES), comment_data, comment])


def csv(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def run(engine, config, user, data: bytes, name: str = "survey.csv"):
    return import_assessments(engine, data, name, config=config, user=user)


def problems(engine, config, user, data: bytes, name: str = "survey.csv") -> list[str]:
    with pytest.raises(ImportFailed) as e:
        run(engine, config, user, data, name)
    return [str(p) for p in e.value.problems]


def count(engine, model) -> int:
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(model)).scalar_one()


def test_import_stores_scores_dont_know_and_comments(engine, config, admin):
    data = csv(
        line(scores={"data": "", "process": "5"}, comment_data="Two <b>versions</b>", comment="=cmd"),
        line(who="Bob", team="Finance", function="finance", scores={"data": "don't know"}),
    )
    res = run(engine, config, admin, data)
    assert (res.inserted, res.updated, res.unchanged) == (2, 0, 0)
    a = assessments.answers_of(engine, "Ann", Q3)
    assert a.scores["data"] is None and a.scores["process"] == 5 and a.scores["collaboration"] == 3
    assert a.comments == {"data": "Two <b>versions</b>"} and a.comment == "=cmd"
    assert a.team == "Demand planning" and a.function == "sales"
    assert count(engine, AssessmentScore) == 20
    assert aggregate.practice_median(engine, "process", Q3) == 4.0
    assert aggregate.practice_median(engine, "data", Q3) is None


def test_reimport_same_file_changes_nothing(engine, config, admin):
    data = csv(line(), line(who="Bob"))
    run(engine, config, admin, data)
    audits = count(engine, AuditEvent)
    res = run(engine, config, admin, data)
    assert (res.inserted, res.updated, res.unchanged) == (0, 0, 2)
    assert "no changes" in res.summary() and "same content imported" in res.summary()
    assert count(engine, AuditEvent) == audits and count(engine, ImportBatch) == 1


def test_row_for_a_stored_respondent_and_quarter_replaces_it_with_audit(engine, config, admin):
    run(engine, config, admin, csv(line()))
    res = run(engine, config, admin, csv(line(scores={"sponsorship": "4"}, team="S&OP core")))
    assert (res.inserted, res.updated) == (0, 1)
    assert count(engine, Assessment) == 1
    a = assessments.answers_of(engine, "Ann", Q3)
    assert a.scores["sponsorship"] == 4 and a.team == "S&OP core"
    with engine.connect() as c:
        ev = c.execute(
            select(AuditEvent.details).where(AuditEvent.entity == "assessment", AuditEvent.action == "update")
        ).scalar_one()
    assert ev["old"]["scores"]["sponsorship"] == 3 and ev["new"]["scores"]["sponsorship"] == 4


def test_excel_file_with_numbers(engine, config, admin):
    df = pd.DataFrame(
        [{"respondent": "Cy", "team": "Sales", "period": "2025-Q3", **dict.fromkeys(PRACTICES, 2.0), "data": None}]
    )
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
    res = run(engine, config, admin, buf.getvalue(), "survey.xlsx")
    assert res.inserted == 1
    assert assessments.answers_of(engine, "Cy", Q3).scores["data"] is None


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("6", "6 is not a whole number from 1 to 5"),
        ("0", "0 is not a whole number from 1 to 5"),
        ("3.5", "3.5 is not a whole number from 1 to 5"),
        ("high", "'high' is not a score"),
    ],
)
def test_bad_score_names_row_and_column(engine, config, admin, cell, message):
    (p,) = problems(engine, config, admin, csv(line(), line(who="Bob", scores={"technology": cell})))
    assert p.startswith("survey.csv, row 3, column 'technology': ") and message in p
    assert count(engine, Assessment) == 0


def test_bad_period(engine, config, admin):
    (p,) = problems(engine, config, admin, csv(line(period="2025-07")))
    assert p.startswith("survey.csv, row 2, column 'period': '2025-07' is not a quarter; expected YYYY-Qn")


def test_empty_respondent_team_and_period(engine, config, admin):
    ps = problems(engine, config, admin, csv(line(who="", team="", period="")))
    assert ps == [
        "survey.csv, row 2, column 'period': period is empty; expected YYYY-Qn, e.g. 2025-Q3",
        "survey.csv, row 2, column 'respondent': respondent is empty",
        "survey.csv, row 2, column 'team': team is empty",
    ]


def test_unknown_function(engine, config, admin):
    (p,) = problems(engine, config, admin, csv(line(function="legal")))
    assert p.startswith("survey.csv, row 2, column 'function': function 'legal' is not one of sales")


def test_duplicate_respondent_and_quarter_in_file(engine, config, admin):
    (p,) = problems(engine, config, admin, csv(line(), line(team="Other")))
    assert p == (
        "survey.csv, row 3, column 'respondent': duplicate: row 2 already has Ann for 2025-Q3 "
        "(one row per respondent and quarter)"
    )


def test_missing_columns(engine, config, admin):
    header = "respondent,period," + ",".join(p for p in PRACTICES if p != "partners")
    (p,) = problems(engine, config, admin, csv("Ann,2025-Q3," + ",".join(["3"] * 9), header=header))
    assert p.startswith("survey.csv, row 1: missing column(s) 'team', 'partners'")


def test_misspelt_practice_column(engine, config, admin):
    header = HEADER + ",colaboration"
    ps = problems(engine, config, admin, csv(line() + ",3", header=header))
    assert ps == ["survey.csv, row 1, column 'colaboration': unknown column; did you mean 'collaboration'?"]


def test_comment_for_unknown_practice(engine, config, admin):
    (p,) = problems(engine, config, admin, csv(line() + ",x", header=HEADER + ",comment_magic"))
    assert p.startswith("survey.csv, row 1, column 'comment_magic': unknown column")


def test_other_columns_are_ignored_and_named(engine, config, admin):
    res = run(engine, config, admin, csv(line() + ",2025-08-01 10:00", header=HEADER + ",Timestamp"))
    assert res.inserted == 1 and "Columns not used: Timestamp" in res.summary()


def test_overlong_comment(engine, config, admin):
    (p,) = problems(engine, config, admin, csv(line(comment_data="x" * 2001)))
    assert p.startswith("survey.csv, row 2, column 'comment_data': comment is 2,001 characters long; at most 2000")


def test_many_problems_are_all_listed_and_nothing_written(engine, config, admin):
    data = csv(line(), line(who="B", scores={"data": "9"}), line(who="C", period="Q3"), line(who="D", function="x"))
    ps = problems(engine, config, admin, data)
    assert [p.split(":")[0] for p in ps] == [
        "survey.csv, row 3, column 'data'",
        "survey.csv, row 4, column 'period'",
        "survey.csv, row 5, column 'function'",
    ]
    assert count(engine, Assessment) == 0 and count(engine, ImportBatch) == 0


def test_empty_and_unsupported_files(engine, config, admin):
    assert problems(engine, config, admin, b"", "survey.csv") == [
        "survey.csv: file is empty; expected a header row and at least one data row"
    ]
    assert "unsupported file type '.pdf'" in problems(engine, config, admin, b"x", "survey.pdf")[0]
    assert problems(engine, config, admin, csv()) == ["survey.csv: file has a header but no data rows"]


def test_contributor_cannot_import(engine, config):
    with pytest.raises(NotAllowed):
        run(engine, config, User("c", "contributor"), csv(line()))


# ---------------------------------------------------------------- the form's submit


def answers(who: str, **scores) -> Answers:
    return Answers(
        period=Q3,
        respondent=who,
        team="Sales",
        function="sales",
        scores={p: scores.get(p, 3) for p in PRACTICES},
        comments={"data": "late"},
    )


def test_submit_then_resubmit_replaces_and_audits(engine):
    me = User("ann", "contributor")
    assert assessments.submit(engine, answers=answers("ann"), user=me) == "inserted"
    assert assessments.submit(engine, answers=answers("ann"), user=me) == "unchanged"
    assert assessments.submit(engine, answers=answers("ann", data=None), user=me) == "updated"
    assert count(engine, Assessment) == 1
    assert assessments.answers_of(engine, "ann", Q3).scores["data"] is None
    with engine.connect() as c:
        actions = (
            c.execute(select(AuditEvent.action).where(AuditEvent.entity == "assessment").order_by(AuditEvent.id))
            .scalars()
            .all()
        )
    assert actions == ["create", "update"]


def test_viewer_cannot_submit_and_contributor_only_for_themselves(engine, viewer):
    with pytest.raises(NotAllowed):
        assessments.submit(engine, answers=answers("watcher"), user=viewer)
    with pytest.raises(NotAllowed):
        assessments.submit(engine, answers=answers("someone else"), user=User("ann", "contributor"))
    assert assessments.submit(engine, answers=answers("someone else"), user=User("ed", "editor")) == "inserted"


def test_submit_refuses_bad_scores(engine, admin):
    with pytest.raises(ValueError, match="not a whole number"):
        assessments.submit(engine, answers=answers("tester", data=7), user=admin)


def test_last_answers_and_participation(engine, admin):
    q2 = dt.date(2025, 4, 1)
    assessments.submit(
        engine,
        answers=Answers(period=q2, respondent="tester", team="Sales", scores=dict.fromkeys(PRACTICES, 2)),
        user=admin,
    )
    assessments.submit(
        engine,
        answers=Answers(period=q2, respondent="bob", team="Finance", scores=dict.fromkeys(PRACTICES, 2)),
        user=admin,
    )
    assessments.submit(engine, answers=answers("tester"), user=admin)
    last = assessments.last_answers(engine, "tester", Q3)
    assert last.period == q2 and last.scores["process"] == 2
    scores = assessments.load_scores(engine)
    part = assessments.participation(scores)
    assert part[part["team"] == "All teams"]["respondents"].tolist() == [2, 1]
    missing = assessments.not_answered(scores, Q3)
    assert missing.to_dict("records") == [{"respondent": "bob", "team": "Finance", "last_answered": "2025-Q2"}]


def test_migration_keeps_the_newest_of_duplicate_assessments(engine):
    from sqlalchemy import insert, text

    from kpis.store.engine import downgrade, upgrade

    downgrade(engine, "0001")
    stamp = {"created_at": dt.datetime(2025, 7, 2, tzinfo=dt.UTC), "created_by": "t"}
    with engine.begin() as c:
        for team in ("Old team", "New team"):
            aid = c.execute(
                insert(Assessment)
                .values(period=Q3, respondent="Ann", team=team, function="sales", **stamp)
                .returning(Assessment.id)
            ).scalar_one()
            c.execute(insert(AssessmentScore), [{"assessment_id": aid, "practice": p, "score": 3} for p in PRACTICES])
    upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT team FROM assessment")).scalars().all() == ["New team"]
        assert c.execute(text("SELECT count(*) FROM assessment_score")).scalar_one() == 10
