"""Every page in a real headless Chromium: renders, shows no exception, and gets a screenshot.

Screenshots go to tests/artifacts/screenshots (or SOP_PULSE_SCREENSHOTS, e.g. docs/screenshots).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)

PAGES = [  # url path, file name, a text the page must show
    ("", "overview", "S&OP KPI overview"),
    # a link that keeps the view: weekly stock-outs by quarter, partial quarters hollow and left out
    ("kpi-trends?trend_kpi=stockout_weeks&trend_cadence=quarter", "kpi_trends", "partial"),
    # with "Where the error is" and "Drill down" opened from the link (each is drawn only when open)
    ("forecast-accuracy?fa_where=true&fa_drill=true", "forecast_accuracy", "Group by"),
    ("exceptions", "exceptions_list", "Tracking signal"),  # exceptions.png: with a row picked (test below)
    ("scorecard", "scorecard", "Executive sponsorship scorecard"),
    ("meetings", "meetings", "S&OP meetings and decisions"),
    ("data", "data", "Past imports"),
    ("catalog", "catalog", "KPI catalog"),
    ("reviews", "reviews_list", "Post-implementation reviews"),
    ("actions", "actions_list", "Improvement actions"),
    ("my_work", "my_work", "My work"),
    ("audit_log", "audit_log", "Every write in the app"),
]

pytestmark = pytest.mark.browser


def _require_browser():
    if CHROMIUM is None:
        if os.environ.get("SOP_PULSE_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required in CI but /usr/bin/chromium is missing")
        pytest.skip("no Chromium on this machine (apt-get install chromium); browser tests skipped")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -r requirements-dev.txt)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(database_url: str, user: str, log_dir: Path, base_path: str = ""):
    """A Streamlit server on a free port running app.py against the database as the user; yields its base URL
    (with `base_path`, Streamlit's server.baseUrlPath, at the end)."""
    _require_browser()
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SOP_PULSE_USER": user}
    # The server's output goes to a file: an unread pipe fills up and then blocks the server.
    log_path = log_dir / "server.log"
    log = log_path.open("wb")
    # Started as `make run` does: `python app.py` warms up, then serves app.py with Streamlit.
    proc = subprocess.Popen(
        [
            sys.executable,
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            *(["--server.baseUrlPath", base_path] if base_path else []),
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}" + (f"/{base_path}" if base_path else "")
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
        log.close()
        pytest.fail("streamlit did not start: " + log_path.read_text(errors="replace")[-2000:])
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def server(demo_db, tmp_path_factory):
    with streamlit_server(demo_db, "browser-test", tmp_path_factory.mktemp("streamlit")) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


def _shots() -> Path:
    out = Path(os.environ.get("SOP_PULSE_SCREENSHOTS") or ROOT / "tests" / "artifacts" / "screenshots")
    out = out if out.is_absolute() else ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    return out


# Every chart on view has drawn: a Plotly chart its SVG, a Vega-Lite chart its SVG (or canvas).
CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .filter(c => c.offsetParent !== null).every(c => c.querySelector('.main-svg'))
  && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
    .filter(c => c.offsetParent !== null).every(c => c.querySelector('canvas, svg.marks'))"""


def _settle(page) -> None:
    """Wait until Streamlit has finished running the script and charts have drawn."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=30000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=30000,
    )
    # Elements still being rendered show as skeletons; wait until none is left.
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=60000)
    # Charts draw lazily: wait until every Plotly container holds its SVG and every Vega-Lite one its canvas
    # (scroll each into view). Charts in a tab that is not shown are not drawn until the tab is opened: only
    # visible ones count.
    from playwright.sync_api import Error as PlaywrightError

    for chart in page.locator('[data-testid="stPlotlyChart"], [data-testid="stVegaLiteChart"]').all():
        try:
            if chart.is_visible():
                chart.scroll_into_view_if_needed()
        except PlaywrightError:  # replaced by a rerun while we looked: the wait below checks what replaced it
            pass
    page.wait_for_function(CHARTS_DRAWN, timeout=30000)
    page.evaluate("() => window.scrollTo(0, 0)")
    # Sparklines and other lazily loaded chunks arrive over HTTP; wait for them before judging the page.
    page.wait_for_load_state("networkidle", timeout=30000)
    # Finally the page must stop changing: the main area's size unchanged over 1.5 s.
    last, stable = None, 0
    for _ in range(80):
        size = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').innerHTML.length")
        stable = stable + 1 if size == last else 0
        if stable >= 3:
            break
        last = size
        page.wait_for_timeout(500)


