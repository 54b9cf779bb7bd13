"""The maturity pages in headless Chromium: submit an assessment and see the radar change; screenshots of the
Assess and Maturity pages on the demo (SOP_PULSE_SCREENSHOTS=docs/screenshots to refresh the docs' pictures)."""

from __future__ import annotations

import pytest

from kpis.access.users import User
from kpis.config import PRACTICES
from kpis.maturity import assessments
from kpis.maturity.assessments import Answers
from kpis.store.engine import make_engine, upgrade
from tests.dbcopy import copy_db
from tests.pages.test_browser import _settle, _shots, browser, streamlit_server  # noqa: F401  (fixture re-used)

pytestmark = pytest.mark.browser

RADAR_LATEST = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const radar = plots.map(g => g.data || []).find(d => d.some(t => t.type === 'scatterpolar'));
  if (!radar) return null;
  const latest = radar.find(t => (t.name || '').includes('(latest)'));
  return latest ? Array.from(latest.r).slice(0, 10) : null;
}"""


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory):
    """A server on a new database where one colleague has scored every practice 2 this quarter."""
    folder = tmp_path_factory.mktemp("maturity_browser")
    url = f"sqlite:///{folder / 'm.db'}"
    eng = make_engine(url)
    upgrade(eng)
    assessments.submit(
        eng,
        answers=Answers(
            period=assessments.current_quarter(),
            respondent="colleague",
            team="Supply planning",
            function="supply",
            scores=dict.fromkeys(PRACTICES, 2),
        ),
        user=User("setup", "admin"),
    )
    eng.dispose()
    with streamlit_server(url, "browser-test", folder) as base:
        yield base


@pytest.fixture(scope="module")
def demo_server(demo_db, tmp_path_factory):
    """A server on a copy of the demo database, signed in as a demo respondent (Maria Chen)."""
    folder = tmp_path_factory.mktemp("maturity_demo_browser")
    path = demo_db.split("///", 1)[1]
    copy_db(path, folder / "demo.db")
    with streamlit_server(f"sqlite:///{folder / 'demo.db'}", "Maria Chen", folder) as base:
        yield base


def _open(page, base: str, link: str, text: str) -> None:
    page.goto(base, wait_until="domcontentloaded")
    page.locator('[data-testid="stSidebar"]').get_by_text(link, exact=True).first.wait_for(timeout=30000)
    _settle(page)
    page.locator('[data-testid="stSidebar"]').get_by_text(link, exact=True).first.click()
    page.locator('[data-testid="stMain"]').get_by_text(text).first.wait_for(timeout=30000)
    _settle(page)


def _no_errors(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).first.inner_text()


def test_submit_an_assessment_and_see_the_radar_change(fresh_server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    try:
        _open(page, fresh_server, "Maturity", "Integration maturity")
        _no_errors(page)
        before = page.evaluate(RADAR_LATEST)
        assert before == [2] * 10

        _open(page, fresh_server, "Assess maturity", "Assess integration maturity")
        _no_errors(page)
        team = page.locator('[data-testid="stSelectbox"]').filter(has_text="Your team")
        team.locator("input").click()
        team.locator("input").fill("Demand planning")
        page.keyboard.press("Enter")
        function = page.locator('[data-testid="stSelectbox"]').filter(has_text="Your function")
        function.locator("input").click()
        page.get_by_role("option", name="Sales").click()
        radios = page.locator('[data-testid="stRadio"]')
        assert radios.count() == 10
        for i in range(10):
            radios.nth(i).get_by_text("4 · Collaborative").click()
        page.get_by_role("button", name="Submit my assessment").click()
        page.get_by_text("is saved").first.wait_for(timeout=30000)
        _settle(page)
        _no_errors(page)

        _open(page, fresh_server, "Maturity", "Integration maturity")
        _no_errors(page)
        after = page.evaluate(RADAR_LATEST)
        assert after == [3] * 10  # the median of 2 and 4
        assert "Respondents" in page.locator('[data-testid="stMain"]').inner_text()
    finally:
        page.close()


def test_screenshots_of_assess_and_maturity_on_the_demo(demo_server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    try:
        _open(page, demo_server, "Maturity", "Integration maturity")
        _no_errors(page)
        assert page.evaluate(RADAR_LATEST) is not None
        page.screenshot(path=str(_shots() / "maturity.png"), full_page=False)
        page.get_by_role("tab", name="Teams and consensus").click()
        _settle(page)
        _no_errors(page)
        assert "No consensus in" in page.locator('[data-testid="stMain"]').inner_text()
        page.screenshot(path=str(_shots() / "maturity_teams.png"), full_page=False)
        page.set_viewport_size({"width": 1400, "height": 1500})
        _open(page, demo_server, "Assess maturity", "Assess integration maturity")
        _no_errors(page)
        assert "You already answered" in page.locator('[data-testid="stMain"]').inner_text()
        page.screenshot(path=str(_shots() / "assess.png"), full_page=False)
    finally:
        page.close()
