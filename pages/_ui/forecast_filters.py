"""The forecast pages' filters: window, lag, stage and item attributes, as widgets bound to the URL."""

from __future__ import annotations

import streamlit as st

from kpis import safety
from kpis.forecast.filters import ForecastFilters
from pages._ui.caches import shared


def forecast_filters(cube, prefix: str, *, default_window: str = "last12", all_lags: bool = True) -> ForecastFilters:
    """Window, lag, stage and attribute filters for the forecast pages, as one frozen value.

    all_lags=False leaves "All lags" out (a view defined per snapshot lag, like the tracking signal)."""
    from kpis import forecast
    from kpis.forecast import sections, windows

    labels = shared(sections.period_labels, cube)
    c0, c1, c2, c3 = st.columns([1.3, 1.6, 1, 1.2])
    keys = list(windows.WINDOWS)
    wkey = c0.selectbox(
        "Window",
        keys,
        index=keys.index(default_window),
        key=f"{prefix}_window",
        bind="query-params",
        format_func=windows.WINDOWS.get,
        help="Periods counted, ending at the newest period with data",
    )
    custom = None
    if wkey == "custom":
        custom = c1.select_slider(
            "Periods", options=labels, value=(labels[0], labels[-1]), key=f"{prefix}_periods", bind="query-params"
        )
    win = shared(sections.window, cube, wkey, None if custom is None else tuple(custom))
    if wkey != "custom":
        st.session_state[f"{prefix}_window_text"] = win.text  # a keyed box keeps its first value otherwise
        c1.text_input("Periods", disabled=True, key=f"{prefix}_window_text")
    lag_options = [None, *cube.lags] if all_lags else list(cube.lags)
    default_lag = cube.headline_lag if cube.headline_lag in cube.lags else lag_options[0]
    if st.session_state.get(f"{prefix}_lag", default_lag) not in lag_options:
        st.session_state[f"{prefix}_lag"] = default_lag
    lag = c2.selectbox(
        "Lag",
        lag_options,
        index=lag_options.index(default_lag),
        key=f"{prefix}_lag",
        bind="query-params",
        format_func=lambda k: "All lags" if k is None else f"Lag {k}",
        help="Periods between the forecast snapshot and the target period",
    )
    final = forecast.final_stage(cube)
    stage = c3.selectbox(
        "Stage",
        cube.stages,
        index=cube.stages.index(final),
        key=f"{prefix}_stage",
        bind="query-params",
        format_func=lambda s: s.capitalize() + (" (derived)" if s in cube.derived else ""),
    )
    chosen_values: list[tuple[str, tuple[str, ...]]] = []
    attrs = [a for a in cube.attributes if a not in ("abc", "xyz")]
    with st.expander("Filter items by attribute", expanded=False):
        cols = st.columns(max(len(attrs) + 2, 1))
        for col, a in zip(cols, [*attrs, "abc", "xyz"]):
            chosen = col.multiselect(
                a.upper() if a in ("abc", "xyz") else safety.md(a.capitalize()),
                cube.attributes[a],
                key=f"{prefix}_attr_{a}",
                bind="query-params",
                placeholder="All",
            )
            if chosen:
                chosen_values.append((a, tuple(chosen)))
    return ForecastFilters(window=win, stage=stage, lag=lag, attributes=tuple(chosen_values))
