"""S&OP Pulse: page config, who is signed in, navigation by audience.

Start it with `python app.py [streamlit options]`: it warms up (kpis.warmup), then hands over to
`streamlit run app.py`, which also works but leaves the warm-up to whoever opens the first page.

This one file plays three parts, told apart by `__name__` and whether Streamlit's runtime exists yet:
* `python app.py`: the launcher (the warm-up, then Streamlit's command line);
* imported by `streamlit run app.py` before the server starts: the ASGI app it serves, Streamlit's own st.App
  for this file with the middleware of kpis.web.basepath (a page opened from a link then connects without
  Streamlit's base-path guess, a 404 and a 100 ms wait);
* a script run inside the server (or AppTest): the pages, in `main()`.
"""

import sys
from pathlib import Path

import streamlit as st
from streamlit import runtime

if __name__ == "__main__" and not runtime.exists():  # `python app.py`, not a script run inside the server
    from streamlit.web import cli

    from kpis import warmup
    from kpis.web.startup import auth_in, flag_value, local_mode_refusal

    address = flag_value(sys.argv[1:], "server.address") or st.get_option("server.address")
    refusal = local_mode_refusal(address, signed_in=auth_in(st.secrets))
    if refusal:  # local mode on a network address: refuse before the warm-up, never serve everyone as this user
        print(refusal, file=sys.stderr)
        sys.exit(2)
    took = warmup.warm_up()
    print("S&OP Pulse warmed up: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()), flush=True)
    sys.argv = ["streamlit", "run", str(Path(__file__).resolve()), *sys.argv[1:]]
    sys.exit(cli.main())

from kpis import safety

# Metric titles (the Overview's KPI names, the scorecard's figures) wrap onto a second line rather than being cut.
WRAP_CSS = """<style>
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] * {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important; height: auto;
}
</style>"""


def main() -> None:
    """Page config, who is signed in, navigation by audience, then the chosen page."""
    # Imported here, inside the server's runtime: imported by `streamlit run` before the runtime exists, each of
    # its cached functions would print "No runtime found, using MemoryCacheStorageManager" at start.
    from pages import _ui

    # The favicon is a file the app serves itself: a ":material/...:" or emoji icon makes every browser fetch it from
    # an outside server (fonts.gstatic.com), telling that server who opens the app and when.
    st.set_page_config(page_title="S&OP Pulse", page_icon=Path(__file__).parent / "assets" / "icon.png", layout="wide")
    st.html(WRAP_CSS)  # a tile's title wraps instead of being cut with "…"

    _ui.leave_folder_mode(rerun=False)  # a fresh server's first session: use st.navigation from here on
    cfg = _ui.config()
    user = _ui.user()

    # A signed-in person who may write starts on what waits for them; viewers and local mode start on the Overview.
    start_on_my_work = not user.local and user.can("submit")
    pages = {
        "You": [
            st.Page(
                "pages/my_work.py",
                title="My work",
                icon=":material/inbox:",
                url_path="my_work",
                default=start_on_my_work,
            ),
        ],
        "Managers": [
            st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=not start_on_my_work),
            st.Page("pages/kpi_trends.py", title="KPI trends", icon=":material/show_chart:", url_path="kpi-trends"),
            st.Page("pages/maturity.py", title="Maturity", icon=":material/radar:", url_path="maturity"),
        ],
        "Demand planning": [
            st.Page(
                "pages/forecast_accuracy.py",
                title="Forecast accuracy",
                icon=":material/target:",
                url_path="forecast-accuracy",
            ),
            st.Page("pages/exceptions.py", title="Exceptions", icon=":material/priority_high:", url_path="exceptions"),
        ],
        "Teams": [
            st.Page("pages/reviews.py", title="Reviews", icon=":material/rate_review:", url_path="reviews"),
            st.Page("pages/actions.py", title="Actions", icon=":material/task_alt:", url_path="actions"),
            st.Page("pages/assess.py", title="Assess maturity", icon=":material/checklist:", url_path="assess"),
        ],
        "Executives": [
            st.Page(
                "pages/scorecard.py",
                title="Sponsorship scorecard",
                icon=":material/workspace_premium:",
                url_path="scorecard",
            ),
            st.Page("pages/meetings.py", title="Meetings & decisions", icon=":material/groups:", url_path="meetings"),
        ],
        "Data": [
            st.Page("pages/data.py", title="Data", icon=":material/upload_file:", url_path="data"),
            st.Page("pages/catalog.py", title="KPI catalog", icon=":material/menu_book:", url_path="catalog"),
            # Listed for admins only; opened by URL, the page itself (kpis.auditlog) says it is for admins.
            st.Page(
                "pages/audit_log.py",
                title="Audit log",
                icon=":material/history:",
                url_path="audit_log",
                visibility="visible" if user.can("admin") else "hidden",
            ),
        ],
    }
    nav = st.navigation(pages, expanded=True)  # every page listed: no "View more" hiding the last ones
    with st.sidebar:
        if user.local:
            st.caption(
                f"**{safety.md(cfg.app.company)}** · :orange-badge[local mode] "
                f"{safety.md(user.display or user.name)} ({user.role})",
                help="No sign-in is configured: everyone who opens this app acts as this user. "
                "See README, 'Sign-in and roles'.",
            )
        else:
            st.caption(
                f"**{safety.md(cfg.app.company)}** · signed in as {safety.md(user.display or user.name)} ({user.role})"
            )
            st.button("Sign out", on_click=st.logout, key="sign_out", icon=":material/logout:", type="tertiary")
    try:
        nav.run()
    except _ui.DATABASE_ERRORS as exc:  # the database went away while the app runs: say so, never a traceback
        _ui.database_down(exc)
    except ValueError as exc:  # forecast data too large for the accuracy views, or a database URL that cannot be
        # used (kpis.store.engine: an unknown driver, a port that is not a number): the reason, never a traceback
        if type(exc).__name__ not in ("CubeTooLarge", "DatabaseUrlError"):
            raise
        st.error(safety.md(str(exc)), icon=":material/error:")


if runtime.exists():  # a script run inside the server
    main()
else:  # imported by `streamlit run`: what it serves (found by name: `app = st.App(...)`)
    from starlette.middleware import Middleware

    from kpis.web.basepath import BackendHint
    from kpis.web.startup import auth_in, local_mode_refusal

    refusal = local_mode_refusal(st.get_option("server.address"), signed_in=auth_in(st.secrets))
    if refusal:  # local mode on a network address (`streamlit run app.py --server.address 0.0.0.0`): do not start
        print(refusal, file=sys.stderr)
        sys.exit(2)

    app = st.App(__file__, middleware=[Middleware(BackendHint, base_path=st.get_option("server.baseUrlPath"))])
