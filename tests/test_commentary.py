"""kpis.commentary: comments on a KPI's period written by its owner or an editor, edited with a version check and
audited with before/after like reviews; a viewer cannot comment; the comments import; My work's KPIs to comment."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from kpis import commentary, mywork
from kpis.access.users import NotAllowed, User
from kpis.catalog.sync import sync_catalog
from kpis.imports.problems import ImportFailed
from kpis.store.models import AuditEvent, ImportBatch, KpiComment
from kpis.store.versions import EditConflict

ROOT = Path(__file__).resolve().parents[1]
D = dt.date
HOSTILE = "<script>alert(1)</script> **bold** [x](http://evil.example) =SUM(A1)"


def _owned_by(config, kpi_id: str, owner: str):
    """The config with one KPI's owner replaced."""
    kpis = tuple(k.model_copy(update={"owner": owner}) if k.id == kpi_id else k for k in config.kpis)
    return dataclasses.replace(config, kpis=kpis)


def _events(engine, entity: str = "kpi_comment") -> list[AuditEvent]:
    with engine.connect() as conn:
        return list(conn.execute(select(AuditEvent).where(AuditEvent.entity == entity).order_by(AuditEvent.id)).all())


def test_a_comment_is_saved_on_the_start_of_the_period_and_edited_with_before_and_after(engine, config, admin):
    sync_catalog(engine, config, admin)
    cid = commentary.save_comment(engine, config, admin, kpi_id="otif", period=D(2026, 5, 17), text="  Carrier late ")
    found = commentary.comments(engine, ["otif"])
    assert len(found) == 1 and found.iloc[0]["period"] == pd.Timestamp("2026-05-01")
    assert found.iloc[0]["text"] == "Carrier late" and found.iloc[0]["version"] == 1
    # the same KPI, segment and period again is the same comment, changed
    again = commentary.save_comment(
        engine, config, admin, kpi_id="otif", period=D(2026, 5, 1), text=HOSTILE, expected_version=1
    )
    assert again == cid
    found = commentary.comments(engine, ["otif"])
    assert found.iloc[0]["text"] == HOSTILE and found.iloc[0]["version"] == 2  # stored exactly as typed
    events = _events(engine)
    assert [e.action for e in events] == ["create", "update"]
    assert events[0].details["after"]["text"] == "Carrier late"
    assert events[1].details["changed"]["text"] == {"old": "Carrier late", "new": HOSTILE}


def test_a_save_from_a_form_opened_before_another_save_is_refused(engine, config, admin):
    sync_catalog(engine, config, admin)
    commentary.save_comment(engine, config, admin, kpi_id="otif", period=D(2026, 5, 1), text="first")
    other = User("editor-2", "editor", display="Eddie")
    commentary.save_comment(
        engine, config, other, kpi_id="otif", period=D(2026, 5, 1), text="second", expected_version=1
    )
    with pytest.raises(EditConflict, match="changed by editor-2"):
        commentary.save_comment(
            engine, config, admin, kpi_id="otif", period=D(2026, 5, 1), text="x", expected_version=1
        )
    assert commentary.comments(engine, ["otif"]).iloc[0]["text"] == "second"
    assert commentary.comments(engine, ["otif"]).iloc[0]["author"] == "Eddie"


def test_who_may_comment(engine, config, admin):
    sync_catalog(engine, config, admin)
    mail = "hannah.scott@example.com"
    cfg = _owned_by(config, "supplier_otif", mail)
    owner = User("oidc:https://id.example.com|hannah", "contributor", email=mail, display="Hannah Scott")
    assert commentary.may_comment(owner, cfg, "supplier_otif") and not commentary.may_comment(owner, cfg, "otif")
    commentary.save_comment(engine, cfg, owner, kpi_id="supplier_otif", period=D(2026, 3, 1), text="Port strike")
    # a contributor whose display name is the owner's address is not the owner
    impostor = User("oidc:https://id.example.com|mallory", "contributor", display=mail)
    # a viewer cannot comment, not even on a KPI they own
    viewer_owner = User("oidc:https://id.example.com|hannah", "viewer", email=mail)
    for user, kpi_id in ((impostor, "supplier_otif"), (viewer_owner, "supplier_otif"), (owner, "otif")):
        assert not commentary.may_comment(user, cfg, kpi_id)
        with pytest.raises(NotAllowed, match="may not comment"):
            commentary.save_comment(engine, cfg, user, kpi_id=kpi_id, period=D(2026, 3, 1), text="x")
    assert len(commentary.comments(engine)) == 1
    assert [e.action for e in _events(engine, "comment")] == ["denied"] * 3  # each refusal is audited


def test_bad_comments_are_refused_with_the_reason(engine, config, admin):
    sync_catalog(engine, config, admin)
    for kw, match in (
        ({"kpi_id": "otif", "text": "  "}, "empty"),
        ({"kpi_id": "otif", "text": "x" * 4001}, "at most 4000"),
        ({"kpi_id": "otif", "text": "a\x00b"}, "NUL"),
        ({"kpi_id": "nope", "text": "x"}, "unknown KPI"),
        ({"kpi_id": "otif", "text": "x", "action_id": 999}, "no action #999"),
    ):
        with pytest.raises(commentary.CommentRefused, match=match):
            commentary.save_comment(engine, config, admin, period=D(2026, 5, 1), **kw)
    assert commentary.comments(engine).empty


