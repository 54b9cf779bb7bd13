"""The people directory: who a stored key is, for showing it to people.

Rows store who wrote them as a key (kpis.access.identity): ``oidc:<iss>|<sub>`` for a signed-in person, the OS
login in local mode and on the command line, and older rows a plain name or e-mail address. Nobody can read
``oidc:https://login.example.com|00u1a2b3c``, so every sign-in writes the person's display name and verified
e-mail address under their key (``record_sign_in``: first and last seen, table ``person``), and ``names`` turns
stored keys into what a page shows:

- a key in the directory: the person's display name, followed by their verified e-mail address (or, without
  one, their key) where the name is ambiguous: another person in the directory has the same name (after
  kpis.textkeys.fold) or it as their e-mail address, a plain name shown alongside is the same, or the name
  looks like an e-mail address or a key that is not theirs;
- a key nobody has signed in with since the directory exists: the key as it is;
- a plain (legacy) name or an OS login: as it is.

A display name is only ever shown: identity is compared on keys (User.is_self), never on what ``names``
returns. What it returns is plain text: pages show it as text (st.text, a table cell) or escaped for Markdown
(kpis.safety.md), and exports neutralise it like every cell (kpis.export), so a hostile display name is shown
as the characters it holds, never as markup or a spreadsheet formula.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable

import pandas as pd
from sqlalchemy import Engine, select

from kpis import textkeys
from kpis.access.identity import OIDC
from kpis.access.users import User
from kpis.store import audit
from kpis.store.engine import session_factory
from kpis.store.models import Person, utcnow
from kpis.store.retry import retrying
from kpis.store.versions import EditConflict

MAX_NAME = 200
MAX_EMAIL = 320  # the column's width


def clean_name(text: str | None) -> str:
    """A display name as the directory keeps it: kpis.textkeys.clean, control characters (line breaks, escape
    sequences) as spaces, runs of spaces as one, at most MAX_NAME characters."""
    text = textkeys.clean(text or "")
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join(text.split())[:MAX_NAME]


def record_sign_in(engine: Engine, user: User, *, now: dt.datetime | None = None) -> bool:
    """Write the signed-in user into the directory (their display name and verified e-mail under their key;
    first seen once, last seen every time). A new person or a changed name or e-mail is an audit event; a
    repeated sign-in only moves `last_seen`. False (nothing written) for a user without an ``oidc:`` key (local
    mode, the command line)."""
    if not user.name.startswith(OIDC):
        return False
    name = clean_name(user.display) or user.name
    email = user.email if user.email and len(user.email) <= MAX_EMAIL else None  # RFC 5321: at most 254 in practice
    now = now or utcnow()

    def write() -> bool:
        with session_factory(engine).begin() as s:
            p = s.get(Person, user.name)
            if p is None:
                s.add(Person(key=user.name, name=name, email=email, first_seen=now, last_seen=now))
                audit.record(
                    s, user=user, action="create", entity="person", entity_id=user.name, details={"name": name}
                )
                return True
            changed = {
                k: {"old": old, "new": new} for k, old, new in (("name", p.name, name), ("email", p.email, email))
            }
            changed = {k: c for k, c in changed.items() if c["old"] != c["new"]}
            p.name, p.email, p.last_seen = name, email, now
            if changed:
                audit.record(
                    s, user=user, action="update", entity="person", entity_id=user.name, details={"changed": changed}
                )
            return True

    return retrying(write)


def _looks_like_key_or_mail(folded: str) -> bool:
    return folded.startswith(OIDC) or "@" in folded


def render(stored: Iterable[str | None], directory: dict[str, tuple[str, str | None]]) -> dict[str, str]:
    """What each stored key shows as (see the module docstring), given the directory as key -> (name, e-mail).
    Pure: `names` reads the directory and calls this."""
    stored = [s for s in dict.fromkeys(stored) if isinstance(s, str)]
    by_name: dict[str, set[str]] = {}
    for key, (name, _email) in directory.items():
        by_name.setdefault(textkeys.fold(name), set()).add(key)
    mails = {textkeys.fold(e): key for key, (_n, e) in directory.items() if e}
    plain = {textkeys.fold(s) for s in stored if s not in directory}
    out: dict[str, str] = {}
    for s in stored:
        if s not in directory:
            out[s] = s
            continue
        name, email = directory[s]
        folded = textkeys.fold(name)
        own_mail = email is not None and folded == textkeys.fold(email)
        ambiguous = (
            len(by_name.get(folded, ())) > 1
            or mails.get(folded, s) != s
            or folded in plain
            or (_looks_like_key_or_mail(folded) and not own_mail)
        )
        out[s] = f"{name} ({email or s})" if ambiguous and not own_mail else name
    return out


def directory(engine: Engine) -> dict[str, tuple[str, str | None]]:
    """Every person in the directory: key -> (display name, verified e-mail or None)."""
    with engine.connect() as conn:
        return {k: (n, e) for k, n, e in conn.execute(select(Person.key, Person.name, Person.email))}


def names(engine: Engine, stored: Iterable[str | None]) -> dict[str, str]:
    """Stored keys (created_by, the audit actor, ...) -> what a page or an export shows for each (module
    docstring). Only ever shown: never compare identity on it."""
    stored = list(stored)
    if not any(isinstance(s, str) and s.startswith(OIDC) for s in stored):
        return {s: s for s in stored if isinstance(s, str)}  # no key to look up: no query
    return render(stored, directory(engine))


def name(engine: Engine, stored: str | None) -> str:
    """One stored key as shown (see names); '' for none."""
    if not stored:
        return ""
    return names(engine, [stored])[stored]


def conflict(engine: Engine, exc: EditConflict) -> str:
    """An edit conflict's message naming who changed the record as people see them (see names)."""
    return exc.said(name(engine, exc.by) if exc.by != "someone" else None)


def show_columns(engine: Engine, df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A copy of a table whose columns of stored keys (created_by, actor, ...) hold the names shown instead (see
    names), for a page or an export; columns the table lacks are skipped. Keep the original to compare."""
    columns = [c for c in columns if c in df.columns]
    if not columns or df.empty:
        return df
    shown = names(engine, {v for c in columns for v in df[c] if isinstance(v, str)})
    return df.assign(**{c: df[c].map(lambda v: shown.get(v, v) if isinstance(v, str) else v) for c in columns})
