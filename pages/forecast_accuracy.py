"""Forecast accuracy: headline, trend with control limits, lag waterfall, FVA, heat map, ABC/XYZ, drill-down."""

import pandas as pd
import streamlit as st

from kpis import charts, safety
from kpis.catalog import trends, units
from kpis.forecast import views as forecast_views
from kpis.forecast import windows
from pages import _ui

cfg = _ui.config()
_ui.engine()
st.title("Forecast accuracy")
cube = _ui.forecast_cube()
if cube is None:
    st.info("No forecast data yet. Import demand actuals, then forecast snapshots, on the **Data** page "
            "(or `python -m kpis import demand FILE` and `python -m kpis import forecasts FILE`).",
            icon=":material/info:")
    st.page_link(_ui.PAGE_DATA, label="Go to the Data page", icon=":material/upload:")
    st.stop()

f = _ui.forecast_filters(cube, "fa")
view = {k: f[k] for k in ("lag", "period_from", "period_to", "filters")}
stage = f["stage"]
win = f["window"]
lag_text = "all lags" if f["lag"] is None else f"lag {f['lag']}"
st.caption(f"{stage.capitalize()} forecast · {lag_text} · {win.text} · "
           f"{len(cube.items_of(f['filters']))} items · {cube.cadence}ly data. WAPE = Σ|F−A| / Σ|A|; "
           "accuracy = 1 − WAPE; bias = Σ(F−A) / ΣA (+ over-forecast).")

hkeys = list(windows.WINDOWS)[:-1]
hc, _spacer = st.columns([1.3, 4])
hkey = hc.selectbox("Headline window", hkeys, index=hkeys.index(windows.HEADLINE_DEFAULT), key="fa_head_window", bind="query-params",
                    format_func=windows.WINDOWS.get,
                    help="The headline figures; the Overview tile of the same KPI shows the last period")
hwin = windows.resolve(cube.periods, cube.cadence, hkey)
head = cube.accuracy([], stage=stage, lag=f["lag"], period_from=hwin.start, period_to=hwin.end, filters=f["filters"])
if head.empty or int(head["n"].iloc[0]) == 0:
    st.warning(f"No item-period has both an actual and a forecast in the {hwin.text} for these filters.")
    st.stop()
h = head.iloc[0]
st.markdown(f"**{stage.capitalize()}, {lag_text}, {hwin.text}**")
m = st.columns(5)
m[0].metric("Accuracy", units.pct(h["accuracy"]), border=True, help="max(0, 1 − WAPE). How every figure is computed: docs/methodology.md")
m[1].metric("WAPE", units.pct(h["wape"]), border=True, help="Σ|F−A| / Σ|A|")
m[2].metric("Bias", units.pct(h["bias"], signed=True), border=True, help="Σ(F−A) / ΣA; + means over-forecast")
m[3].metric("MASE", "–" if pd.isna(h["mase"]) else f"{h['mase']:.2f}", border=True,
            help=f"MAE / mean |A_t − A_(t−{cube.season_length})|; below 1 beats the naive forecast")
m[4].metric("n", units.count(h["n"]), border=True, help="Item-periods with both actual and forecast")

by_period = cube.accuracy(["period"], stage=stage, **view)
kpi = forecast_views.accuracy_kpi(cfg, cube.cadence)
tview = trends.trend_view(forecast_views.accuracy_series(by_period), kpi)
st.plotly_chart(charts.trend_figure(tview, title=f"Accuracy over time — {stage}, {lag_text}, {win.text}",
                                    cap_100=True), key="fa_trend", width="stretch")
st.markdown(f"**Trend:** {tview.trend_text}. " + (
    " ".join(trends.signal_summary(tview)[:2]) or
    ("No control-chart signal: routine variation." if tview.has_limits else
     f"Too few periods for control limits ({len(tview.table)}; at least 6 are needed), so no signals are judged.")))

