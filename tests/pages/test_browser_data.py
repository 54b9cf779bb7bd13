"""The Data page in Chromium: a big import shows its progress and a Cancel button; cancelling writes nothing
(issue 20)."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from kpis.store.engine import make_engine, upgrade
from kpis.store.models import DemandActual, ImportBatch
from tests.pages.test_browser import _shots, browser, streamlit_server  # noqa: F401 - fixtures


def _big_demand(items: int = 5_000, weeks: int = 100) -> bytes:
    """Half a million demand rows (about 13 MB): reading and checking them takes the server several seconds."""
    out = io.StringIO()
    out.write("item,period,actual,region\n")
    for w in range(weeks):
        period = f"{2020 + w // 50}-W{w % 50 + 1:02d}"
        out.writelines(f"SKU-{i:06d},{period},{(i * 7 + w) % 97},R{i % 5}\n" for i in range(items))
    return out.getvalue().encode()


def test_big_import_can_be_cancelled_and_writes_nothing(browser, tmp_path):  # noqa: F811 - fixture
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    eng = make_engine(url)
    upgrade(eng)
    data = _big_demand()
    with streamlit_server(url, "browser-test", tmp_path) as base:
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        try:
            page.goto(f"{base}/data", wait_until="domcontentloaded")
            page.get_by_text("Past imports").first.wait_for(timeout=30000)
            page.get_by_text("Demand actuals (forecast accuracy)").first.click()
            page.wait_for_timeout(1000)
            uploader = page.locator('[data-testid="stFileUploader"]')
            uploader.locator('input[type="file"]').set_input_files(
                files=[{"name": "big_demand.csv", "mimeType": "text/csv", "buffer": data}]
            )
            uploader.get_by_text("big_demand.csv").first.wait_for(timeout=60000)
            page.wait_for_timeout(1000)
            page.get_by_role("button", name="Import").click()
            cancel = page.get_by_role("button", name="Cancel")
            cancel.wait_for(timeout=30000)
            page.locator('[data-testid="stProgress"]').first.wait_for(timeout=10000)
            page.screenshot(path=str(_shots() / "data_import_running.png"), full_page=True)
            cancel.click()
            page.get_by_text("cancelled, nothing was written", exact=False).first.wait_for(timeout=120000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(_shots() / "data_import_cancelled.png"), full_page=True)
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.get_by_role("button", name="Cancel").count() == 0
        finally:
            page.close()
    with eng.connect() as c:
        assert c.scalar(select(func.count()).select_from(ImportBatch)) == 0
        assert c.scalar(select(func.count()).select_from(DemandActual)) == 0
    eng.dispose()
