"""Post-implementation reviews: drafts, submission, audited amendments, prefill, search; the Markdown and Excel
exports (user text inert, formulas neutralised). Storage tests run on SQLite and PostgreSQL."""

import datetime as dt
import io
import re

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from kpis.access.users import NotAllowed, User
from kpis.catalog.sync import sync_catalog
from kpis.improvement import actions, export, reviews
from kpis.improvement.reviews import ReviewRefused
from kpis.store.models import AuditEvent, KpiValue, utcnow

AUTHOR = User("maria", "contributor")
OTHER = User("tom", "contributor")


@pytest.fixture
def db(engine, config, admin):
    sync_catalog(engine, config, admin)
    return engine


def _fields(**over):
    base = {
        "initiative": "Supplier portal",
        "practices": ["partners"],
        "review_date": dt.date(2026, 3, 10),
        "period": dt.date(2026, 1, 1),
        "team": "S&OP core",
        "facilitator": "Julia",
        "participants": ["A", "B"],
        "objectives": "Raise supplier OTIF",
        "planned": "Go live in Jan",
        "happened": "Live in Feb",
        "root_cause": "Data late",
        "root_cause_method": "5 whys",
        "went_well": "Buy-in",
        "to_improve": "Cut-off",
        "lessons": "Pilot first",
        "benefits": "+3 pts",
        "rating": 4,
    }
    return {**base, **over}


KPI = [
    {
        "kpi_id": "supplier_otif",
        "baseline": 0.87,
        "target": 0.9,
        "actual": 0.91,
        "baseline_period": dt.date(2025, 12, 1),
        "actual_period": dt.date(2026, 2, 1),
    }
]


def _save(db, config, user=AUTHOR, submit=True, review_id=None, kpis=KPI, **over):
    return reviews.save_review(
        engine=db, fields=_fields(**over), kpis=kpis, user=user, config=config, submit=submit, review_id=review_id
    )


def test_draft_is_visible_to_its_author_only(db, config):
    rid = _save(db, config, submit=False, team="", facilitator="")
    assert reviews.list_reviews(db, AUTHOR)["id"].tolist() == [rid]
    assert reviews.list_reviews(db, OTHER).empty
    assert reviews.get_review(db, rid, OTHER) is None
    assert reviews.get_review(db, rid, AUTHOR)["status"] == "draft"
    with pytest.raises(ReviewRefused, match="only be changed by its author"):
        _save(db, config, user=OTHER, review_id=rid)


def test_a_draft_may_lack_a_facilitator_and_a_team(db, config):
    """Saving a draft without a facilitator (or team) stores them empty instead of failing in the database; submitting
    it then asks for them by name."""
    fields = {k: v for k, v in _fields().items() if k not in ("facilitator", "team")}
    rid = reviews.save_review(engine=db, fields=fields, kpis=[], user=AUTHOR, config=config, submit=False)
    r = reviews.get_review(db, rid, AUTHOR)
    assert (r["status"], r["facilitator"], r["team"]) == ("draft", "", "")
    with pytest.raises(ReviewRefused, match="facilitator is required to submit"):
        reviews.save_review(engine=db, fields=fields, kpis=[], user=AUTHOR, config=config, submit=True, review_id=rid)
    with pytest.raises(ReviewRefused, match="facilitator is required to submit"):
        reviews.save_review(engine=db, fields=fields, kpis=[], user=AUTHOR, config=config, submit=True)
    _save(db, config, submit=True, review_id=rid)
    assert reviews.get_review(db, rid, OTHER)["facilitator"] == "Julia"


def test_submit_a_draft_then_everyone_sees_it(db, config):
    rid = _save(db, config, submit=False)
    _save(db, config, submit=True, review_id=rid)
    r = reviews.get_review(db, rid, OTHER)
    assert r["status"] == "submitted" and r["submitted_by"] == "maria" and r["submitted_at"] is not None
    assert r["kpis"][0]["kpi_id"] == "supplier_otif" and r["kpis"][0]["actual"] == 0.91


@pytest.mark.parametrize(
    "over,message",
    [
        ({"initiative": ""}, "initiative is required"),
        ({"team": ""}, "team is required to submit"),
        ({"practices": []}, "at least one practice"),
        ({"practices": ["nope"]}, "unknown practice"),
        ({"rating": 6}, "rating must be"),
        ({"root_cause_method": "guess"}, "method must be one of"),
    ],
)
def test_submit_refuses_missing_or_bad_fields(db, config, over, message):
    with pytest.raises(ReviewRefused, match=message):
        _save(db, config, **over)


def test_unknown_or_repeated_kpi_is_refused(db, config):
    with pytest.raises(ReviewRefused, match="unknown KPI 'x'"):
        _save(db, config, kpis=[{"kpi_id": "x"}])
    with pytest.raises(ReviewRefused, match="listed twice"):
        _save(db, config, kpis=KPI + KPI)


def test_amendment_is_audited_with_before_and_after(db, config):
    rid = _save(db, config)
    _save(db, config, review_id=rid, rating=2, kpis=[{**KPI[0], "actual": 0.92}])
    with Session(db) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.entity == "review", AuditEvent.action == "amend")).one()
    assert ev.actor == "maria"
    assert ev.details["changed"]["rating"] == {"old": 4, "new": 2}
    assert ev.details["changed"]["kpis"]["old"][0]["actual"] == 0.91
    assert ev.details["changed"]["kpis"]["new"][0]["actual"] == 0.92
    with pytest.raises(ReviewRefused, match="cannot go back to draft"):
        _save(db, config, review_id=rid, submit=False)
    with pytest.raises(ReviewRefused, match="only the author or a manager"):
        _save(db, config, user=OTHER, review_id=rid)
    _save(db, config, user=User("boss", "editor"), review_id=rid, rating=3)  # a manager may amend