def test_marks_tiles_and_the_kpis_waiting_for_a_comment(engine, config, admin):
    sync_catalog(engine, config, admin)
    owned = [k for k in config.kpis if k.owner == "Aisha Rahman"]
    months = pd.to_datetime(["2026-08-01", "2026-09-01", "2026-10-01"])
    totals = pd.concat([pd.DataFrame({"kpi_id": k.id, "period": months, "value": [0.9, 0.9, 0.01]}) for k in owned])
    due = commentary.without_comment(engine, totals, config, owned)
    assert len(due) and set(due["status"]) <= {"red", "amber"}
    first = due.iloc[0]
    commentary.save_comment(engine, config, admin, kpi_id=first["kpi_id"], period=first["period"], text="Known")
    after = commentary.without_comment(engine, totals, config, owned)
    assert first["kpi_id"] not in set(after["kpi_id"]) and len(after) == len(due) - 1
    # My work lists them for their owner
    aisha = User(name="aisha.rahman@example.com", role="editor", display="Aisha Rahman")
    work = mywork.my_work(engine, config, aisha, totals=totals)
    assert sorted(work.uncommented["kpi_id"]) == sorted(after["kpi_id"]) and not work.empty
    # the Overview's tile and the trend chart find the comment
    from kpis.catalog import overview

    tiles = overview.overview_tiles(totals, owned, config)
    shown = commentary.tile_comments(engine, tiles)
    assert list(shown) == [first["kpi_id"]] and shown[first["kpi_id"]]["text"] == "Known"
    marks = commentary.chart_marks(commentary.comments(engine), first["kpi_id"])
    assert list(marks["kind"]) == ["comment"] and marks.iloc[0]["date"] == D(2026, 10, 1)
    assert marks.iloc[0]["label"].startswith("Comment by ")


def _import(engine, config, user, data: bytes, name: str = "comments.csv"):
    return commentary.import_comments(engine, data, name, config=config, user=user)


def _count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_the_comments_import_is_all_or_nothing_audited_and_unchanged_on_reimport(engine, config, admin):
    data = (ROOT / "data" / "samples" / "comments.csv").read_bytes()
    res = _import(engine, config, admin, data)
    assert res.inserted == 3 and res.changed
    assert _count(engine, KpiComment) == 3 and _count(engine, ImportBatch) == 1
    audits = _events(engine, "import_batch")
    assert len(audits) == 1 and audits[0].details["kind"] == "comments"
    again = _import(engine, config, admin, data)
    assert not again.changed and again.unchanged == 3 and _count(engine, ImportBatch) == 1
    changed = data.replace(b"Back above target", b"Above target")
    assert _import(engine, config, admin, changed).updated == 1
    bad = (
        b"kpi,period,segment,author,text\n"
        b"otif,2026-07,,Maria Chen,fine\n"
        b"nope,2026-07,,Maria Chen,x\n"
        b"otif,2026-13,,Maria Chen,x\n"
        b"otif,2026-08,,,x\n"
        b"otif,2026-09,,Maria Chen,\n"
        b"otif,2026-07,,Maria Chen,twice\n"
    )
    with pytest.raises(ImportFailed) as exc:
        _import(engine, config, admin, bad)
    text = str(exc.value)
    for where in ("row 3, column 'kpi'", "row 4, column 'period'", "row 5, column 'author'", "row 6, column 'text'"):
        assert where in text, text
    assert "row 7, column 'period'" in text and "listed twice (also row 2)" in text
    assert _count(engine, KpiComment) == 3  # nothing of the bad file was written
    with pytest.raises(ImportFailed, match="missing column"):
        _import(engine, config, admin, b"kpi,period\notif,2026-07\n")


def test_a_viewer_cannot_import_comments(engine, config, viewer):
    data = (ROOT / "data" / "samples" / "comments.csv").read_bytes()
    with pytest.raises(NotAllowed):
        _import(engine, config, viewer, data)


def test_the_command_line_imports_comments(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("SOP_PULSE_CONFIG", "DATABASE_URL", "SOP_PULSE_USER")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}", PYTHONIOENCODING="utf-8")
    run = [sys.executable, "-m", "kpis"]
    subprocess.run([*run, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    sample = str(ROOT / "data" / "samples" / "comments.csv")
    out = subprocess.run([*run, "import", "comments", sample], env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "3" in out.stdout and "comments" in out.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("kpi,period,segment,author,text\nnope,2026-05,,A,x\n", encoding="utf-8")
    out = subprocess.run([*run, "import", "comments", str(bad)], env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "unknown KPI 'nope'" in out.stderr and "Traceback" not in out.stderr


def test_comments_are_marked_on_the_trend_chart(config):
    from kpis.catalog import charts, trends

    kpi = config.kpi_by_id["otif"]
    months = pd.date_range("2025-01-01", periods=14, freq="MS")
    series = pd.DataFrame({"kpi_id": "otif", "segment": "", "period": months, "value": 0.9})
    view = trends.trend_view(series, kpi, cadence="month", baseline="all", baseline_until=None, currency="EUR",
                             include_partial=False, splits=[])  # fmt: skip
    found = pd.DataFrame([{"id": 1, "kpi_id": "otif", "period": pd.Timestamp("2025-05-01"), "author": "A",
                           "text": "<b>x</b>\n  y"}])  # fmt: skip
    fig = charts.trend_figure(view, "EUR", marks=commentary.chart_marks(found, "otif"))
    marks = fig["datasets"]["marks"]
    assert list(marks["series"]) == ["Comment"] and list(marks["label"]) == ["Comment by A: <b>x</b> y"]
    assert "Comment" in str(fig["layer"])


def test_the_data_page_job_imports_comments(engine, config, admin):
    from kpis.imports import job

    data = (ROOT / "data" / "samples" / "comments.csv").read_bytes()
    running = job.upload(engine, "comments", data, "comments.csv", config=config, user=admin)
    assert running.wait(60) and running.error is None
    assert running.result.inserted == 3 and len(commentary.comments(engine)) == 3
