"""Commentary on the pages (AppTest): the owner or an editor writes a comment on KPI trends, it is marked on the
chart, listed below it as text (never Markdown) and shown on the Overview's tile; an editor gets the form, a viewer
none; My work lists the owner's red and amber KPIs without a comment. (Saving from the form is driven in Chromium,
tests/pages/test_browser_comments.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from kpis import commentary, safety
from kpis.access.users import User
from kpis.config import load_config
from kpis.store.engine import make_engine
from tests.dbcopy import copy_db

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
HOSTILE = "<b>Carrier</b> **late** [see](http://evil.example) :red[x] $x$"


@pytest.fixture
def own_demo(monkeypatch, tmp_path, demo_db):
    """A private copy of the demo database (the tests write to it), pages acting as the admin `tester`."""
    path = tmp_path / "demo.db"
    copy_db(demo_db, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    monkeypatch.chdir(ROOT)
    return url


def _trends(kpi_id: str = "otif") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.query_params["trend_kpi"] = kpi_id
    at.switch_page("pages/kpi_trends.py").run()
    assert not at.exception
    return at


def _chart(at: AppTest) -> dict:
    return json.loads(at.get("vega_lite_chart")[0].proto.spec)


def _write(url: str, text: str, *, period: str = "2026-10-01", user: User | None = None, version: int | None = None):
    eng = make_engine(url)
    cfg = load_config(ROOT / "config.toml")
    commentary.save_comment(eng, cfg, user or User("tester", "admin", display="Tess Ter"), kpi_id="otif",
                            period=pd.Timestamp(period), text=text, expected_version=version)  # fmt: skip
    eng.dispose()


def test_a_comment_shows_as_text_on_the_chart_below_it_and_on_the_tile(own_demo):
    _write(own_demo, HOSTILE)
    at = _trends()
    assert "Commentary" in [s.value for s in at.subheader]
    assert safety.md(HOSTILE) in [m.value for m in at.markdown]  # escaped: reads exactly as typed
    assert any(c.value.startswith("**2026-10** · Tess Ter") for c in at.caption)
    layers = _chart(at)["layer"]
    assert {"filter": {"field": "kind", "equal": "comment"}} in [t for la in layers for t in la.get("transform", [])]
    assert any("Comment" in (la["encoding"].get("color", {}).get("scale", {}).get("domain") or []) for la in layers)
    # the editor gets the form, opened on the latest period with the comment's text to change
    assert at.selectbox(key="comment_period").value == pd.Timestamp("2026-10-01")
    assert at.text_area[0].value == HOSTILE and [b for b in at.button if b.label == "Save comment"]
    # the Overview's tile for that period shows it, as text
    _write(own_demo, "Second carrier booked", version=1)
    ov = AppTest.from_file(APP, default_timeout=90)
    ov.run()
    assert not ov.exception
    assert any(c.value.startswith(":material/chat: Second carrier booked — Tess Ter") for c in ov.caption)


def test_a_viewer_sees_comments_but_no_form(own_demo, monkeypatch):
    _write(own_demo, "Visible to all")
    monkeypatch.setenv("SOP_PULSE_USER", "viewer")
    at = _trends()
    assert "Visible to all" in [m.value for m in at.markdown]
    assert not at.text_area and not [b for b in at.button if b.label == "Save comment"]


def test_my_work_lists_red_and_amber_kpis_without_a_comment(own_demo, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "Lars Nilsson")
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("pages/my_work.py").run()
    assert not at.exception
    heads = [s.value for s in at.subheader if s.value.startswith("To comment before the meeting")]
    cfg = load_config(ROOT / "config.toml")
    eng = make_engine(own_demo)
    from kpis import mywork
    from kpis.series import kpi_totals

    expected = mywork.my_work(eng, cfg, User("Lars Nilsson", "admin"), totals=kpi_totals(eng, cfg)).uncommented
    eng.dispose()
    assert len(expected), "the demo gives Lars Nilsson amber KPIs"
    assert heads == [f"To comment before the meeting ({len(expected)})"]
    first = expected.iloc[0]["kpi_id"]
    at.button(key=f"mw_comment_{first}").click().run()
    assert not at.exception and at.session_state["trend_kpi"] == first
