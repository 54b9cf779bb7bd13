"""kpis.web: the middleware that tells Streamlit's front end where the server is, so a page
opened from a link skips Streamlit's guess of a base path (a 404 and a 100 ms wait, streamlit/streamlit#7074)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from kpis.web import basepath

ROOT = Path(__file__).resolve().parents[2]
HTML = b"<!DOCTYPE html><html><head><title>Streamlit</title></head><body></body></html>"


def test_page_paths_are_the_apps_own():
    """The script knows every url_path of app.py's navigation; a page it does not know only loses the shortcut."""
    source = (ROOT / "app.py").read_text(encoding="utf-8")
    paths = set(re.findall(r'url_path="([^"]+)"', source))
    assert paths and paths <= set(basepath.PAGE_PATHS)
    assert set(basepath.PAGE_PATHS) - paths == {"overview"}  # the default page, served at "/" too


def test_hint_goes_first_in_the_head_and_nothing_else_changes():
    script = basepath.hint_script(("exceptions",))
    out = basepath.add_hint(HTML, script)
    assert out == HTML.replace(b"<head>", b"<head>" + script, 1)
    assert basepath.add_hint(b"<html>no head</html>", script) == b"<html>no head</html>"
    assert b'var pages = ["exceptions"];' in script and b"BACKEND_BASE_URL" in script


def _run(middleware, scope: dict, messages: list[dict]) -> tuple[list[dict], dict]:
    """Send `scope` through the middleware to an app that answers `messages`; (what reached the client, the scope the
    app saw)."""
    seen: dict = {}

    async def app(scope, receive, send):
        seen.update(scope)
        for m in messages:
            await send(m)

    out: list[dict] = []

    async def send(message):
        out.append(message)

    async def receive():
        return {"type": "http.disconnect"}

    asyncio.run(middleware(app)(scope, receive, send))
    return out, seen


def _page(path: str, **kw) -> dict:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(b"accept-encoding", b"gzip"), (b"if-none-match", b'"abc"'), (b"host", b"x")],
        **kw,
    }


def _html_response(body: bytes, **headers) -> list[dict]:
    head = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"etag", b'"abc"'),
        (b"last-modified", b"Wed, 02 Dec 2026 10:00:00 GMT"),
        (b"cache-control", b"no-cache"),
        *((k.encode(), v.encode()) for k, v in headers.items()),
    ]
    half = len(body) // 2
    return [
        {"type": "http.response.start", "status": 200, "headers": head},
        {"type": "http.response.body", "body": body[:half], "more_body": True},
        {"type": "http.response.body", "body": body[half:], "more_body": False},
    ]


def test_middleware_adds_the_hint_to_a_page_and_keeps_its_length_right():
    out, seen = _run(basepath.BackendHint, _page("/exceptions"), _html_response(HTML))
    assert [k for k, _v in seen["headers"]] == [b"host"]  # asked for whole and uncompressed
    start, body = out[0], out[1]
    headers = dict(start["headers"])
    assert body["body"] == basepath.add_hint(HTML, basepath.hint_script()) and not body["more_body"]
    assert headers[b"content-length"] == str(len(body["body"])).encode()
    assert b"etag" not in headers and b"last-modified" not in headers and headers[b"cache-control"] == b"no-cache"
    assert len(out) == 2


def test_page_of_reads_the_address_relative_to_the_servers_base_path():
    assert basepath.page_of("/exceptions") == "exceptions" and basepath.page_of("/") == ""
    assert basepath.page_of("/data/", "data") == "" and basepath.page_of("/data/exceptions/", "/data/") == "exceptions"
    assert basepath.page_of("/exceptions", "data") is None and basepath.page_of("/database", "data") is None
    assert basepath.page_of("/a/b/exceptions", "a/b") == "exceptions"


