"""The Data page in a real headless Chromium: every source with where it reads (never a password), its last run
and next run; a failing source stands out; an admin's "Run now" runs a source. Screenshot: data_sources.png."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.pages.test_browser import _settle, _shots, browser, streamlit_server  # noqa: F401 (fixture)
from tests.sources.helpers import ROOT

pytestmark = pytest.mark.browser


def test_data_page_lists_sources_and_a_failing_one(tmp_path, browser, monkeypatch):  # noqa: F811
    base = (ROOT / "config.toml").read_text(encoding="utf-8").replace('"data/sources/', f'"{ROOT}/data/sources/')
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        base + '\n[[source]]\nname = "erp_down"\nkind = "actuals"\n'
        'url = "mysql+pymysql://reader@127.0.0.1:1/sales"\ntable = "sop_kpi_actuals"\npassword_env = "SOP_TEST_PW"\n'
        'schedule = "0 6 * * *"\ntimeout = 3\n',
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'app.db'}"
    env = {**os.environ, "DATABASE_URL": url, "SOP_PULSE_CONFIG": str(cfg), "SOP_TEST_PW": "Hunter2-secret"}
    subprocess.run([sys.executable, "-m", "kpis", "db", "upgrade"], check=True, cwd=ROOT, env=env, capture_output=True)
    r = subprocess.run([sys.executable, "-m", "kpis", "sync", "erp_down"], cwd=ROOT, env=env, capture_output=True)
    assert r.returncode == 3
    monkeypatch.setenv("SOP_PULSE_CONFIG", str(cfg))
    monkeypatch.setenv("SOP_TEST_PW", "Hunter2-secret")
    with streamlit_server(url, "browser-test", tmp_path) as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        try:
            page.goto(f"{server}/data", wait_until="domcontentloaded")
            page.get_by_text("erp_down (could not be read").first.wait_for(timeout=60000)
            assert page.get_by_text("Connection refused").count() >= 1
            _settle(page)
            page.get_by_role("button", name="Run now").click()  # the first source: the demo's key customer folder
            page.get_by_text("key_customer_otif: 6 inserted").first.wait_for(timeout=60000)
            _settle(page)
            page.get_by_text("Sources", exact=True).first.scroll_into_view_if_needed()
            shot = _shots() / "data_sources.png"
            page.screenshot(path=str(shot), full_page=False)
            grid = page.locator('[data-testid="stDataFrame"]').first.inner_text()
            body = page.inner_text("body") + grid
            assert "Hunter2" not in body and "reader@" not in body
            assert "Traceback" not in body
        finally:
            page.close()
