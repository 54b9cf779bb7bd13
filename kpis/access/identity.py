"""Who a person is: a key nobody can type, and the e-mail address only when the provider verified it.

- Signed in, a person is the identity provider's issuer and subject: the key ``oidc:<iss>|<sub>`` (a SHA-256
  of both when that would pass 120 characters, the width of the columns that store it). A display name
  (``name``, ``preferred_username``) is only shown; an e-mail address counts only when the provider says it
  is verified (``email_verified``) and it is not confusable (``kpis.textkeys.confusable``: the Kelvin sign in
  ``\u212aim@example.com`` is not the ``k`` of ``kim@example.com``).
- In local mode and on the command line the key is the login of the process's real user id (``os_login``);
  a login cannot hold ``:`` (the passwd field separator), so it never equals an ``oidc:`` key.

Records store the key (``created_by``, the assessment respondent, the audit actor) and compare on it
(``User.is_self``). A record naming a verified e-mail address (written before keys, or imported) belongs to
whoever signs in with that address verified; a display name matches nothing.
"""

from __future__ import annotations

import hashlib
import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kpis import textkeys

OIDC = "oidc:"
MAX_KEY = 120


def oidc_key(iss: str, sub: str) -> str:
    """The stable key of a signed-in person: issuer and subject."""
    key = f"{OIDC}{iss}|{sub}"
    if len(key) <= MAX_KEY:
        return key
    return f"{OIDC}sha256:{hashlib.sha256(f'{iss}|{sub}'.encode()).hexdigest()}"


def os_login() -> str:
    """The login of the process's real user id (never LOGNAME or USER, which anyone can set)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a container user without a passwd entry
        return f"uid{uid}"


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def verified_email(claims: Mapping[str, Any], *, trust_without_claim: bool = False) -> str | None:
    """The claims' e-mail address, folded (kpis.textkeys), when it may identify the person: present, verified by
    the provider (``email_verified`` true; missing counts as false unless `trust_without_claim`), and not
    confusable. Otherwise None."""
    raw = claims.get("email")
    if not raw or not isinstance(raw, str):
        return None
    verified = claims.get("email_verified")
    if not (_truthy(verified) or (verified is None and trust_without_claim)):
        return None
    raw = raw.strip()
    if textkeys.confusable(raw) or "@" not in raw:
        return None
    return textkeys.fold(raw)


def is_self(key: str, email: str | None, recorded: str | None) -> bool:
    """True when a name recorded in a row is this person: their key, or their verified e-mail address."""
    if not recorded:
        return False
    if recorded == key:
        return True
    return email is not None and not textkeys.confusable(recorded) and textkeys.same(recorded, email)


@dataclass(frozen=True)
class Claims:
    """The parts of an ID token that identify a person."""

    key: str | None
    email: str | None
    name: str


def from_claims(claims: Mapping[str, Any], *, trust_without_claim: bool = False) -> Claims:
    """The key (None without issuer and subject), verified e-mail and display name in an ID token's claims."""
    iss, sub = str(claims.get("iss") or "").strip(), str(claims.get("sub") or "").strip()
    email = verified_email(claims, trust_without_claim=trust_without_claim)
    name = str(claims.get("name") or claims.get("preferred_username") or email or sub or "").strip()
    return Claims(key=oidc_key(iss, sub) if iss and sub else None, email=email, name=textkeys.clean(name) or "unknown")
