"""Exceptions: items whose tracking signal is out of limits and items with the largest error, ranked by impact."""

import streamlit as st

from kpis import safety
from kpis.catalog import units
from kpis.forecast import sections
from kpis.forecast import views as forecast_views
from pages import _ui

cfg = _ui.config()
_ui.engine()
st.title("Forecast exceptions")
cube = _ui.forecast_cube()
if cube is None:
    st.info(
        "No forecast data yet. Import demand actuals, then forecast snapshots, on the **Data** page.",
        icon=":material/info:",
    )
    st.page_link(_ui.PAGE_DATA, label="Go to the Data page", icon=":material/upload:")
    st.stop()

f = _ui.forecast_filters(cube, "ex", all_lags=False)  # the tracking signal is defined per snapshot lag
top = st.slider("Largest error contributors to list", 10, 200, 50, step=10, key="ex_top", bind="query-params")
work = _ui.shared(sections.work_list, cube, **f.section_args(), top=top)
st.caption(
    f"{f.stage.capitalize()} forecast, lag {f.lag}, {f.window.text}. "
    f"Tracking signal = Σ(F−A) / MAD over each item's last {cube.tracking_window} periods with actual and "
    f"forecast in this window; flagged when "
    f"|TS| > {cube.tracking_limit:g}. Ranked by absolute error volume — the list to work through before the "
    "demand review."
)
if work is None:
    st.success(f"No exceptions for these filters in the {f.window.text}.")
    st.stop()

summary = work.summary
note = forecast_views.tracking_note(f.window.count, cube.tracking_limit, summary, cube.tracking_window)
if note:
    st.caption(note)
m = st.columns(3)
m[0].metric("Items flagged by tracking signal", summary["flagged"], border=True)
m[1].metric(
    "Over-forecast / under-forecast",
    f"{summary['over']} / {summary['under']}",
    border=True,
    help="Flagged items with a positive / negative tracking signal",
)
m[2].metric("Share of total error in this list", units.pct(summary["share"], decimals=0), border=True)


@st.fragment
def work_list_and_item() -> None:
    """The ranked work list, a page of it at a time, and the chosen item's chart: choosing a page or a row reruns
    only this part."""
    table, page = work.table, 1
    if work.pages > 1:
        page = st.selectbox(
            "Rows",
            range(1, work.pages + 1),
            key="ex_page",
            format_func=lambda p: forecast_views.page_label(p, work.rows),
            help=f"The list is sent {forecast_views.PAGE_ROWS} rows at a time; the CSV holds every row",
        )
        if page != 1:
            table = _ui.shared(sections.work_list, cube, **f.section_args(), top=top, page=page).table
    # One table per list shown (filters, length, page): a row picked in one must not stay picked in another.
    pick = st.container(key="ex_table").dataframe(
        forecast_views.shown(table),
        hide_index=True,
        width="stretch",
        key=_ui.view_key("ex_rows", f, top, page),
        on_select="rerun",
        selection_mode="single-row",
        column_config={
            "rank": st.column_config.NumberColumn("#", format="%d"),
            "item": "Item",
            "why": "Why listed",
            # no item with a tracking signal (a window too short, said above): no column of "None"
            "ts": st.column_config.NumberColumn("Tracking signal", format="%.1f")
            if table["ts"].notna().any()
            else None,
            "abs_error": st.column_config.NumberColumn("Abs. error (units)", format="%,.0f"),
            "share": _ui.percent_column("Share of error"),
            "wape": _ui.percent_column("WAPE"),
            "bias": _ui.percent_column("Bias"),
            "actual_trend": st.column_config.LineChartColumn("Actual (trend)", width="small"),
            "forecast_trend": st.column_config.LineChartColumn("Forecast (trend)", width="small"),
        },
    )
    _ui.csv_button(work.whole, "forecast_exceptions", "ex_csv", f)
    rows = pick.selection.rows if pick is not None and hasattr(pick, "selection") else []
    rows = [r for r in rows if r < len(table)]  # a selection left from a longer list of the same page
    can_act = _ui.user().can("manage_actions")
    if not rows:  # the chart and the action follow a row the planner picked, never one picked for them
        st.caption(
            "Select a row to see that item's actual vs forecast"
            + (" and to create an improvement action for it." if can_act else ".")
        )
        return
    item = str(table.iloc[rows[0]]["item"])
    # Improvement loop: turn the selected item into a corrective action.
    if can_act and st.button(
        f"Create action for {safety.md(item)}", key="ex_create_action", icon=":material/add_task:"
    ):
        from kpis.improvement import prefill

        picked = table[table["item"].astype(str) == item].iloc[0]
        st.session_state[prefill.SESSION_KEY] = prefill.from_exception(
            item, why=str(picked["why"]), wape=float(picked["wape"]), bias=float(picked["bias"]), ts=float(picked["ts"])
        )
        _ui.go(prefill.PAGE_ACTIONS)
    st.vega_lite_chart(
        _ui.shared(sections.item_chart, cube, item, **f.section_args(filters=False)),
        key="ex_item_chart",
        width="stretch",
    )


work_list_and_item()
