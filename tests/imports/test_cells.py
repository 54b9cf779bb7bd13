"""Text longer than its column, NUL characters and absurd numbers: refused at import (and in typed forms) with
file, row and column, on SQLite as on PostgreSQL; text at the limit and other odd characters stored verbatim."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from kpis.config import PRACTICES, ConfigError, load_config
from kpis.imports.problems import ImportFailed
from kpis.store.models import Action, Assessment, Decision, ImportBatch, Item, KpiValue, Meeting, MeetingAttendee

ROOT = Path(__file__).resolve().parents[2]
FIRST = next(iter(PRACTICES))


def table(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _importers(engine, config, admin):
    from kpis.catalog.load import import_actuals
    from kpis.forecast.load import import_file
    from kpis.improvement.load import import_actions
    from kpis.maturity.load import import_assessments
    from kpis.sponsorship.load import import_decisions, import_meetings

    return {
        "actuals": lambda d, n="f.csv": import_actuals(engine, d, n, config=config, user=admin),
        "demand": lambda d, n="f.csv": import_file(engine, d, kind="demand", config=config, user=admin, filename=n),
        "forecasts": lambda d, n="f.csv": import_file(
            engine, d, kind="forecasts", config=config, user=admin, filename=n
        ),
        "actions": lambda d, n="f.csv": import_actions(engine, d, n, config=config, user=admin),
        "assessments": lambda d, n="f.csv": import_assessments(engine, d, n, config=config, user=admin),
        "meetings": lambda d, n="f.csv": import_meetings(engine, d, n, config=config, user=admin),
        "decisions": lambda d, n="f.csv": import_decisions(engine, d, n, config=config, user=admin),
    }


BASE = {
    "actuals": {"kpi": "otif", "period": "2025-01", "value": "0.9", "segment": "EMEA", "note": "n"},
    "demand": {"item": "SKU-1", "period": "2025-01", "actual": "10", "family": "F"},
    "forecasts": {"item": "SKU-1", "period": "2025-01", "lag": "1", "stage": "consensus", "forecast": "9"},
    "actions": {
        "ref": "A-1",
        "title": "T",
        "owner": "O",
        "sponsor": "S",
        "practice": "process",
        "due_date": "2026-12-01",
        "kpi": "otif",
        "segment": "EMEA",
        "expected_direction": "higher",
        "description": "d",
    },
    "assessments": {
        "respondent": "R",
        "team": "T",
        "period": "2025-Q3",
        "function": "sales",
        **dict.fromkeys(PRACTICES, "3"),
        "comment": "c",
    },
    "meetings": {
        "meeting": "M-1",
        "type": "data review",
        "date": "2026-01-05",
        "chair": "C",
        "person": "P",
        "invited": "yes",
        "attended": "yes",
        "notes": "n",
    },
    "decisions": {"ref": "D-1", "text": "T", "raised_on": "2026-01-05", "owner": "O"},
}

# (importer, file column, the model column that stores it): the limit comes from the model itself
SIZED = [
    ("actuals", "segment", KpiValue.segment),
    ("demand", "item", Item.code),
    ("actions", "ref", Action.ref),
    ("actions", "title", Action.title),
    ("actions", "owner", Action.owner),
    ("actions", "sponsor", Action.sponsor),
    ("actions", "segment", Action.segment),
    ("assessments", "respondent", Assessment.respondent),
    ("assessments", "team", Assessment.team),
    ("meetings", "meeting", Meeting.ref),
    ("meetings", "chair", Meeting.chair),
    ("meetings", "person", MeetingAttendee.person),
    ("decisions", "ref", Decision.ref),
    ("decisions", "owner", Decision.owner),
]


def _count(engine, model) -> int:
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.mark.parametrize(("kind", "column", "model_column"), SIZED, ids=[f"{k}-{c}" for k, c, _ in SIZED])
def test_text_longer_than_its_column_is_refused_and_at_the_limit_stored(
    engine, config, admin, kind, column, model_column
):
    limit = model_column.property.columns[0].type.length
    imp = _importers(engine, config, admin)[kind]
    with pytest.raises(ImportFailed) as exc:
        imp(table([{**BASE[kind], column: "x" * (limit + 1)}]))
    (p,) = exc.value.problems
    assert (p.file, p.row, p.column) == ("f.csv", 2, column)
    assert p.message.endswith(f"is {limit + 1} characters long; at most {limit} characters are allowed"), p.message
    assert _count(engine, ImportBatch) == 0
    value = "é" * limit  # characters, not bytes: PostgreSQL counts characters
    assert imp(table([{**BASE[kind], column: value}])).changed
    with engine.connect() as c:
        stored = c.execute(select(model_column)).scalars().all()
    assert value in stored


def test_forecast_item_longer_than_the_item_code_is_refused(engine, config, admin):
    with pytest.raises(ImportFailed) as exc:
        _importers(engine, config, admin)["forecasts"](table([{**BASE["forecasts"], "item": "x" * 121}]))
    assert any((p.row, p.column) == (2, "item") and "at most 120 characters" in p.message for p in exc.value.problems)


def test_file_name_at_the_limit_is_stored_and_one_over_refused(engine, config, admin):
    imp = _importers(engine, config, admin)["actuals"]
    name = "é" * 251 + ".csv"  # 255 characters
    assert imp(table([BASE["actuals"]]), name).changed
    with engine.connect() as c:
        assert c.execute(select(ImportBatch.filename)).scalar_one() == name
    with pytest.raises(ImportFailed, match="the file name is 256 characters long; at most 255"):
        imp(table([{**BASE["actuals"], "value": "0.8"}]), "é" * 252 + ".csv")


def test_a_forecast_stage_longer_than_its_column_is_refused_in_the_config(tmp_path):
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(
        text.replace(
            'stages = ["naive", "statistical", "sales", "consensus"]',
            f'stages = ["naive", "{"s" * 41}", "consensus"]',
            1,
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert any("must be 1 to 40 characters long" in p for p in exc.value.problems)


def test_a_stage_not_configured_is_refused_at_import(engine, config, admin):
    imp = _importers(engine, config, admin)
    imp["demand"](table([BASE["demand"]]))
    with pytest.raises(ImportFailed) as exc:
        imp["forecasts"](table([{**BASE["forecasts"], "stage": "s" * 41}]))
    (p,) = exc.value.problems
    assert (p.row, p.column) == (2, "stage") and p.message.startswith("unknown stage")


# ------------------------------------------------------------------------------------------ NUL
NUL_CELL = {
    "actuals": "note",
    "demand": "family",
    "forecasts": "item",
    "actions": "description",
    "assessments": "comment",
    "meetings": "notes",
    "decisions": "text",
}


@pytest.mark.parametrize("kind", list(NUL_CELL))
def test_nul_character_is_refused_with_row_and_column(engine, config, admin, kind):
    imp = _importers(engine, config, admin)
    rows = [BASE[kind], {**BASE[kind], NUL_CELL[kind]: "a\x00b"}]
    if kind in ("actuals",):
        rows[1]["period"] = "2025-02"
    with pytest.raises(ImportFailed) as exc:
        imp[kind](table(rows))
    (p,) = exc.value.problems
    assert (p.file, p.row, p.column) == ("f.csv", 3, NUL_CELL[kind])
    assert "NUL character" in p.message
    assert _count(engine, ImportBatch) == 0


def test_nul_in_a_parquet_text_column_is_refused(engine, config, admin):
    from kpis.forecast.load import import_file

    buf = io.BytesIO()
    pd.DataFrame({"item": ["A", "B\x00"], "period": ["2025-01", "2025-01"], "actual": [1.0, 2.0]}).to_parquet(buf)
    with pytest.raises(ImportFailed) as exc:
        import_file(engine, buf.getvalue(), kind="demand", config=config, user=admin, filename="d.parquet")
    (p,) = exc.value.problems
    assert (p.row, p.column) == (2, "item") and "NUL" in p.message


def test_other_odd_characters_are_stored_verbatim(engine, config, admin):
    odd = "a\x01b\x1f <script>alert(1)</script> \u202eevil\u202c \u200b zero-width 😀 =1+1 'quoted' \"q\" \\"
    imp = _importers(engine, config, admin)
    imp["actuals"](table([{**BASE["actuals"], "note": odd}]))
    imp["actions"](table([{**BASE["actions"], "description": odd, "title": odd[:200]}]))
    with engine.connect() as c:
        assert c.execute(select(KpiValue.note)).scalar_one() == odd
        assert c.execute(select(Action.description, Action.title)).one() == (odd, odd[:200])


def test_typed_forms_refuse_nul(config):
    from kpis.improvement import actions, reviews
    from kpis.maturity.assessments import Answers
    from kpis.sponsorship import decisions, meetings

    assert any(f == "title" and "NUL" in m for f, m in actions.check_fields({"title": "a\x00"}, config))
    assert any(
        f == "lessons" and "NUL" in m
        for f, m in reviews.check_review({"initiative": "x", "lessons": "a\x00", "rating": 3}, [], config, submit=False)
    )
    ans = Answers(period=dt.date(2025, 7, 1), respondent="R\x00", team="T", scores={})
    assert any("respondent" in m and "NUL" in m for m in ans.problems())
    m = meetings.MeetingInput(type="data review", date=dt.date(2026, 1, 5), chair="C", invited=("P\x00",))
    assert any(m.startswith("people") and "NUL" in m for m in meetings.check(m, config))
    d = decisions.DecisionInput(text="T\x00", raised_on=dt.date(2026, 1, 5), owner="O")
    assert any(m.startswith("text") and "NUL" in m for m in decisions.check(d, config))


def test_typed_meeting_chair_longer_than_its_column_is_refused(config):
    from kpis.sponsorship import meetings

    m = meetings.MeetingInput(type="data review", date=dt.date(2026, 1, 5), chair="c" * 121)
    assert "chair: longer than 120 characters" in meetings.check(m, config)


# ------------------------------------------------------------------------------ absurd numbers
ABSURD = ["1e308", "-1e308", "inf", "-inf", "Infinity", "nan", "1e400", "2e15"]


@pytest.mark.parametrize("kind,column", [("actuals", "value"), ("demand", "actual"), ("forecasts", "forecast")])
def test_non_finite_or_absurd_numbers_are_refused(engine, config, admin, kind, column):
    imp = _importers(engine, config, admin)
    if kind == "forecasts":
        imp["demand"](table([BASE["demand"]]))
    before = _count(engine, ImportBatch)
    periods = [f"2025-{m:02d}" for m in range(1, len(ABSURD) + 1)]
    rows = [{**BASE[kind], "period": p, column: v} for p, v in zip(periods, ABSURD)]
    with pytest.raises(ImportFailed) as exc:
        imp[kind](table(rows))
    got = {(p.row, p.column) for p in exc.value.problems}
    assert got == {(r, column) for r in range(2, len(ABSURD) + 2)}, [str(p) for p in exc.value.problems]
    assert _count(engine, ImportBatch) == before


def test_non_finite_numbers_in_parquet_are_refused(engine, config, admin):
    from kpis.forecast.load import import_file

    buf = io.BytesIO()
    pd.DataFrame({"item": ["A", "B", "C"], "period": ["2025-01"] * 3, "actual": [np.inf, 1e308, 5.0]}).to_parquet(buf)
    with pytest.raises(ImportFailed) as exc:
        import_file(engine, buf.getvalue(), kind="demand", config=config, user=admin, filename="d.parquet")
    assert {(p.row, p.column) for p in exc.value.problems} == {(1, "actual"), (2, "actual")}


@pytest.mark.parametrize("score", ["inf", "nan", "1e308", "-inf"])
def test_non_finite_assessment_scores_are_refused(engine, config, admin, score):
    imp = _importers(engine, config, admin)["assessments"]
    with pytest.raises(ImportFailed) as exc:
        imp(table([{**BASE["assessments"], FIRST: score}]))
    (p,) = exc.value.problems
    assert (p.row, p.column) == (2, FIRST) and "from 1 to 5" in p.message
