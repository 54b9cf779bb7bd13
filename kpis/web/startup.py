"""Refusing to start a server that would hand every visitor the local user: without sign-in ([auth] in
.streamlit/secrets.toml) the app runs in local mode, where whoever opens a page acts as the local user, so it
starts only on a loopback address (or with SOP_PULSE_ALLOW_NETWORK_LOCAL_MODE=yes when another layer signs people
in). app.py asks before the server starts, both as `python app.py` and as `streamlit run app.py`; it reads
Streamlit's settings and secrets and passes them here (kpis/ stays UI-free)."""

from __future__ import annotations

import os


def auth_in(secrets) -> bool:
    """True when sign-in is configured: an [auth] section in Streamlit's secrets (False without a secrets file)."""
    try:
        return "auth" in secrets
    except Exception:  # no secrets file at all
        return False


def flag_value(argv: list[str], name: str) -> str | None:
    """The value of a `--name value` or `--name=value` command-line option, the last one given; None if absent."""
    found = None
    for i, arg in enumerate(argv):
        if arg == f"--{name}" and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(f"--{name}="):
            found = arg.split("=", 1)[1]
    return found


def local_mode_refusal(address: str | None, *, signed_in: bool) -> str | None:
    """Why the server must not start (local mode, i.e. no sign-in configured, on a non-loopback address), or None.
    app.py passes Streamlit's server.address option and whether [auth] is in its secrets (kpis/ stays UI-free)."""
    from kpis.access.signin import ALLOW_NETWORK_ENV, local_mode_problem

    if signed_in:
        return None
    problem = local_mode_problem(address, os.environ.get(ALLOW_NETWORK_ENV))
    return f"S&OP Pulse does not start: {problem}" if problem else None