@pytest.mark.parametrize(
    "path,base_path,hinted",
    [
        ("/exceptions", "", True),
        ("/data", "", True),
        ("/kpi-trends/", "", True),
        ("/", "", False),
        ("/nonsense", "", False),
        ("/exceptions/more", "", False),
        # served under a base path named like a page: its root is the app's root, not the Data page
        ("/data/", "data", False),
        ("/data", "data", False),
        ("/data/exceptions", "data", True),
        ("/exceptions", "data", False),
    ],
)
def test_only_a_page_address_under_the_base_path_gets_the_hint(path, base_path, hinted):
    def with_base(app):
        return basepath.BackendHint(app, base_path=base_path)

    out, _seen = _run(with_base, _page(path), _html_response(HTML))
    body = b"".join(m.get("body", b"") for m in out)
    assert (basepath.hint_script() in body) == hinted and body.replace(basepath.hint_script(), b"") == HTML


@pytest.mark.parametrize(
    "scope",
    [
        _page("/_stcore/health"),
        _page("/static/js/index.js"),
        _page("/favicon.png"),
        _page("/app/static/data.csv"),
        _page("/exceptions", method="POST"),
        {"type": "websocket", "path": "/_stcore/stream", "headers": []},
    ],
)
def test_middleware_leaves_everything_else_untouched(scope):
    messages = _html_response(HTML)
    out, seen = _run(basepath.BackendHint, scope, messages)
    assert out == messages and seen == scope


@pytest.mark.parametrize(
    "messages",
    [
        _html_response(HTML, **{"content-encoding": "gzip"}),  # already compressed: as it is
        [{"type": "http.response.start", "status": 304, "headers": []}, {"type": "http.response.body", "body": b""}],
        [
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]},
            {"type": "http.response.body", "body": b"{}", "more_body": False},
        ],
        # a server that sends files by path (ASGI pathsend): the page goes out unchanged, its start first
        [_html_response(HTML)[0], {"type": "http.response.pathsend", "path": "/somewhere/index.html"}],
    ],
)
def test_middleware_passes_answers_that_are_not_a_plain_page(messages):
    out, _seen = _run(basepath.BackendHint, _page("/exceptions"), messages)
    assert out == messages


def test_streamlit_run_serves_app_py_as_streamlits_app_with_the_middleware():
    """`streamlit run app.py` (what `python app.py` hands over to) finds `app = st.App(...)` in app.py and serves
    it; importing app.py outside a script run builds that app with the middleware and runs no page code."""
    import subprocess
    import sys

    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(ROOT / "app.py")
    assert found.is_asgi_app and found.import_string == "app:app"
    probe = (
        "import sys; sys.path.insert(0, '.'); import app; "
        "print(type(app.app).__name__, [(m.cls.__name__, m.kwargs) for m in app.app._user_middleware])"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "App [('BackendHint', {'base_path': ''})]"


@pytest.mark.browser
@pytest.mark.parametrize("base_path", ["", "sop", "data"])  # "data": a base path named like one of the pages
def test_a_page_opened_from_a_link_connects_without_guessing(demo_db, tmp_path, base_path):
    """In Chromium, served as `make run` serves it (also under a base path, as behind a reverse proxy): a page
    address gets the server's address in the hint and never asks /<page>/_stcore/health; the app's root page
    gets no hint (nothing to guess there) and both pages work."""
    from playwright.sync_api import sync_playwright

    from tests.pages.test_browser import CHROMIUM, _settle, streamlit_server

    with streamlit_server(demo_db, "browser-test", tmp_path, base_path=base_path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            asked: list[str] = []
            page.on("request", lambda r: asked.append(r.url))
            page.goto(f"{base}/exceptions", wait_until="domcontentloaded")
            page.get_by_text("Select a row to see").first.wait_for(timeout=60000)
            _settle(page)
            assert page.evaluate("() => window.__streamlit.BACKEND_BASE_URL") == base + "/"
            assert not [u for u in asked if "/exceptions/_stcore/" in u]
            assert f"{base}/_stcore/health" in asked
            assert page.locator('[data-testid="stException"]').count() == 0
            page.goto(f"{base}/", wait_until="domcontentloaded")
            page.get_by_text("S&OP KPI overview").first.wait_for(timeout=60000)
            assert page.evaluate("() => window.__streamlit === undefined")
        finally:
            browser.close()
