"""Who is acting: the one place every write takes its user from, and what each role may do.

Signed in, the user comes from kpis.access.signin; in local mode and on the command line it is the login of
the process's real user id (or SOP_PULSE_USER / --user, honoured for an admin login), and the role comes from
config.toml [roles]. A user's `name` is their stable key (kpis.access.identity): what rows store and compare.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kpis.access import identity
from kpis.config import AppConfig

# What each role may do; higher roles include the lower ones.
RANK = {"viewer": 0, "contributor": 1, "editor": 2, "admin": 3}
PERMISSIONS = {
    "read": "viewer",
    "submit": "contributor",  # assessments, reviews
    "import": "editor",  # data loads
    "manage_actions": "editor",
    "admin": "admin",
}


@dataclass(frozen=True)
class User:
    """A person acting in the app."""

    name: str  # the stable key rows store and compare: oidc:<iss>|<sub> signed in, the OS login locally
    role: str
    display: str = ""  # the name shown, never compared (a signed-in user's display name)
    local: bool = False  # local mode: no sign-in, the OS login or SOP_PULSE_USER
    via: str | None = None  # the OS login that named this user with --user / SOP_PULSE_USER (an admin)
    email: str | None = None  # the e-mail address the provider verified (folded), else None

    @property
    def key(self) -> str:
        """The stable key (the same as `name`)."""
        return self.name

    @property
    def keys(self) -> tuple[str, ...]:
        """What a row may name this person by: the key, and the verified e-mail address."""
        return (self.name, self.email) if self.email else (self.name,)

    @property
    def known_as(self) -> str:
        """The name a person is listed under among people named in data (a maturity respondent): the verified
        e-mail address, else the key. Either counts as this person (is_self); a display name never does."""
        return self.email or self.name

    def is_self(self, recorded: str | None) -> bool:
        """True when a name recorded in a row (created_by, respondent, owner) is this person."""
        return identity.is_self(self.name, self.email, recorded)

    def can(self, permission: str) -> bool:
        """True when the role allows the permission."""
        return RANK[self.role] >= RANK[PERMISSIONS[permission]]


class NotAllowed(PermissionError):
    """The user's role does not allow this action."""


def os_login() -> str:
    """The login of the process's real user id (LOGNAME and USER are not asked: anyone can set them)."""
    return identity.os_login()


def current_user(config: AppConfig, name: str | None = None) -> User:
    """The acting user in local mode: an explicit name (--user), else SOP_PULSE_USER, else the OS login.

    Acting as someone other than the OS login is only honoured when the OS login is an admin; the
    audit log then records both (`via`)."""
    login = os_login()
    wanted = (name or os.environ.get("SOP_PULSE_USER") or login).strip() or login
    role = config.roles.users.get(wanted, config.roles.default)
    if wanted == login:
        return User(name=login, role=role, display=login, local=True)
    login_role = config.roles.users.get(login, config.roles.default)
    if login_role != "admin":
        raise NotAllowed(
            f"{login} ({login_role}) may not act as {wanted}: only an admin may name another user "
            "with --user or SOP_PULSE_USER"
        )
    return User(name=wanted, role=role, display=wanted, local=True, via=login)


def require(user: User, permission: str, *, engine=None, what: str | None = None) -> None:
    """Raise NotAllowed unless the user may do this; with an engine, the refusal is also written to the audit log."""
    if user.can(permission):
        return
    if engine is not None:
        record_refusal(engine, user, permission, what)
    verb = {"admin": "administer"}.get(permission, permission.replace("_", " "))
    raise NotAllowed(
        f"{user.display or user.name} ({user.role}) may not {verb}"
        + (f" ({what})" if what else "")
        + f"; this needs the {PERMISSIONS[permission]} role"
    )


def record_refusal(engine, user: User, permission: str, what: str | None = None) -> None:
    """Append a 'denied' event to the audit log in its own transaction (best effort: never hides the refusal)."""
    from kpis.store import audit
    from kpis.store.engine import session_factory

    try:
        with session_factory(engine).begin() as s:
            audit.record(
                s,
                user=user,
                action="denied",
                entity=what or permission,
                details={"permission": permission, "role": user.role},
            )
    except Exception:
        pass
