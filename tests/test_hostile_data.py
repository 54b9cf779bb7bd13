"""The hostile dataset (tests/hostile_data.py) on SQLite and PostgreSQL: every attack is stored exactly as
written, and the spreadsheet exports carry it verbatim with formulas neutralised."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
from openpyxl import load_workbook
from sqlalchemy import select

from kpis import demo, export
from kpis.improvement import export as improvement_export
from kpis.improvement import views
from kpis.store.engine import session_factory
from kpis.store.models import (
    Action,
    Assessment,
    AssessmentScore,
    Decision,
    Item,
    KpiValue,
    Meeting,
    MeetingAttendee,
    Review,
)
from tests import hostile_data as H


def test_every_attack_is_stored_verbatim(engine, config):
    counts = H.add_hostile(engine, config, end=demo.DEMO_END)
    assert counts["reviews"] == 3 and counts["actions"] == 7 and counts["assessments"] == 6
    with session_factory(engine)() as s:
        items = {i.code: i.attributes for i in s.scalars(select(Item))}
        assert set(H.SHORT) <= set(items)
        assert {H.ATTR_MD, H.ATTR_HTML} <= set(items[H.SCRIPT])
        assert set(s.scalars(select(KpiValue.segment).distinct())) >= set(H.SEGMENTS)
        assert H.BIG in set(s.scalars(select(KpiValue.note)))
        reviews = list(s.scalars(select(Review)))
        assert any(r.objectives == H.BIG for r in reviews) and any(r.lessons == H.MULTILINE for r in reviews)
        assert {r.facilitator for r in reviews} >= {H.USER} and all(H.USER in r.participants for r in reviews)
        acts = list(s.scalars(select(Action)))
        assert any(a.description == H.BIG for a in acts) and {a.owner for a in acts} >= {H.USER}
        assert {a.segment for a in acts} == set(H.SEGMENTS) and all(
            len(a.source_note or "x" * 255) == 255 for a in acts if a.ref is None
        )
        assert {a.created_by for a in acts} == {H.USER}
        assert {x.respondent for x in s.scalars(select(Assessment))} >= {H.USER}
        assert H.SHORT[1] in set(s.scalars(select(AssessmentScore.comment)))
        assert {m.chair for m in s.scalars(select(Meeting))} >= {H.USER}
        assert set(s.scalars(select(MeetingAttendee.person))) >= {H.USER, H.SHORT[5]}
        assert {d.owner for d in s.scalars(select(Decision))} >= {H.USER, H.SHORT[6]}
        # the SQL fragment did what text does: nothing
        assert s.scalar(select(KpiValue.id).limit(1)) is not None


def test_exports_carry_attacks_verbatim_with_formulas_neutralised(engine, config):
    H.add_hostile(engine, config, end=demo.DEMO_END)
    df = views.load_actions(engine, as_of=dt.date(2026, 12, 1))
    data = improvement_export.to_excel({"Actions": df})
    sheet = load_workbook(io.BytesIO(data)).active
    cells = [c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    # 100 kB is more than an Excel cell holds: cut, and the cell says so
    assert any(c.startswith(H.BIG[:1000]) and c.endswith("[cut: 100,000 characters in the app]") for c in cells)
    assert H.USER in cells and not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    table = pd.DataFrame({"item": list(H.SHORT), "n": range(len(H.SHORT))})
    csv = export.csv_bytes(table).decode("utf-8-sig")
    assert "'" + H.FORMULA.replace('"', '""') in csv and H.RTL in csv and H.ZERO_WIDTH in csv
    back = load_workbook(io.BytesIO(export.excel_bytes(table, "items"))).active
    assert [r[0] for r in back.iter_rows(min_row=2, values_only=True)] == [
        "'" + v if v.startswith("=") else v for v in H.SHORT
    ]
