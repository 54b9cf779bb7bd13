"""Who is signed in and with which role: OpenID Connect claims mapped to roles by config.toml [roles],
and the rule that keeps the unauthenticated local mode on the local machine.

Only an e-mail address the provider verified counts (``email_verified``; kpis.access.identity), and the
person is their issuer and subject, never a name they can type. Mapping (first match wins): an e-mail
listed in ``[roles.emails]`` gets that role; otherwise the highest role of the e-mail's domain in
``[roles.domains]`` and of the user's groups (the ``groups_claim`` claim, where the provider sends it) in
``[roles.groups]``; otherwise ``[roles] unknown``: ``viewer`` or ``refuse``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kpis import textkeys
from kpis.access import identity
from kpis.access.users import RANK, User
from kpis.config import AppConfig

ALLOW_NETWORK_ENV = "SOP_PULSE_ALLOW_NETWORK_LOCAL_MODE"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Identity:
    """What the identity provider says about the person signing in: a display name (only shown), the e-mail
    address when verified (kpis.access.identity), groups, and the stable key (issuer and subject)."""

    name: str
    email: str | None
    groups: tuple[str, ...] = ()
    key: str | None = None


def identity_from_claims(
    claims: Mapping[str, Any], groups_claim: str = "groups", *, trust_email_without_claim: bool = False
) -> Identity:
    """The identity in an ID token's claims (st.user): key, verified e-mail, display name, groups."""
    found = identity.from_claims(claims, trust_without_claim=trust_email_without_claim)
    raw = claims.get(groups_claim) or ()
    if isinstance(raw, str):
        raw = [raw]
    groups = tuple(str(g) for g in raw if str(g).strip()) if isinstance(raw, (list, tuple)) else ()
    return Identity(name=found.name, email=found.email, groups=groups, key=found.key)


def role_for(config: AppConfig, identity: Identity) -> str | None:
    """The role of a signed-in identity, or None when it is refused (see the module docstring). Only a verified
    e-mail address maps (identity.email); e-mails, domains and groups compare after kpis.textkeys.fold, and a
    confusable group name matches nothing."""
    roles = config.roles
    email = identity.email
    if email is not None and textkeys.confusable(email):
        email = None
    emails = {textkeys.fold(k): v for k, v in roles.emails.items()}
    if email and textkeys.fold(email) in emails:
        return emails[textkeys.fold(email)]
    found: list[str] = []
    if email and "@" in email:
        domain = textkeys.fold(email).rsplit("@", 1)[1]
        found += [v for k, v in roles.domains.items() if textkeys.fold(k).lstrip("@") == domain]
    groups = {textkeys.fold(k): v for k, v in roles.groups.items()}
    found += [
        groups[textkeys.fold(g)] for g in identity.groups if not textkeys.confusable(g) and textkeys.fold(g) in groups
    ]
    if found:
        return max(found, key=RANK.__getitem__)
    return None if roles.unknown == "refuse" else "viewer"


def signed_in_user(config: AppConfig, claims: Mapping[str, Any]) -> User | None:
    """The User for a signed-in person (name = the key ``oidc:<iss>|<sub>``), or None when refused: no issuer
    and subject, or no role."""
    who = identity_from_claims(
        claims, config.roles.groups_claim, trust_email_without_claim=config.roles.trust_email_without_verified_claim
    )
    if who.key is None:
        return None
    role = role_for(config, who)
    if role is None:
        return None
    return User(name=who.key, role=role, display=who.name, email=who.email)


def is_loopback(address: str | None) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if not address:
        return False  # Streamlit's default (empty) listens on every interface
    host = address.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_mode_problem(address: str | None, override: str | None) -> str | None:
    """Why local mode (no sign-in) must not serve this address, or None when it may."""
    if is_loopback(address):
        return None
    if (override or "").strip().lower() in ("1", "yes", "true"):
        return None
    where = address or "every network interface"
    return (
        f"No sign-in is configured (local mode), and the server listens on {where}: anyone who can reach "
        f"it would act as the local user. Configure sign-in ([auth] in .streamlit/secrets.toml), bind the "
        f"server to 127.0.0.1, or set {ALLOW_NETWORK_ENV}=yes if another layer authenticates every request."
    )