def test_deep_link_on_a_fresh_server_shows_no_page_not_found(server, browser):
    """Streamlit runs the first session of a server whose main script sits next to a `pages/` folder in its
    old folder-based mode, which does not know the st.navigation url paths and says "Page not found";
    pages._ui.leave_folder_mode (and the url-path aliases in pages/) switch to st.navigation at once."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{server}/kpi-trends", wait_until="domcontentloaded")
        page.get_by_text("Control-limit baseline").first.wait_for(timeout=60000)
        _settle(page)
        assert page.get_by_text("Page not found").count() == 0
        assert page.url.endswith("/kpi-trends")
        # the old folder mode also lists every file of pages/ (app, ui, ...) in the sidebar
        assert page.locator('[data-testid="stSidebar"]').get_by_text("ui", exact=True).count() == 0
    finally:
        page.close()


@pytest.mark.parametrize("path,name,text", PAGES, ids=[p[1] for p in PAGES])
def test_page_renders_without_exception(server, browser, path, name, text):
    # Streamlit scrolls inside its own container, so a tall viewport is what captures the whole page.
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    try:
        page.goto(f"{server}/{path}", wait_until="domcontentloaded")
        page.locator('[data-testid="stMain"]').get_by_text(text, exact=False).first.wait_for(timeout=30000)
        _settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
            '[data-testid="stException"]'
        ).first.inner_text()
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0
        assert page.get_by_text("Page not found").count() == 0
        page.screenshot(path=str(_shots() / f"{name}.png"), full_page=True)
    finally:
        page.close()


def test_overview_tile_opens_trend(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_text("S&OP KPI overview").first.wait_for(timeout=30000)
        _settle(page)
        page.locator('[data-testid="stSidebar"]').get_by_text("KPI trends").first.click()
        page.get_by_text("Control limits", exact=False).first.wait_for(timeout=30000)
        _settle(page)
        page.wait_for_selector('[data-testid="stVegaLiteChart"] svg.marks', timeout=30000)
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        page.close()


def test_overview_marks_late_data_on_the_tile(server, browser):
    """The demo's capacity figures for October 2026 were due 10 Nov and never arrived: the tile says so in red."""
    page = browser.new_page(viewport={"width": 1400, "height": 3400})
    try:
        page.goto(server, wait_until="domcontentloaded")
        page.get_by_text("S&OP KPI overview").first.wait_for(timeout=30000)
        _settle(page)
        mark = page.locator('[data-testid="stMain"]').get_by_text("2026-10 due 10 Nov, not received").first
        mark.wait_for(timeout=30000)
        page.locator('[data-testid="stMain"]').get_by_text("with data overdue on").first.wait_for(timeout=30000)
        page.screenshot(path=str(_shots() / "overview_late_data.png"), full_page=True)
    finally:
        page.close()


def _upload_and_import(page, name: str, data: bytes) -> None:
    uploader = page.locator('[data-testid="stFileUploader"]')
    uploader.locator('input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": data}]
    )
    # The upload is a separate HTTP request followed by a rerun: wait for both before pressing Import.
    uploader.get_by_text(name).first.wait_for(timeout=30000)
    _settle(page)
    page.get_by_role("button", name="Import").click()


def test_data_page_upload_reports_bad_rows_and_writes_nothing(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    try:
        page.goto(f"{server}/data", wait_until="domcontentloaded")
        page.get_by_text("Past imports").first.wait_for(timeout=30000)
        _settle(page)
        imports_before = page.get_by_text("demo data").count()
        bad = b"kpi,period,value\notif,2025-01,abc\nfill_rate,2025-13,0.97\n"
        _upload_and_import(page, "bad.csv", bad)
        page.get_by_text("bad.csv was not imported").first.wait_for(timeout=30000)
        _settle(page)
        body = page.locator('[data-testid="stMain"]').inner_text()
        assert "nothing was written" in body and "2 problems found" in body
        page.screenshot(path=str(_shots() / "data_import_error.png"), full_page=True)
        assert page.get_by_text("demo data").count() == imports_before
        _upload_and_import(page, "actuals_long.csv", (ROOT / "data" / "samples" / "actuals_long.csv").read_bytes())
        page.get_by_text("no changes", exact=False).first.wait_for(timeout=60000)
    finally:
        page.close()


def _work_list_items(demo_db, lag: int) -> list[str]:
    """The Exceptions page's default list (consensus, last 12 periods, 50 largest) at a lag, as the core ranks it."""
    from kpis import forecast
    from kpis.config import load_config
    from kpis.forecast import sections
    from kpis.store.engine import make_engine

    cfg = load_config(ROOT / "config.toml")
    engine = make_engine(demo_db)
    cube = forecast.get_cube(engine, cfg, forecast.forecast_version(engine))
    win = sections.window(cube, cfg, "last12")
    work = sections.work_list(
        cube,
        cfg,
        stage=forecast.final_stage(cube),
        lag=lag,
        period_from=win.start,
        period_to=win.end,
        filters=None,
        top=50,
    )
    return work.table["item"].astype(str).tolist()


def test_a_picked_exception_row_is_dropped_when_the_list_changes(server, browser, demo_db):
    """A row picked in the work list names an item by its position; once a filter changes the list, that position
    holds another item, so the pick must go (and with it the chart) rather than show another item."""
    lag1, lag2 = _work_list_items(demo_db, 1), _work_list_items(demo_db, 2)
    row = next(i for i in range(1, 8) if lag1[i] != lag2[i])  # a position that holds another item at lag 2
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    try:
        page.goto(f"{server}/exceptions?ex_lag=1", wait_until="domcontentloaded")
        page.get_by_text("Select a row to see").first.wait_for(timeout=30000)
        _settle(page)
        assert page.locator('[data-testid="stVegaLiteChart"]').count() == 0  # nothing picked, no chart
        box = page.locator('.st-key-ex_table [data-testid="stDataFrame"]').first.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + row * 35 + 17)  # that row's tick box
        page.get_by_text(f"{lag1[row]}: actual vs forecast").first.wait_for(timeout=30000)
        _settle(page)
        page.screenshot(path=str(_shots() / "exceptions.png"), full_page=True)
        lag = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').filter(has_text="Lag").first
        lag.locator('input[role="combobox"]').first.click()
        page.get_by_role("option", name="Lag 2", exact=True).first.click()
        page.get_by_text("lag 2, last 12", exact=False).first.wait_for(timeout=30000)
        _settle(page)
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert "Select a row to see" in main and page.locator('[data-testid="stVegaLiteChart"]').count() == 0
        assert f"{lag2[row]}: actual vs forecast" not in main
    finally:
        page.close()
