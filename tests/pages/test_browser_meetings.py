"""Headless Chromium: an editor opens every meeting of the demo on the Meetings page and sees no error (a meeting
without notes once crashed the page for every editor and admin: pandas holds a missing note as NaN)."""

from __future__ import annotations

import pytest

from kpis.sponsorship import meetings as mt
from kpis.store.engine import make_engine
from tests.pages.test_browser import (  # noqa: F401  (browser is a fixture)
    ROOT,
    _settle,
    browser,
    streamlit_server,
)

pytestmark = pytest.mark.browser

EDITOR = "editor-browser"


@pytest.fixture(scope="module")
def editor_server(demo_db, tmp_path_factory):
    """A Streamlit server on the demo database, acting as a local user with the editor role."""
    folder = tmp_path_factory.mktemp("meetings_browser")
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace("\n[roles.users]\n", f'\n[roles.users]\n"{EDITOR}" = "editor"\n', 1)
    config = folder / "config.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOP_PULSE_CONFIG", str(config))
        with streamlit_server(demo_db, EDITOR, folder) as base:
            yield base


def _meeting_count(url: str) -> tuple[int, int]:
    eng = make_engine(url)
    try:
        meetings = mt.list_meetings(eng)
    finally:
        eng.dispose()
    return len(meetings), int(meetings["notes"].isna().sum())


def _no_error(page, where: str) -> None:
    main = page.locator('[data-testid="stMain"]')
    exc = main.locator('[data-testid="stException"]')
    assert exc.count() == 0, f"{where}: {exc.first.inner_text()}"
    assert main.locator('[data-testid="stAlertContentError"]').count() == 0, where


def test_an_editor_opens_every_meeting_without_an_error(editor_server, browser, demo_db):  # noqa: F811
    n, without_notes = _meeting_count(demo_db)
    assert n > 100 and without_notes > 100  # the demo's meetings, most of them without notes
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    try:
        page.goto(f"{editor_server}/meetings", wait_until="domcontentloaded")
        page.get_by_text("S&OP meetings and decisions").first.wait_for(timeout=60000)
        _settle(page)
        assert "(editor)" in page.locator('[data-testid="stSidebar"]').inner_text()
        page.get_by_role("tab", name="Meetings", exact=True).click()
        box = page.get_by_role("combobox", name="Meeting", exact=True)
        box.wait_for(timeout=30000)
        page.get_by_text("Correct this meeting").first.wait_for(timeout=30000)  # the editor's form is drawn
        _no_error(page, "the first meeting")
        seen = [box.input_value()]
        for i in range(1, n):  # the next meeting in the list, one after another, to the last
            box.click()
            page.keyboard.press("ArrowDown")
            page.keyboard.press("Enter")
            page.wait_for_function(
                "([el, before]) => el.value !== before", arg=[box.element_handle(), seen[-1]], timeout=30000
            )
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
                " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
                timeout=30000,
            )
            page.get_by_text("Correct this meeting").first.wait_for(timeout=30000)
            _no_error(page, f"meeting {i + 1} of {n} ({box.input_value()!r})")
            seen.append(box.input_value())
        _settle(page)
        _no_error(page, f"the last meeting ({box.input_value()!r})")
        assert len(set(seen)) == n  # every meeting was opened once
    finally:
        page.close()
