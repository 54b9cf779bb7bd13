"""Forecast accuracy: headline, trend with control limits, lag waterfall, FVA, heat map, ABC/XYZ, drill-down."""

import pandas as pd
import streamlit as st

from kpis import charts, periods
from kpis.catalog import trends
from kpis.forecast import views as forecast_views
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
lag_text = "all lags" if f["lag"] is None else f"lag {f['lag']}"
st.caption(f"{stage.capitalize()} forecast · {lag_text} · {f['labels'][0]} to {f['labels'][1]} · "
           f"{len(cube.items_of(f['filters']))} items · {cube.cadence}ly data. WAPE = Σ|F−A| / Σ|A|; "
           "accuracy = 1 − WAPE; bias = Σ(F−A) / ΣA (+ over-forecast).")

head = cube.accuracy([], stage=stage, **view)
if head.empty or int(head["n"].iloc[0]) == 0:
    st.warning("No item-period has both an actual and a forecast for these filters.")
    st.stop()
h = head.iloc[0]
m = st.columns(5)
m[0].metric("Accuracy", f"{h['accuracy']:.1%}", border=True, help="max(0, 1 − WAPE)")
m[1].metric("WAPE", f"{h['wape']:.1%}", border=True, help="Σ|F−A| / Σ|A|")
m[2].metric("Bias", f"{h['bias']:+.1%}", border=True, help="Σ(F−A) / ΣA; + means over-forecast")
m[3].metric("MASE", "–" if pd.isna(h["mase"]) else f"{h['mase']:.2f}", border=True,
            help=f"MAE / mean |A_t − A_(t−{cube.season_length})|; below 1 beats the naive forecast")
m[4].metric("n", f"{int(h['n']):,}", border=True, help="Item-periods with both actual and forecast")

by_period = cube.accuracy(["period"], stage=stage, **view)
kpi = forecast_views.accuracy_kpi(cfg, cube.cadence)
tview = trends.trend_view(forecast_views.accuracy_series(by_period), kpi)
st.plotly_chart(charts.trend_figure(tview, title=f"Accuracy over time — {stage}, {lag_text}"), key="fa_trend",
                width="stretch")
st.markdown(f"**Trend:** {tview.trend_text}. " + (" ".join(trends.signal_summary(tview)[:2]) or
                                                   "No control-chart signal: routine variation."))

left, right = st.columns(2)
with left:
    lags = cube.by_lag(stage=stage, period_from=view["period_from"], period_to=view["period_to"], filters=view["filters"])
    st.plotly_chart(charts.lag_waterfall(lags, stage), key="fa_lags", width="stretch")
    _ui.csv_button(lags, "accuracy_by_lag", "fa_lags_csv")
with right:
    fva = cube.fva([], **view)
    st.plotly_chart(charts.fva_stairstep(fva), key="fa_fva", width="stretch")
    st.caption(forecast_views.fva_sample_text(fva))
    worst = forecast_views.value_destroying_steps(fva)
    if worst:
        st.warning("Value-destroying step: " + "; ".join(worst), icon=":material/trending_down:")
    _ui.csv_button(fva, "fva_stairstep", "fa_fva_csv")

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
        st.plotly_chart(charts.wape_heatmap(heat, x, y), key="fa_heat", width="stretch")
        _ui.csv_button(heat, f"accuracy_by_{x}_{y}", "fa_heat_csv")
with hr:
    matrix = forecast_views.abc_xyz_table(cube, stage=stage, **view)
    st.plotly_chart(charts.abc_xyz_matrix(matrix), key="fa_abc", width="stretch")
    _ui.csv_button(matrix, "accuracy_by_abc_xyz", "fa_abc_csv")

st.subheader("Drill down")
group = st.selectbox("Group by", [*attrs, "abc", "xyz", "lag", "stage"], key="fa_group")
grouped = cube.accuracy([group], **({**view, "lag": None} if group == "lag" else view),
                        stage=None if group == "stage" else stage)
st.caption("Select a row to see its items.")
pick = st.dataframe(grouped, hide_index=True, width="stretch", key="fa_groups", on_select="rerun",
                    selection_mode="single-row", column_config=_ui.METRIC_FORMAT)
_ui.csv_button(grouped, f"accuracy_by_{group}", "fa_groups_csv")
rows = pick.selection.rows if pick is not None and hasattr(pick, "selection") else []
if rows and group not in ("lag", "stage"):
    value = str(grouped.iloc[rows[0]][group])
    items = forecast_views.drill_items(cube, group, value, stage=stage, **view)
    st.markdown(f"**Items in {group} {value}** ({len(items)})")
    ipick = st.dataframe(items, hide_index=True, width="stretch", key="fa_items", on_select="rerun",
                         selection_mode="single-row", column_config=_ui.METRIC_FORMAT)
    _ui.csv_button(items, f"items_{group}_{value}", "fa_items_csv")
    irows = ipick.selection.rows if ipick is not None and hasattr(ipick, "selection") else []
    if irows:
        item = str(items.iloc[irows[0]]["item"])
        s = cube.item_series([item], stage=stage, lag=view["lag"], period_from=view["period_from"],
                             period_to=view["period_to"])
        st.plotly_chart(charts.item_figure(s, item, stage, view["lag"]), key="fa_item_chart", width="stretch")
_ = periods