def test_viewer_cannot_save(db, config, viewer):
    with pytest.raises(NotAllowed):
        _save(db, config, user=viewer)


def test_prefill_reads_the_kpi_at_the_chosen_periods(db, config):
    now = utcnow()
    with db.begin() as c:
        c.execute(
            insert(KpiValue),
            [
                {
                    "kpi_id": "otif",
                    "segment": "",
                    "period": dt.date(2026, m, 1),
                    "value": v,
                    "created_at": now,
                    "created_by": "t",
                }
                for m, v in [(1, 0.9), (2, 0.92), (4, 0.95)]
            ],
        )
    p = reviews.kpi_prefill(db, config, "otif", baseline_period=dt.date(2026, 1, 1), actual_period=dt.date(2026, 3, 1))
    assert p["baseline"] == 0.9
    assert p["actual"] == 0.92  # no March value: the latest one before it
    assert p["target"] == pytest.approx(0.95) or p["target"] is not None
    none = reviews.kpi_prefill(db, config, "otif", baseline_period=dt.date(2020, 1, 1), actual_period=None)
    assert none["baseline"] is None and none["actual"] is None


def test_list_counts_follow_up_actions_awaiting_verification(db, config, admin):
    rid = _save(db, config)
    f = {
        "title": "t",
        "type": "improvement",
        "practice": "partners",
        "owner": "o",
        "due_date": dt.date(2026, 5, 1),
        "source": "pir",
        "review_id": rid,
    }
    a1 = actions.create_action(engine=db, fields=f, user=admin, config=config)
    actions.create_action(engine=db, fields=f, user=admin, config=config)
    actions.move_action(engine=db, action_id=a1, to="in progress", user=admin, config=config)
    actions.move_action(engine=db, action_id=a1, to="done", user=admin, config=config, completed_on=dt.date(2026, 4, 1))
    row = reviews.list_reviews(db, OTHER).iloc[0]
    assert row["actions"] == 2 and row["awaiting_verification"] == 1 and row["kpis"] == ["supplier_otif"]
    assert [a["id"] for a in reviews.get_review(db, rid, OTHER)["follow_up"]] == [a1, a1 + 1]


def _df():
    rows = [
        dict(_fields(), id=1),
        dict(
            _fields(
                initiative="Consensus review",
                practices=["collaboration"],
                team="Demand",
                rating=2,
                lessons="Agree the cut-off",
                period=None,
                review_date=dt.date(2025, 5, 1),
            ),
            id=2,
        ),
    ]
    return pd.DataFrame(rows)


def test_search_over_text_and_filters():
    df = _df()
    assert reviews.search_reviews(df, text="CUT-OFF")["id"].tolist() == [1, 2]
    assert reviews.search_reviews(df, text="pilot")["id"].tolist() == [1]
    assert reviews.search_reviews(df, practices=["collaboration"])["id"].tolist() == [2]
    assert reviews.search_reviews(df, teams=["Demand"], ratings=[2])["id"].tolist() == [2]
    assert reviews.search_reviews(df, period_from=dt.date(2025, 12, 1))["id"].tolist() == [1]
    assert reviews.search_reviews(df, period_to=dt.date(2025, 6, 1))["id"].tolist() == [2]  # no period: review date


# ---------------------------------------------------------------- exports


HOSTILE = "<img src=x onerror=alert(1)> [click](http://evil.example) ![i](http://e/x.png) **bold** :red[x] $x$ # h"


def _unescaped(text: str) -> list[str]:
    """Markdown-active characters not preceded by a backslash."""
    return re.findall(r"(?<!\\)[<>\[\]()!*:$#_`|]", text)


def test_escape_md_leaves_no_markup():
    out = export.escape_md(HOSTILE)
    assert _unescaped(out) == []
    assert out.startswith("\\<img src\\=x")
    assert export.escape_md("line one\nline two") == "line one  \nline two"


def test_review_markdown_reads_like_a_document_and_escapes_user_text():
    r = {
        **_fields(initiative=HOSTILE, went_well='=HYPERLINK("x")'),
        "id": 3,
        "status": "submitted",
        "submitted_by": "maria",
        "submitted_at": dt.datetime(2026, 3, 10, 9, 0),
        "kpis": KPI,
        "follow_up": [
            {
                "id": 5,
                "title": "Call [me](http://x)",
                "owner": "Hannah",
                "due_date": dt.date(2026, 4, 1),
                "status": "done",
                "verdict": None,
            }
        ],
    }
    md = export.review_markdown(r, kpi_names={"supplier_otif": "Supplier OTIF"})
    assert md.startswith("# \\<img")
    assert "## What went well" in md and "## Why they differ (root cause) — method: 5 whys" in md
    assert "| Supplier OTIF | 0.87 | 0.9 | 0.91 |" in md
    assert _unescaped(md.split("\n")[0][2:]) == []
    assert "](http" not in md
    assert "Submitted by maria, 2026-03-10 09:00 UTC" in md


def test_excel_export_neutralises_formula_cells():
    df = pd.DataFrame(
        {
            "title": ["=1+1", "+cmd", "-x", "@SUM(A1)", "\tx", "ok"],
            "n": [1, 2, 3, 4, 5, 6],
            "when": pd.to_datetime(["2026-01-01"] * 6, utc=True),
        }
    )
    wb = openpyxl.load_workbook(io.BytesIO(export.to_excel({"Actions": df})))
    cells = [c.value for c in wb["Actions"]["A"]][1:]
    assert cells == ["'=1+1", "'+cmd", "'-x", "'@SUM(A1)", "'\tx", "ok"]
    assert [c.data_type for c in wb["Actions"]["A"]][1:] == ["s"] * 6
