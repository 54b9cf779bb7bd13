"""No password is ever printed, logged or shown: one place that takes secrets out of database URLs and of any
message that may quote one (a driver's "failed to resolve host 'ss@db'" shows the tail of a password holding an
unescaped ``@``).

* :func:`url` — a database URL with its password (user-info, an unescaped ``@`` in it, or a query parameter such as
  ``?password=``) replaced by ``***``;
* :func:`text` — any message with every URL in it redacted and every secret of the URLs seen by :func:`remember`
  (the configured database's) taken out, wherever it appears;
* :func:`remember` — called where a URL is used (the engine, the config), so later messages lose its secrets.

Pure string work, no imports beyond the standard library: the CLI and the pages call it on every error line.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import unquote

MASK = "***"

# Query parameters whose value is a secret (lower case; compared without '-' and '_').
SECRET_PARAMS = frozenset(
    {"password", "passwd", "pass", "pwd", "sslpassword", "secret", "token", "accesstoken", "apikey", "key"}
)

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_QUERY_PARAM = re.compile(r"([?&;])([^=&;#\s]+)=([^&;#\s'\"]*)")
_SECRETS: set[str] = set()
_LOCK = threading.Lock()


def _split(u: str) -> tuple[str, str, str, str] | None:
    """(scheme://, user-info, host-and-path, query-and-fragment) of a URL; None when it has no scheme. The user-info
    ends at the LAST '@' before the query, so a password with an unescaped '@' (or '/') stays whole."""
    m = _SCHEME.match(u)
    if not m:
        return None
    rest = u[m.end() :]
    q = rest.find("?")
    main, query = (rest, "") if q < 0 else (rest[:q], rest[q:])
    at = main.rfind("@")
    if at < 0:
        return m.group(0), "", main, query
    return m.group(0), main[:at], main[at + 1 :], query


def _is_secret_param(name: str) -> bool:
    return unquote(name).lower().replace("-", "").replace("_", "") in SECRET_PARAMS


def _secrets_of(u: str) -> list[str]:
    """Every secret in one URL: the password (raw and %-decoded) and the values of secret query parameters."""
    parts = _split(u.strip())
    if parts is None:
        return []
    _, userinfo, _, query = parts
    found: list[str] = []
    if ":" in userinfo:
        password = userinfo.split(":", 1)[1]
        found += [password, unquote(password)]
    for _sep, name, value in _QUERY_PARAM.findall(query):
        if _is_secret_param(name):
            found += [value, unquote(value)]
    return [s for s in found if s]


def url(u: str | None, *, user: bool = True) -> str:
    """The URL with every secret replaced by *** (user-info password, secret query parameters); '' for None.
    user=False leaves the whole user-info out (host, port, database and the redacted query only)."""
    if not u:
        return ""
    u = str(u)
    parts = _split(u)
    if parts is None:
        return text(u)
    scheme, userinfo, hostpath, query = parts
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":" + MASK
    if not user:
        userinfo = ""
    query = _QUERY_PARAM.sub(lambda m: f"{m[1]}{m[2]}={MASK}" if _is_secret_param(m[2]) else m[0], query)
    return scheme + (userinfo + "@" if userinfo else "") + hostpath + query


def remember(u: str | None) -> None:
    """Keep the secrets of this URL so that :func:`text` takes them out of any later message."""
    for s in _secrets_of(str(u or "")):
        with _LOCK:
            _SECRETS.add(s)


def _url_in_text(m: re.Match) -> str:
    return url(m.group(0))


# A URL inside a message: a scheme, then anything up to white space or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
# "user:secret@host" without a scheme (some drivers print the connection this way).
_USERINFO = re.compile(r"(?<![\w/])([\w.\-]+):([^\s:/@'\"]+)@(?=[\w.\-\[])")


def text(message: object, *, urls: tuple[str, ...] = ()) -> str:
    """The message with every URL redacted and every known secret (remembered ones and those of `urls`) replaced by
    ***, including each '@'-separated piece of a password that a driver may show as part of a host name."""
    out = str(message)
    with _LOCK:
        secrets = set(_SECRETS)
    for u in urls:
        secrets.update(_secrets_of(str(u or "")))
    for s in sorted(secrets, key=len, reverse=True):
        if len(s) >= 3:  # a one- or two-character secret would mask letters of every word; see the pieces below
            out = out.replace(s, MASK)
    for s in secrets:  # the tail of a password with an unescaped '@' becomes part of the host name
        for piece in s.split("@")[1:] if "@" in s else [s]:
            if piece:
                out = out.replace(piece + "@", MASK + "@")
    out = _URL_IN_TEXT.sub(_url_in_text, out)
    return _USERINFO.sub(lambda m: f"{m[1]}:{MASK}@", out)


def remember_secret(value: str | None) -> None:
    """Keep a secret that is not part of a URL (a password from the environment): :func:`text` takes it out."""
    if value:
        with _LOCK:
            _SECRETS.add(value)
