"""Real sign-in in headless Chromium: oidc-provider-mock on loopback is the identity provider, Streamlit's
st.login the client. An editor, a contributor (writes a review) and a viewer (no form) sign in, see what their
role allows, then sign out.
Also: the server refuses a WebSocket whose Host header is not an allowed host name (DNS rebinding)."""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.dbcopy import copy_db
from tests.pages.test_browser import CHROMIUM, _free_port, _require_browser, _settle, _shots

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser

USERS = {
    "carla@example.com": {
        "email": "carla@example.com",
        "email_verified": True,
        "name": "Carla Contributor",
        "groups": ["sop-planners"],
    },
    "victor@example.com": {"email": "victor@example.com", "email_verified": True, "name": "Victor Viewer"},
    "erin@example.com": {
        "email": "erin@example.com",
        "email_verified": True,
        "name": "Erin Editor",
        "groups": ["sop-data-owners"],
    },
}


@pytest.fixture(scope="module")
def provider():
    _require_browser()
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on loopback, for the test only
    import oidc_provider_mock
    from oidc_provider_mock import User

    users = [User(sub=sub, claims=claims) for sub, claims in USERS.items()]
    with oidc_provider_mock.run_server_in_thread(user_claims=users) as server:
        yield f"http://localhost:{server.server_port}"


