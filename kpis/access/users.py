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
_RANK = {"viewer": 0, "contributor": 1, "editor": 2, "admin": 3}
PERMISSIONS = {
    "read": "viewer",
    "submit": "contributor",     # assessments, reviews
    "import": "editor",          # data loads
    "manage_actions": "editor",
    "admin": "admin",
}


@dataclass(frozen=True)
class User:
    """A person acting in the app."""

    name: str
    role: str

    def can(self, permission: str) -> bool:
        """True when the role allows the permission."""
        return _RANK[self.role] >= _RANK[PERMISSIONS[permission]]


class NotAllowed(PermissionError):
    """The user's role does not allow this action."""


def current_user(config: AppConfig, name: str | None = None) -> User:
    """The acting user: an explicit name, else SOP_PULSE_USER, else the OS login."""
    if not name:
        name = os.environ.get("SOP_PULSE_USER")
    if not name:
        try:
            name = getpass.getuser()
        except Exception:  # no login name in some containers
            name = "local"
    role = config.roles.users.get(name, config.roles.default)
    return User(name=name, role=role)


def require(user: User, permission: str) -> None:
    """Raise NotAllowed unless the user may do this."""
    if not user.can(permission):
        raise NotAllowed(f"{user.name} ({user.role}) may not {permission.replace('_', ' ')}")
