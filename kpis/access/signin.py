"""Who is signed in and with which role: OpenID Connect claims mapped to roles by config.toml [roles],
and the rule that keeps the unauthenticated local mode on the local machine.

Mapping (first match wins): an e-mail listed in ``[roles.emails]`` gets that role; otherwise the highest
role of the e-mail's domain in ``[roles.domains]`` and of the user's groups (the ``groups_claim`` claim,
where the provider sends it) in ``[roles.groups]``; otherwise ``[roles] unknown``: ``viewer`` or ``refuse``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kpis.access.users import RANK, User
from kpis.config import AppConfig

ALLOW_NETWORK_ENV = "SOP_PULSE_ALLOW_NETWORK_LOCAL_MODE"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Identity:
    """What the identity provider says about the person signing in."""

    name: str
    email: str | None
    groups: tuple[str, ...] = ()


def identity_from_claims(claims: Mapping[str, Any], groups_claim: str = "groups") -> Identity:
    """The identity in an ID token's claims (st.user): e-mail, display name, groups."""
    email = claims.get("email") or None
    email = str(email).strip().lower() if email else None
    name = str(claims.get("name") or claims.get("preferred_username") or email or claims.get("sub") or "").strip()
    raw = claims.get(groups_claim) or ()
    if isinstance(raw, str):
        raw = [raw]
    groups = tuple(str(g) for g in raw if str(g).strip()) if isinstance(raw, (list, tuple)) else ()
    return Identity(name=name or "unknown", email=email, groups=groups)


def role_for(config: AppConfig, identity: Identity) -> str | None:
    """The role of a signed-in identity, or None when it is refused (see the module docstring)."""
    roles = config.roles
    emails = {k.strip().lower(): v for k, v in roles.emails.items()}
    if identity.email and identity.email in emails:
        return emails[identity.email]
    found: list[str] = []
    if identity.email and "@" in identity.email:
        domain = identity.email.rsplit("@", 1)[1]
        found += [v for k, v in roles.domains.items() if k.strip().lower().lstrip("@") == domain]
    found += [roles.groups[g] for g in identity.groups if g in roles.groups]
    if found:
        return max(found, key=RANK.__getitem__)
    return None if roles.unknown == "refuse" else "viewer"


def signed_in_user(config: AppConfig, claims: Mapping[str, Any]) -> User | None:
    """The User for a signed-in person (name = e-mail where there is one), or None when refused."""
    identity = identity_from_claims(claims, config.roles.groups_claim)
    role = role_for(config, identity)
    if role is None:
        return None
    return User(name=identity.email or identity.name, role=role, display=identity.name)


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
