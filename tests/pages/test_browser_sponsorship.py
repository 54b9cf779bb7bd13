"""Headless Chromium: log a meeting with a decision, see the scorecard change, open the print layout."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from kpis.sponsorship import scorecard as sc
from tests.dbcopy import copy_db
from tests.pages.test_browser import _free_port, _require_browser, _settle, _shots, browser  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def writable_server(demo_db, tmp_path_factory):
    """A Streamlit server on a private copy of the demo database (this test writes)."""
    _require_browser()
    folder = tmp_path_factory.mktemp("sponsorship_browser")
    db = folder / "demo.db"
    copy_db(demo_db, db)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "SOP_PULSE_USER": "browser-test"}
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + (folder / "server.log").read_text(errors="replace")[-2000:])
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _choose(page, scope, label: str, value: str) -> None:
    """Pick (or type) a value in the select box with this label."""
    box = scope.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    page.keyboard.type(value)
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)


def _metric(page, label: str) -> str:
    tile = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return tile.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _open(page, base: str, sidebar_label: str, title: str) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_text(sidebar_label).first.click()
    page.get_by_text(title).first.wait_for(timeout=60000)
    _settle(page)


def test_log_meeting_changes_scorecard_and_print_layout(writable_server, browser):  # noqa: F811
    base = writable_server
    quarter = sc.quarter_of(dt.date.today()).label
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    try:
        page.goto(base, wait_until="domcontentloaded")
        page.get_by_text("S&OP KPI overview").first.wait_for(timeout=60000)
        _settle(page)
        _open(page, base, "Sponsorship scorecard", "Executive sponsorship scorecard")
        _choose(page, page, "Executive", "Lars Nilsson")  # the CFO whose decisions wait, for the user guide picture
        _choose(page, page, "Quarter", "2026-Q3")
        _settle(page)
        page.screenshot(path=str(_shots() / "scorecard.png"), full_page=True)
        _choose(page, page, "Executive", "Richard Osei")
        _choose(page, page, "Quarter", quarter)
        _settle(page)
        before = _metric(page, "Meeting attendance")

        _open(page, base, "Meetings & decisions", "S&OP meetings and decisions")
        page.get_by_role("tab", name="Log a meeting").click()
        form = page.locator('[data-testid="stForm"]').filter(has_text="Log meeting").first
        _choose(page, form, "Chair", "Richard Osei")
        form.get_by_label("Decision 1").fill("Approve overtime for the November peak")
        _choose(page, form, "Owner", "Lars Nilsson")
        form.get_by_role("button", name="Log meeting").click()
        page.get_by_text("Logged the executive S&OP").first.wait_for(timeout=60000)
        assert "with 1 decision" in page.locator('[data-testid="stMain"]').inner_text()
        _settle(page)
        page.get_by_role("tab", name="Decision register").click()
        page.wait_for_timeout(500)
        page.screenshot(path=str(_shots() / "meetings.png"), full_page=True)

        _open(page, base, "Sponsorship scorecard", "Executive sponsorship scorecard")
        _choose(page, page, "Quarter", quarter)
        _settle(page)
        after = _metric(page, "Meeting attendance")
        assert after != before, (before, after)  # invited, not attended: the CEO's attendance drops
        assert page.locator('[data-testid="stException"]').count() == 0

        query = urllib.parse.urlencode({"print": "1", "exec": "Lars Nilsson", "quarter": "2026-Q3"})
        page.goto(f"{base}/scorecard?{query}", wait_until="domcontentloaded")
        page.get_by_text("Sponsorship scorecard · 2026-Q3").first.wait_for(timeout=60000)
        _settle(page)
        assert not page.locator('[data-testid="stSidebar"]').is_visible()
        page.screenshot(path=str(_shots() / "scorecard_print.png"), full_page=True)
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", landscape=True, print_background=True)
        assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == 1  # the card prints on one page
    finally:
        page.close()