@contextlib.contextmanager
def _serve(provider: str, db_url: str, folder: Path, emails: str = ""):
    """Streamlit with sign-in through the provider on a free port (config: unknown = "refuse", the groups
    sop-planners = contributor and sop-data-owners = editor, the domain example.com = viewer, and `emails`
    lines under [roles.emails]); yields (base URL, port)."""
    port = _free_port()
    secrets = folder / "secrets.toml"
    secrets.write_text(
        f"""[auth]
redirect_uri = "http://localhost:{port}/oauth2callback"
cookie_secret = "test-cookie-secret-test-cookie-secret"
client_id = "sop-pulse"
client_secret = "not-a-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"
client_kwargs = {{ scope = "openid profile email" }}
""",
        encoding="utf-8",
    )
    config = folder / "config.toml"
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('unknown = "viewer"', 'unknown = "refuse"', 1)
    text = text.replace(
        "[roles.groups]\n", '[roles.groups]\n"sop-planners" = "contributor"\n"sop-data-owners" = "editor"\n', 1
    )
    text = text.replace("[roles.domains]\n", '[roles.domains]\n"example.com" = "viewer"\n', 1)
    text = text.replace("[roles.emails]\n", "[roles.emails]\n" + emails, 1)
    config.write_text(text, encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": db_url, "SOP_PULSE_CONFIG": str(config), "AUTHLIB_INSECURE_TRANSPORT": "1"}
    env.pop("SOP_PULSE_USER", None)
    log_path = folder / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--secrets.files",
            str(secrets),
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://localhost:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            proc.kill()
            pytest.fail("streamlit did not start: " + log_path.read_text(errors="replace")[-2000:])
        yield base, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def signed_server(provider, demo_db, tmp_path_factory):
    with _serve(provider, demo_db, tmp_path_factory.mktemp("signin")) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _sign_in(page, base: str, sub: str) -> None:
    page.goto(base + "/", wait_until="domcontentloaded")
    page.get_by_role("button", name="Sign in").click(timeout=30000)
    page.wait_for_url("**/oauth2/authorize**", timeout=30000)
    page.locator('input[name="sub"]').fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(base + "/**", timeout=30000)
    _settle(page)


@pytest.mark.parametrize(
    "sub, role, may_import",
    [
        ("erin@example.com", "editor", True),
        ("carla@example.com", "contributor", False),
        ("victor@example.com", "viewer", False),
    ],
)
def test_sign_in_shows_what_the_role_allows_then_sign_out(signed_server, browser, sub, role, may_import):
    base, _port = signed_server
    ctx = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = ctx.new_page()
    try:
        _sign_in(page, base, sub)
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert f"signed in as {USERS[sub]['name']} ({role})" in sidebar
        start = "S&OP KPI overview" if role == "viewer" else "My work"  # who may write starts on My work
        page.locator('[data-testid="stMain"]').get_by_text(start, exact=True).first.wait_for(timeout=30000)
        page.goto(base + "/data", wait_until="domcontentloaded")
        _settle(page)
        # Under load the script may still be drawing after the page settled once: wait for what decides.
        uploader = page.locator('[data-testid="stFileUploader"]')
        refusal = page.locator('[data-testid="stMain"]').get_by_text("Importing needs the editor or admin role")
        uploader.or_(refusal).first.wait_for(timeout=60000)
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert (page.locator('[data-testid="stFileUploader"]').count() > 0) is may_import
        assert ("Importing needs the editor or admin role" in main) is not may_import
        page.goto(base + "/reviews", wait_until="domcontentloaded")  # contributors write reviews
        _settle(page)
        page.locator('[data-testid="stMain"]').get_by_text("Post-implementation reviews").first.wait_for(timeout=60000)
        _settle(page)
        may_write = role in ("contributor", "editor")
        write = page.locator('[data-testid="stMain"]').get_by_text("Write a review", exact=True)
        assert (write.count() > 0) is may_write
        if role == "contributor":
            write.first.click()
            _settle(page)
            assert page.get_by_label("Initiative (what was changed)").count() > 0  # the review form is there
            page.screenshot(path=str(_shots() / "signed_in_contributor.png"))
        if role == "viewer":
            assert page.get_by_label("Initiative (what was changed)").count() == 0
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/oauth2/end_session**", timeout=30000)  # the provider ends its session too
        page.get_by_role("button", name="End session").click()
        page.wait_for_url(base + "/**", timeout=30000)
        page.get_by_role("button", name="Sign in").wait_for(timeout=30000)
        assert "S&OP KPI overview" not in page.locator("body").inner_text()
    finally:
        ctx.close()


def _ws_handshake(port: int, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", "/_stcore/stream", skip_host=True)
    for k, v in {
        "Host": host,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }.items():
        conn.putheader(k, v)
    conn.endheaders()
    try:
        return conn.getresponse().status
    except (TimeoutError, http.client.HTTPException, ConnectionError):
        return 0
    finally:
        conn.close()


def test_a_foreign_host_name_cannot_open_the_app_socket(signed_server):
    _base, port = signed_server
    assert _ws_handshake(port, f"localhost:{port}") == 101
    assert _ws_handshake(port, f"evil.example:{port}") != 101


def test_a_signed_in_authors_draft_shows_her_name_not_her_key(provider, browser, demo_db, tmp_path):
    """Carla signs in for real and saves a draft with only its initiative (no team, no facilitator): it is saved,
    and the review reads "Drafted by Carla Contributor", never the stored oidc:<iss>|<sub> key."""

    copy = tmp_path / "demo.db"
    copy_db(demo_db, copy)
    with _serve(provider, f"sqlite:///{copy}", tmp_path) as (base, _port):
        ctx = browser.new_context(viewport={"width": 1400, "height": 1800})
        page = ctx.new_page()
        try:
            _sign_in(page, base, "carla@example.com")
            page.goto(base + "/reviews", wait_until="domcontentloaded")
            _settle(page)
            main = page.locator('[data-testid="stMain"]')
            main.get_by_text("Write a review", exact=True).first.click()
            _settle(page)
            box = page.get_by_label("Initiative (what was changed)")
            box.fill("Draft written without a facilitator")
            box.press("Tab")
            _settle(page)
            page.get_by_role("button", name="Save draft").click()
            main.get_by_text("saved as a draft.").first.wait_for(timeout=60000)
            byline = main.get_by_text("Drafted by Carla Contributor").first
            byline.wait_for(timeout=60000)
            shown = main.inner_text()
            assert "oidc:" not in shown and "IntegrityError" not in shown and "Facilitator —" in shown
            byline.scroll_into_view_if_needed()
            page.screenshot(path=str(_shots() / "review_author_name.png"))
        finally:
            ctx.close()
