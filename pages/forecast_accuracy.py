"""Forecast accuracy: headline, trend with control limits, lag waterfall, FVA, heat map, ABC/XYZ, drill-down."""

import streamlit as st

from kpis import formatting, safety
from kpis.catalog import units
from kpis.forecast import sections, windows
from kpis.forecast import views as forecast_views
from pages import _ui

cfg = _ui.config()
_ui.engine()
st.title("Forecast accuracy")
cube = _ui.forecast_cube()
if cube is None:
    st.info(
        "No forecast data yet. Import demand actuals, then forecast snapshots, on the **Data** page "
        "(or `python -m kpis import demand FILE` and `python -m kpis import forecasts FILE`).",
        icon=":material/info:",
    )
    st.page_link(_ui.PAGE_DATA, label="Go to the Data page", icon=":material/upload:")
    st.stop()

f = _ui.forecast_filters(cube, "fa")
stage = f.stage
win = f.window
lag_text = f.lag_text
n_items = _ui.shared(sections.item_count, cube, f.attribute_filters())
st.caption(
    f"{stage.capitalize()} forecast · {lag_text} · {win.text} · "
    f"{n_items} items · {cube.cadence}ly data. WAPE = Σ|F−A| / Σ|A|; "
    "accuracy = 1 − WAPE; bias = Σ(F−A) / ΣA (+ over-forecast)."
)

hkeys = list(windows.WINDOWS)[:-1]
hc, _spacer = st.columns([1.3, 4])
hkey = hc.selectbox(
    "Headline window",
    hkeys,
    index=hkeys.index(windows.HEADLINE_DEFAULT),
    key="fa_head_window",
    bind="query-params",
    format_func=windows.WINDOWS.get,
    help="The headline figures, each the ratio of the window's sums (the Overview tile's year to date is computed "
    "the same way, 'ratio of sums'); the Overview tile of the same KPI shows the last period",
)
hwin = _ui.shared(sections.window, cube, hkey)
h = _ui.shared(sections.headline, cube, **f.with_window(hwin).section_args())
if h is None:
    st.warning(f"No item-period has both an actual and a forecast in the {hwin.text} for these filters.")
    st.stop()
st.markdown(f"**{stage.capitalize()}, {lag_text}, {hwin.text}**")
m = st.columns(5)
m[0].metric(
    "Accuracy",
    units.pct(h["accuracy"]),
    border=True,
    help="max(0, 1 − WAPE). How every figure is computed: docs/methodology.md",
)
m[1].metric("WAPE", units.pct(h["wape"]), border=True, help="Σ|F−A| / Σ|A|")
m[2].metric("Bias", units.pct(h["bias"], signed=True), border=True, help="Σ(F−A) / ΣA; + means over-forecast")
m[3].metric(
    "MASE",
    formatting.fixed(h["mase"], 2),
    border=True,
    help=f"MAE / mean |A_t − A_(t−{cube.season_length})|; below 1 beats the naive forecast",
)
m[4].metric("n", units.count(h["n"]), border=True, help="Item-periods with both actual and forecast")

trend = _ui.shared(
    sections.trend, cube, **f.section_args(), title=f"Accuracy over time — {stage}, {lag_text}, {win.text}"
)
st.vega_lite_chart(trend.figure, key="fa_trend", width="stretch")
st.markdown(trend.text)

left, right = st.columns(2)
with left:
    lags, lag_chart = _ui.shared(sections.by_lag, cube, **f.section_args(lag=False), window_text=win.text)
    st.vega_lite_chart(lag_chart, key="fa_lags", width="stretch")
    _ui.csv_button(lags, "accuracy_by_lag", "fa_lags_csv", f)
with right:
    fva = _ui.shared(sections.fva, cube, **f.section_args(stage=False), window_text=f"{lag_text}, {win.text}")
    st.vega_lite_chart(fva.figure, key="fa_fva", width="stretch")
    st.caption(fva.sample_text)
    if fva.destroying:
        st.warning("Value-destroying step: " + "; ".join(fva.destroying), icon=":material/trending_down:")
    if fva.small_sample:
        st.caption(fva.small_sample)
    _ui.csv_button(fva.table, "fva_stairstep", "fa_fva_csv", f)

attrs = [a for a in cube.attributes if a not in ("abc", "xyz")]


