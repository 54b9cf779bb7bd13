"""Tell Streamlit's front end where the server is, so a link to a page opens without a wasted round trip.

Opened at a page's address (``/exceptions``), Streamlit's front end cannot tell a page name from a base path the
app may be served under, so it first asks ``/exceptions/_stcore/health``, gets a 404, waits 100 ms and only then
asks ``/_stcore/health`` (streamlit/streamlit#7074). That is 0.1 s of every page opened from a link, a bookmark
or a new tab. The front end skips the guess when the page defines ``window.__streamlit.BACKEND_BASE_URL``, which
is what a host embedding Streamlit sets; this middleware adds a small script that sets it in the HTML Streamlit
serves for the app's own page addresses.

The script goes only into the page for an address that is one of the app's page paths (``PAGE_PATHS``) right
after the server's own base path (Streamlit's ``server.baseUrlPath``, which the middleware is given): the server
is then at the address without its last part, whatever prefix a reverse proxy adds in front, and the script
says so. Anywhere else (the app's root, even under a base path named like a page, or an unknown address) nothing
is added and Streamlit probes as before. The script is a constant (the page paths are the app's own,
JSON-encoded): nothing from the request goes into it.

app.py passes the middleware to Streamlit's st.App (``app = st.App(__file__, middleware=[...])``), the ASGI app
that ``streamlit run app.py`` finds and serves. Plain ASGI, no Streamlit import: the core stays UI-free.
"""

from __future__ import annotations

import json

# The url_path of every page in app.py's st.navigation (tests/web/test_basepath.py checks they match), and the default
# page's own name.
PAGE_PATHS = (
    "overview",
    "my_work",
    "kpi-trends",
    "maturity",
    "forecast-accuracy",
    "exceptions",
    "reviews",
    "actions",
    "assess",
    "scorecard",
    "meetings",
    "data",
    "catalog",
    "audit_log",
)

_SCRIPT = """<script>(function () {
  var pages = %s;
  var path = window.location.pathname.replace(/\\/+$/, "");
  var last = path.slice(path.lastIndexOf("/") + 1);
  if (pages.indexOf(last) < 0) return;
  var base = window.location.origin + path.slice(0, path.length - last.length);
  window.__streamlit = Object.assign({}, window.__streamlit || {}, {BACKEND_BASE_URL: base});
})();</script>"""


def hint_script(pages: tuple[str, ...] = PAGE_PATHS) -> bytes:
    """The script tag that sets the server's address for a page address (see the module's docstring)."""
    return (_SCRIPT % json.dumps(list(pages))).encode()


def add_hint(html: bytes, script: bytes) -> bytes:
    """The HTML with the script first in its <head> (unchanged when it has no <head>)."""
    at = html.find(b"<head>")
    if at < 0:
        return html
    at += len(b"<head>")
    return html[:at] + script + html[at:]


_REQUEST_DROPPED = (b"accept-encoding", b"if-none-match", b"if-modified-since")


def _is_page_request(scope) -> bool:
    """A GET for a page address: not Streamlit's own endpoints, not a static file (no dot in the last part)."""
    path = scope.get("path", "")
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return (
        scope["type"] == "http"
        and scope.get("method") == "GET"
        and "/_stcore/" not in path
        and "/static/" not in path
        and "/~/" not in path
        and "." not in last
    )


def page_of(path: str, base_path: str = "") -> str | None:
    """The page name an address asks for, relative to the server's base path ('' for the app's root); None for
    an address outside the base path."""
    rel = path.strip("/")
    base = base_path.strip("/")
    if base:
        if rel != base and not rel.startswith(base + "/"):
            return None
        rel = rel[len(base) :].strip("/")
    return rel


class BackendHint:
    """ASGI middleware: the HTML of a page address gets the script of `hint_script`; every other request passes
    untouched. `base_path` is the server's server.baseUrlPath."""

    def __init__(self, app, pages: tuple[str, ...] = PAGE_PATHS, base_path: str = "") -> None:
        self.app = app
        self.pages = frozenset(pages)
        self.base_path = base_path or ""
        self.script = hint_script(pages)

    async def __call__(self, scope, receive, send) -> None:
        if not _is_page_request(scope) or page_of(scope.get("path", ""), self.base_path) not in self.pages:
            await self.app(scope, receive, send)
            return
        # The page is a few kB: ask for it whole and uncompressed (no 304 for a copy cached without the script),
        # so it can be read and changed here.
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() not in _REQUEST_DROPPED]}
        start: dict | None = None
        chunks: list[bytes] = []

        async def hold(message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                if (
                    message.get("status") == 200
                    and headers.get(b"content-type", b"").startswith(b"text/html")
                    and b"content-encoding" not in headers
                ):
                    start = message
                    return
                start = None
                await send(message)
                return
            if start is not None and message["type"] != "http.response.body":
                # a way of sending the body this middleware does not read (http.response.pathsend, under servers
                # that offer it): the page goes out as it is
                await send(start)
                start = None
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = add_hint(b"".join(chunks), self.script)
            # without the validators of the unchanged file, a browser never revalidates into a stale copy
            dropped = (b"content-length", b"etag", b"last-modified")
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in dropped]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, hold)
