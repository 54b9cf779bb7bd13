"""Who is using the app: the signed-in person (sign-in configured) or the local user (local mode)."""

from __future__ import annotations

import os

import streamlit as st

from kpis import safety
from kpis.access.signin import ALLOW_NETWORK_ENV, local_mode_problem, signed_in_user
from kpis.access.users import NotAllowed, User, current_user
from pages._ui.settings import config


def auth_configured() -> bool:
    """True when sign-in is configured ([auth] in .streamlit/secrets.toml)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def user() -> User:
    """The acting user: the signed-in person (sign-in configured) or the local user (local mode).
    Stops the page with a sign-in screen, or a clear message when the user is refused."""
    cfg = config()
    if auth_configured():
        if not st.user.is_logged_in:
            st.title("S&OP Pulse")
            st.write(f"Sign in to see {cfg.app.company}'s S&OP figures.")
            st.button("Sign in", on_click=st.login, type="primary", key="sign_in", icon=":material/login:")
            st.stop()
        who = signed_in_user(cfg, st.user.to_dict())
        if who is None:
            st.error(
                "You are signed in, but your account has no role in this app. Ask the S&OP team's "
                "administrator to add you."
            )
            st.button("Sign out", on_click=st.logout, key="sign_out_refused")
            st.stop()
        return who
    problem = local_mode_problem(st.get_option("server.address"), os.environ.get(ALLOW_NETWORK_ENV))
    if problem:
        st.error(problem)
        st.stop()
    try:
        return current_user(cfg)
    except NotAllowed as e:
        st.error(safety.md(str(e)))
        st.stop()
