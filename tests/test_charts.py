"""Figures are readable: titles, axis units, target line, status colours, signals."""

import pandas as pd

from kpis import catalog, charts
from kpis.catalog import trends


def _view(config, kpi_id="otif", values=None):
    values = values or [0.90, 0.91, 0.90, 0.89, 0.90, 0.91, 0.90, 0.89, 0.90, 0.91, 0.90, 0.89, 0.97, 0.97]
    s = pd.DataFrame({"period": pd.date_range("2025-01-01", periods=len(values), freq="MS"), "value": values})
    return trends.trend_view(s, config.kpi_by_id[kpi_id], baseline="first12")


def test_trend_figure_has_title_units_target_and_limits(config):
    fig = charts.trend_figure(_view(config))
    assert fig.layout.title.text == "Customer OTIF"
    assert fig.layout.yaxis.title.text == "Percent" and fig.layout.yaxis.ticksuffix == " %"
    assert fig.layout.xaxis.title.text == "Period"
    names = {t.name for t in fig.data}
    assert {"Target", "Control limits", "Centre line (mean)", "Actual", "SPC signal", "On target"} <= names
    target = next(t for t in fig.data if t.name == "Target")
    assert target.line.shape == "hv" and list(target.y)[0] == 95.0   # percent shown as 0-100


def test_points_coloured_by_status(config):
    fig = charts.trend_figure(_view(config))
    actual = next(t for t in fig.data if t.name == "Actual")
    assert actual.marker.color[0] == catalog.STATUS_COLOURS["red"]      # 0.90: 5 pts short, red beyond 4
    assert actual.marker.color[-1] == catalog.STATUS_COLOURS["green"]   # 0.97 above target


def test_provisional_limits_are_labelled(config):
    fig = charts.trend_figure(_view(config, values=[0.9, 0.91, 0.92, 0.9, 0.91, 0.92, 0.93]))
    assert "provisional" in fig.layout.title.text


def test_fva_stairstep_marks_value_destroying_step_red():
    fva = pd.DataFrame({"stage": ["naive", "statistical", "sales", "consensus"], "wape": [0.40, 0.30, 0.34, 0.22],
                        "fva_vs_previous": [float("nan"), 0.10, -0.04, 0.12],
                        "fva_vs_naive": [0.0, 0.10, 0.06, 0.18]})
    fig = charts.fva_stairstep(fva)
    bar = fig.data[0]
    assert list(bar.marker.color) == ["#78909c", catalog.STATUS_COLOURS["green"], catalog.STATUS_COLOURS["red"],
                                      catalog.STATUS_COLOURS["green"]]
    assert "destroys value" in bar.text[2]


def test_lag_waterfall_orders_furthest_lag_first():
    by_lag = pd.DataFrame({"lag": [0, 1, 2], "wape": [0.2, 0.25, 0.3], "accuracy": [0.8, 0.75, 0.7], "n": [10, 10, 10]})
    fig = charts.lag_waterfall(by_lag, "consensus")
    assert list(fig.data[0].x) == ["Lag 2", "Lag 1", "Lag 0"]
    assert fig.layout.yaxis.title.text == "WAPE (%)"


def test_heatmap_and_matrix_label_cells():
    t = pd.DataFrame({"family": ["A", "A", "B"], "region": ["EU", "US", "EU"], "wape": [0.1, 0.2, 0.3], "n": [5, 6, 7]})
    fig = charts.wape_heatmap(t, "family", "region")
    assert fig.layout.title.text == "WAPE by family × region"
    m = pd.DataFrame({"abc": ["A", "B"], "xyz": ["X", "Z"], "accuracy": [0.9, 0.5], "n": [10, 4], "items": [3, 1]})
    mfig = charts.abc_xyz_matrix(m)
    assert "90.0 %" in mfig.data[0].text[0][0] and "3 items" in mfig.data[0].text[0][0]
    assert mfig.data[0].text[2][2] == "no items"


def test_control_limits_stay_on_the_axis(config):
    import numpy as np

    rng = np.random.default_rng(0)
    view = _view(config, values=list(0.96 + rng.normal(0, 0.01, 24)))
    lo, hi = view.limits.lcl * 100, view.limits.ucl * 100
    fig = charts.trend_figure(view)
    y0, y1 = fig.layout.yaxis.range
    assert y0 <= lo and hi <= y1
