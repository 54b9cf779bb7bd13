"""Who is acting: the one place every write takes its user from, and what each role may do.

Sign-in comes later; for now the user is SOP_PULSE_USER or the OS login, and the role comes
from config.toml [roles].
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

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

    name: str
    role: str
    display: str = ""  # the name shown (a signed-in user's name; `name` is their e-mail)
    local: bool = False  # local mode: no sign-in, the OS login or SOP_PULSE_USER
    via: str | None = None  # the OS login that named this user with --user / SOP_PULSE_USER (an admin)

    def can(self, permission: str) -> bool:
        """True when the role allows the permission."""
        return RANK[self.role] >= RANK[PERMISSIONS[permission]]


class NotAllowed(PermissionError):
    """The user's role does not allow this action."""


def os_login() -> str:
    """The login name of the account running this process."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "local"


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
        f"{user.name} ({user.role}) may not {verb}"
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
