"""The Data page's sources: every [[source]] of config.toml, its last and next run, and "Run now"."""

import streamlit as st

from kpis import safety
from kpis.catalog import freshness
from kpis.sources import status
from pages import _ui


def show(cfg, eng, user) -> None:
    st.subheader("Sources")
    if not cfg.sources:
        st.caption("No [[source]] in config.toml: data arrives by import only (see docs/sources.md).")
        return
    if status.may_run(user):  # first: the table below then shows the run just made
        pick, go = st.columns([3, 1], vertical_alignment="bottom")
        name = pick.selectbox("Source", [s.name for s in cfg.sources], key="data_source_pick")
        if go.button("Run now", key="data_source_run", icon=":material/sync:"):
            src = next(s for s in cfg.sources if s.name == name)
            with st.spinner(f"Reading {name}…"):
                res = status.run_now(eng, cfg, src, user)
            text = safety.md(
                res.message or f"{name}: {res.inserted} inserted, {res.updated} updated, {res.unchanged} unchanged"
            )
            {"ok": st.success, "unchanged": st.info, "busy": st.warning}.get(res.status, st.error)(text)
            for p in res.problems if res.status == "refused" else []:
                st.caption(safety.md(p))
    failing = status.failing(eng, cfg)
    if failing:
        st.error(
            f"**Failing source{'s' if len(failing) > 1 else ''}**\n\n" + "\n".join(f"- {safety.md(f)}" for f in failing)
        )
    day = freshness.today()
    table = status.table(eng, cfg, late=_ui.late_data(day), day=day)
    st.dataframe(table, hide_index=True, width="stretch", key="data_sources")