@st.fragment
def where_the_error_is() -> None:
    """Heat map and ABC × XYZ matrix, drawn only while the section is open (two charts fewer to draw on every
    load); a change of its axes reruns only this section."""
    where = st.expander(
        "**Where the error is** — WAPE by attribute and accuracy by ABC × XYZ segment",
        key="fa_where",
        on_change="rerun",
        bind="query-params",
        icon=":material/grid_view:",
    )
    if not where.open:
        return
    with where:
        hl, hr = st.columns(2)
        with hl:
            if len(attrs) >= 1:
                c1, c2 = st.columns(2)
                x_opts = [*attrs, "abc", "xyz"]
                x = c1.selectbox(
                    "Columns", x_opts, key="fa_heat_x", index=x_opts.index(forecast_views.default_heat_axes(attrs)[0])
                )
                y_opts = [a for a in x_opts if a != x]
                y_default = forecast_views.default_heat_axes(attrs)[1]
                y = c2.selectbox(
                    "Rows", y_opts, key="fa_heat_y", index=y_opts.index(y_default) if y_default in y_opts else 0
                )
                heat, heat_chart = _ui.shared(sections.heat, cube, x, y, **f.section_args(), window_text=win.text)
                st.plotly_chart(heat_chart, key="fa_heat", width="stretch")
                _ui.csv_button(heat, f"accuracy_by_{x}_{y}", "fa_heat_csv", f)
        with hr:
            matrix, matrix_chart = _ui.shared(sections.abc_xyz, cube, **f.section_args(), window_text=win.text)
            st.plotly_chart(matrix_chart, key="fa_abc", width="stretch")
            _ui.csv_button(matrix, "accuracy_by_abc_xyz", "fa_abc_csv", f)


@st.fragment
def drill_down() -> None:
    """Accuracy per group, its items and one item's chart, drawn only while the section is open (its table is the
    page's heaviest element to draw); choosing a group or a row reruns only this section."""
    drill = st.expander(
        "**Drill down** — accuracy by group, its items, one item's actual vs forecast",
        key="fa_drill",
        on_change="rerun",
        bind="query-params",
        icon=":material/manage_search:",
    )
    if not drill.open:
        return
    with drill:
        _drill_down_body()


def _drill_down_body() -> None:
    group = st.selectbox("Group by", [*attrs, "abc", "xyz", "lag", "stage"], key="fa_group", bind="query-params")
    grouped = _ui.shared(sections.grouped, cube, group, **f.section_args())
    selectable = group not in ("lag", "stage")
    st.caption(
        f"{win.text.capitalize()}. "
        + (
            "Select a row to see its items, largest error first."
            if selectable
            else "Grouped by "
            + safety.md(group)
            + ": every item contributes to every row, so there is nothing to drill into"
            + (
                " (every lag is listed: the Lag filter does not apply here)."
                if group == "lag"
                else " (every stage is listed: the Stage filter does not apply here)."
            )
        )
    )
    # keyed on what the table shows: a group picked under one filter must not stay picked, by position, under another
    pick = st.container(key=f"fa_groups_{'sel' if selectable else 'plain'}").dataframe(
        forecast_views.shown(grouped),
        hide_index=True,
        width="stretch",
        key=_ui.view_key("fa_group_rows", group, f),
        column_config=_ui.METRIC_FORMAT,
        **({"on_select": "rerun", "selection_mode": "single-row"} if selectable else {}),
    )
    _ui.csv_button(grouped, f"accuracy_by_{group}", "fa_groups_csv", f)
    rows = pick.selection.rows if selectable and pick is not None and hasattr(pick, "selection") else []
    rows = [r for r in rows if r < len(grouped)]  # a pick left from a longer table (new data, same view)
    if rows:
        value = str(grouped.iloc[rows[0]][group])
        items = _ui.shared(sections.drill, cube, group, value, **f.section_args())
        st.markdown(
            f"**Items in {safety.md(group)} {safety.md(value)}** ({len(items)}, largest share of the error first)"
        )
        ipick = st.container(key="fa_items").dataframe(
            forecast_views.shown(items),
            hide_index=True,
            width="stretch",
            key=_ui.view_key("fa_item_rows", group, value, f),
            on_select="rerun",
            selection_mode="single-row",
            column_config=_ui.METRIC_FORMAT,
        )
        _ui.csv_button(items, f"items_{group}_{value}", "fa_items_csv", f)
        irows = ipick.selection.rows if ipick is not None and hasattr(ipick, "selection") else []
        irows = [r for r in irows if r < len(items)]
        if irows:
            item = str(items.iloc[irows[0]]["item"])
            st.vega_lite_chart(
                _ui.shared(sections.item_chart, cube, item, **f.section_args(filters=False)),
                key="fa_item_chart",
                width="stretch",
            )


where_the_error_is()
drill_down()