left, right = st.columns(2)
with left:
    lags = cube.by_lag(stage=stage, period_from=view["period_from"], period_to=view["period_to"], filters=view["filters"])
    st.plotly_chart(charts.lag_waterfall(lags, stage, window=win.text), key="fa_lags", width="stretch")
    _ui.csv_button(lags, "accuracy_by_lag", "fa_lags_csv", f)
with right:
    fva = cube.fva([], **view)
    st.plotly_chart(charts.fva_stairstep(fva, window=f"{lag_text}, {win.text}"), key="fa_fva", width="stretch")
    st.caption(forecast_views.fva_sample_text(fva))
    worst = forecast_views.value_destroying_steps(fva)
    if worst:
        st.warning("Value-destroying step: " + "; ".join(worst), icon=":material/trending_down:")
    _ui.csv_button(fva, "fva_stairstep", "fa_fva_csv", f)

attrs = [a for a in cube.attributes if a not in ("abc", "xyz")]
st.subheader("Where the error is")
hl, hr = st.columns(2)
with hl:
    if len(attrs) >= 1:
        c1, c2 = st.columns(2)
        x_opts = [*attrs, "abc", "xyz"]
        x = c1.selectbox("Columns", x_opts, key="fa_heat_x", index=x_opts.index(forecast_views.default_heat_axes(attrs)[0]))
        y_opts = [a for a in x_opts if a != x]
        y_default = forecast_views.default_heat_axes(attrs)[1]
        y = c2.selectbox("Rows", y_opts, key="fa_heat_y", index=y_opts.index(y_default) if y_default in y_opts else 0)
        heat = cube.accuracy([x, y], stage=stage, **view)
        st.plotly_chart(charts.wape_heatmap(heat, x, y, window=win.text), key="fa_heat", width="stretch")
        _ui.csv_button(heat, f"accuracy_by_{x}_{y}", "fa_heat_csv", f)
with hr:
    matrix = forecast_views.abc_xyz_table(cube, stage=stage, **view)
    st.plotly_chart(charts.abc_xyz_matrix(matrix, window=win.text), key="fa_abc", width="stretch")
    _ui.csv_button(matrix, "accuracy_by_abc_xyz", "fa_abc_csv", f)

st.subheader("Drill down")
group = st.selectbox("Group by", [*attrs, "abc", "xyz", "lag", "stage"], key="fa_group", bind="query-params")
grouped = cube.accuracy([group], **({**view, "lag": None} if group == "lag" else view),
                        stage=None if group == "stage" else stage)
selectable = group not in ("lag", "stage")
st.caption(f"{win.text.capitalize()}. " + ("Select a row to see its items, largest error first." if selectable else
           "Grouped by " + safety.md(group) + ": every item contributes to every row, so there is nothing to drill into."))
pick = st.dataframe(grouped, hide_index=True, width="stretch", key=f"fa_groups_{'sel' if selectable else 'plain'}",
                    column_config=_ui.METRIC_FORMAT,
                    **({"on_select": "rerun", "selection_mode": "single-row"} if selectable else {}))
_ui.csv_button(grouped, f"accuracy_by_{group}", "fa_groups_csv", f)
rows = pick.selection.rows if selectable and pick is not None and hasattr(pick, "selection") else []
if rows:
    value = str(grouped.iloc[rows[0]][group])
    items = forecast_views.drill_items(cube, group, value, stage=stage, **view)
    st.markdown(f"**Items in {safety.md(group)} {safety.md(value)}** ({len(items)}, largest share of the error first)")
    ipick = st.dataframe(items, hide_index=True, width="stretch", key="fa_items", on_select="rerun",
                         selection_mode="single-row", column_config=_ui.METRIC_FORMAT)
    _ui.csv_button(items, f"items_{group}_{value}", "fa_items_csv", f)
    irows = ipick.selection.rows if ipick is not None and hasattr(ipick, "selection") else []
    if irows:
        item = str(items.iloc[irows[0]]["item"])
        s = cube.item_series([item], stage=stage, lag=view["lag"], period_from=view["period_from"],
                             period_to=view["period_to"])
        st.plotly_chart(charts.item_figure(s, item, stage, view["lag"]), key="fa_item_chart", width="stretch")
