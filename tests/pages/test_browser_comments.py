"""Headless Chromium: an admin writes a comment on KPI trends; it is saved (audited), marked on the chart and listed
below it and on the Overview's tile as the text typed (hostile markup shown, never rendered); screenshots show the
trend and the tile with the comment."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kpis import commentary
from kpis.store.engine import make_engine
from kpis.store.models import AuditEvent
from tests.dbcopy import copy_db
from tests.pages.test_browser import (  # noqa: F401  (browser is a fixture)
    _settle,
    _shots,
    browser,
    streamlit_server,
)

pytestmark = pytest.mark.browser

TEXT = "Two carriers missed the cut-off <b>bold?</b> **not bold** [link](http://evil.example); second carrier booked."


@pytest.fixture(scope="module")
def own_server(demo_db, tmp_path_factory):
    """A server on a private copy of the demo database (this test writes), as the local admin."""
    folder = tmp_path_factory.mktemp("comments_browser")
    path = folder / "demo.db"
    copy_db(demo_db, path)
    url = f"sqlite:///{path}"
    with streamlit_server(url, "browser-test", folder) as base:
        yield base, url


def test_a_comment_written_on_kpi_trends_is_marked_and_shown_as_text(own_server, browser):  # noqa: F811
    base, url = own_server
    page = browser.new_page(viewport={"width": 1400, "height": 1900})
    try:
        page.goto(f"{base}/kpi-trends?trend_kpi=otif", wait_until="domcontentloaded")
        page.get_by_text("Control-limit baseline").first.wait_for(timeout=60000)
        _settle(page)
        page.get_by_text("Write a comment").first.click()
        box = page.get_by_label("What happened, why, and what is being done")
        box.wait_for(timeout=30000)
        box.fill(TEXT)
        box.press("Control+Enter")  # commit the text area's value (as leaving the box does)
        page.wait_for_timeout(800)
        page.get_by_role("button", name="Save comment").click()
        page.get_by_text("Comment on 2026-10 saved.").wait_for(timeout=30000)
        _settle(page)
        main = page.locator('[data-testid="stMain"]')
        assert main.locator('[data-testid="stException"]').count() == 0
        shown = main.locator('[data-testid="stMarkdownContainer"]', has_text="Two carriers missed").last
        assert "<b>bold?</b> **not bold** [link](http://evil.example)" in shown.inner_text().replace("\u2060", "")
        assert shown.locator("b, strong, a").count() == 0  # markup shown as text, nothing rendered
        eng = make_engine(url)
        try:
            found = commentary.comments(eng, ["otif"])
            assert list(found["text"]) == [TEXT] and list(found["author"]) == ["browser-test"]
            with eng.connect() as conn:
                kinds = conn.execute(select(AuditEvent.action).where(AuditEvent.entity == "kpi_comment")).scalars()
                assert list(kinds) == ["create"]
        finally:
            eng.dispose()
        chart = main.locator('[data-testid="stVegaLiteChart"]').first
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        top = chart.bounding_box()["y"] + page.evaluate("() => window.scrollY")
        page.evaluate(f"() => window.scrollTo(0, {max(top - 40, 0)})")
        page.wait_for_timeout(500)
        page.screenshot(path=str(_shots() / "kpi_trends_comment.png"))
        # the Overview's tile for that period shows the comment, as text
        page.goto(f"{base}/", wait_until="domcontentloaded")
        page.get_by_text("S&OP KPI overview").first.wait_for(timeout=60000)
        _settle(page)
        tile = page.locator('[data-testid="stCaptionContainer"]', has_text="Two carriers missed").first
        assert "<b>bold?</b>" in tile.inner_text() and tile.locator("b, strong, a").count() == 0
        tile.scroll_into_view_if_needed()
        page.screenshot(path=str(_shots() / "overview_comment.png"))
    finally:
        page.close()
