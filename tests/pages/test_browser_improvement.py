"""The improvement loop in a real headless Chromium: submit a review with a KPI, create a follow-up action from it,
move it to done, see its verdict and mark it verified. Screenshots: reviews.png and actions.png."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.dbcopy import copy_db
from tests.pages.test_browser import (
    _settle,
    _shots,
    browser,  # noqa: F401  (the module-scoped Chromium fixture)
    streamlit_server,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def flow_server(demo_db, tmp_path_factory):
    """A server on a private copy of the demo database (this flow writes)."""
    folder = tmp_path_factory.mktemp("improvement_flow")
    copy = folder / "demo.db"
    copy_db(demo_db, copy)
    _FLOW_DB.append(f"sqlite:///{copy}")
    with streamlit_server(f"sqlite:///{copy}", "browser-test", folder) as base:
        yield base


_FLOW_DB: list[str] = []  # the flow server's database URL


def _backdate_newest_action(created_at) -> None:
    """Set when the newest action was created, as if it had been created then (issue 21: an action cannot be
    completed in the app before the day it was created, and this flow completes it in 2025)."""
    from sqlalchemy import func, select, update

    from kpis.store.engine import make_engine
    from kpis.store.models import Action

    eng = make_engine(_FLOW_DB[-1])
    with eng.begin() as conn:
        newest = conn.execute(select(func.max(Action.id))).scalar()
        conn.execute(update(Action).where(Action.id == newest).values(created_at=created_at))
    eng.dispose()


def _main(page):
    return page.locator('[data-testid="stMain"]')


def _pick(page, label: str, option: str) -> None:
    """Choose an option in a select or multiselect labelled `label`."""
    box = _main(page).locator('[data-testid="stMultiSelect"], [data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    page.get_by_role("option", name=option).first.click()
    page.keyboard.press("Escape")
    _settle(page)


def _type(page, label: str, text: str) -> None:
    field = _main(page).get_by_label(label, exact=True).first
    field.fill(text)
    field.press("Tab")


def test_review_to_verified_action(flow_server, browser):  # noqa: F811  (pytest fixture)
    page = browser.new_page(viewport={"width": 1400, "height": 2600})
    try:
        page.goto(flow_server, wait_until="domcontentloaded")
        _main(page).get_by_text("S&OP KPI overview").first.wait_for(timeout=30000)
        _settle(page)
        page.locator('[data-testid="stSidebar"]').get_by_text("Reviews", exact=True).first.click()
        _main(page).get_by_text("Post-implementation reviews").first.wait_for(timeout=30000)
        _settle(page)
        _main(page).get_by_text("Write a review", exact=True).first.click()
        _main(page).get_by_text("Initiative (what was changed)").first.wait_for(timeout=30000)
        _settle(page)
        _type(page, "Initiative (what was changed)", "Safety stock reset by XYZ class")
        _type(page, "Team", "Supply planning")
        _type(page, "Facilitator", "Julia Weber")
        _type(page, "What went well", "Planners trusted the new parameters.")
        _settle(page)
        _pick(page, "Practices", "Alignment of objectives and metrics")
        _pick(page, "KPIs the review looked at", "Order fill rate")
        _main(page).get_by_text("Baseline and actual come from the KPI's data").first.wait_for(timeout=30000)
        _main(page).get_by_role("button", name="Submit review").click()
        _main(page).get_by_text("submitted.", exact=False).first.wait_for(timeout=30000)
        _settle(page)
        body = _main(page).inner_text()
        assert "Safety stock reset by XYZ class" in body and "Order fill rate" in body
        page.screenshot(path=str(_shots() / "reviews.png"), full_page=True)

        _main(page).get_by_role("button", name="Create follow-up action").click()
        _main(page).get_by_text("Improvement actions").first.wait_for(timeout=30000)
        _settle(page)
        _type(page, "Title", "Safety stock by XYZ class in every region")
        _type(page, "Owner", "Priya Nair")
        _main(page).get_by_role("button", name="Create action").click()
        _main(page).get_by_text("created.", exact=False).first.wait_for(timeout=30000)
        _settle(page)
        _backdate_newest_action(dt.datetime(2024, 5, 1, 9, tzinfo=dt.UTC))
        _main(page).get_by_role("button", name="In progress").click()
        _main(page).get_by_text("to 'in progress'", exact=False).first.wait_for(timeout=30000)
        _settle(page)
        # The date field is a row of segments (year / month / day): type into the first, focus moves on by itself.
        date = _main(page).get_by_label("Completion date").first
        date.locator('[role="spinbutton"]').first.click()
        page.keyboard.type("20250601")
        page.keyboard.press("Tab")
        _settle(page)
        _main(page).get_by_role("button", name="Done", exact=True).click()
        _main(page).get_by_text("to 'done'", exact=False).first.wait_for(timeout=30000)
        _settle(page)
        body = _main(page).inner_text()
        assert "Verdict:" in body and "completed 2025-06-01" in body
        page.screenshot(path=str(_shots() / "actions.png"), full_page=True)
        _main(page).get_by_role("button", name="Mark verified").click()
        _main(page).get_by_text("to 'verified'", exact=False).first.wait_for(timeout=30000)
        _settle(page)
        assert "Frozen when browser-test marked the action 'verified'" in _main(page).inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        page.close()


def _shown(main, label: str) -> str:
    """What a select box labelled `label` shows: its text and its input's value and label."""
    box = main.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    parts = [box.inner_text()]
    for inp in box.locator("input").all():
        parts += [inp.get_attribute("value") or "", inp.get_attribute("aria-label") or ""]
    return " ".join(parts)


def test_kpi_trends_create_action_opens_a_prefilled_form(flow_server, browser):  # noqa: F811
    """KPI trends -> "Create action" -> the Actions page's form, prefilled with the KPI, segment, direction and
    source. (A browser test: AppTest drops a button click on a page whose widgets are bound to the URL.)"""
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    try:
        page.goto(flow_server + "/", wait_until="domcontentloaded")
        _settle(page)
        page.goto(flow_server + "/kpi-trends?trend_kpi=otif&trend_segment=EMEA", wait_until="domcontentloaded")
        _settle(page)
        page.get_by_role("button", name="Create action").click()
        page.wait_for_function("() => location.pathname.endsWith('/actions')", timeout=30000)
        _settle(page)
        main = _main(page)
        form = main.inner_text()
        assert "New action" in form
        page.screenshot(path=str(_shots().parent / "create_action_from_trends.png"))
        assert "Customer OTIF" in _shown(main, "KPI it should move")
        assert main.get_by_label("Segment (blank = the KPI's total)").input_value() == "EMEA"
        assert "Higher" in _shown(main, "Expected direction")
        assert "KPI exception" in _shown(main, "Source")
    finally:
        page.close()
