"""The KPI trend chart is readable and valid: title, axis units, target line, status colours, signals, marks;
every spec passes the Vega-Lite schema (the one altair ships)."""

import numpy as np
import pandas as pd
import pytest

from kpis import catalog, chartstyle
from kpis.catalog import charts, trends
from tests.vegalite import valid as _valid


def _layer(spec: dict, dataset: str, mark: str) -> dict:
    return next(
        la
        for la in spec["layer"]
        if la.get("data", {}).get("name") == dataset
        and (la["mark"]["type"] if isinstance(la["mark"], dict) else la["mark"]) == mark
    )


def _view(config, kpi_id="otif", values=None):
    values = values or [0.90, 0.91, 0.90, 0.89, 0.90, 0.91, 0.90, 0.89, 0.90, 0.91, 0.90, 0.89, 0.97, 0.97]
    s = pd.DataFrame({"period": pd.date_range("2025-01-01", periods=len(values), freq="MS"), "value": values})
    return trends.trend_view(s, config.kpi_by_id[kpi_id], baseline="first12")


def test_trend_figure_has_title_units_target_and_limits(config):
    spec = _valid(charts.trend_figure(_view(config)))
    assert spec["title"]["text"] == "Customer OTIF"
    y = spec["layer"][0]["encoding"]["y"]
    assert y["axis"]["title"] == "Percent" and y["axis"]["labelExpr"] == "datum.label + ' %'"
    assert spec["layer"][0]["encoding"]["x"]["title"] == "Period"
    x = spec["layer"][0]["encoding"]["x"]
    assert x["scale"] == {"type": "utc"}  # dates are not shifted to local time
    assert x["axis"]["labelExpr"] == "utcFormat(datum.value, '%Y-%m')"  # monthly ticks read 2025-03
    assert len(x["axis"]["values"]) <= chartstyle.MAX_TICKS
    assert x["axis"]["values"][0] == {"year": 2025, "month": 1, "date": 1, "utc": True}
    assert all(la["mark"].get("tooltip") is False for la in spec["layer"] if "tooltip" not in la["encoding"])
    legend = spec["layer"][0]["encoding"]["color"]["scale"]["domain"]
    assert {"Target", "Control limits", "Centre line (mean)", "Actual", "SPC signal", "On target"} <= set(legend)
    assert "Completed action" not in legend  # the legend names only what is drawn
    target = _layer(spec, "target", "line")
    assert target["mark"]["interpolate"] == "step-after"
    assert spec["datasets"]["target"][0]["y"] == 95.0  # percent shown as 0-100
    assert spec["datasets"]["target"][0]["period"] == "2025-01-01"


def test_points_coloured_by_status(config):
    spec = _valid(charts.trend_figure(_view(config)))
    points = spec["datasets"]["actual"]
    assert points[0]["fill"] == catalog.STATUS_COLOURS["red"]  # 0.90: 5 pts short, red beyond 4
    assert points[-1]["fill"] == catalog.STATUS_COLOURS["green"]  # 0.97 above target
    assert points[0]["shown"] == "90.0 %" and points[0]["status"] == "Off target"
    assert _layer(spec, "actual", "point")["encoding"]["fill"]["scale"] is None


def test_signals_are_ringed_with_their_reason(config):
    spec = _valid(charts.trend_figure(_view(config)))
    signals = spec["datasets"]["signals"]
    assert [s["y"] for s in signals] == pytest.approx([97.0, 97.0])
    assert "Point beyond the control limits" in signals[-1]["why"]


def test_provisional_limits_are_labelled(config):
    spec = charts.trend_figure(_view(config, values=[0.9, 0.91, 0.92, 0.9, 0.91, 0.92, 0.93]))
    assert "provisional" in " ".join(spec["title"]["subtitle"])


def test_bands_follow_the_target_zones(config):
    view = _view(config)
    spec = _valid(charts.trend_figure(view))
    bands = pd.DataFrame(spec["datasets"]["bands"])
    green = bands[bands["series"] == "On target"]
    lo, hi = catalog.bands(view.kpi, 0.95)["green"]
    assert green["low"].iloc[0] == pytest.approx(lo * 100) and green["high"].iloc[0] <= 100 * 10


@pytest.mark.parametrize("kpi_id", ["inventory_days", "bias"])
def test_bands_of_lower_is_better_and_band_kpis_are_drawn_once(config, kpi_id):
    kpi = config.kpi_by_id.get(kpi_id) or next(
        (k for k in config.kpis if k.direction == ("band" if kpi_id == "bias" else "lower")), None
    )
    if kpi is None:
        pytest.skip(f"no {kpi_id} KPI in this config")
    s = pd.DataFrame({"period": pd.date_range("2025-01-01", periods=8, freq="MS"), "value": [1.0, 2, 3, 2, 1, 2, 3, 2]})
    view = trends.trend_view(s, kpi)
    if not view.table["target"].notna().any():
        pytest.skip("no target")
    bands = pd.DataFrame(_valid(charts.trend_figure(view))["datasets"]["bands"])
    parts = bands.groupby("series")["part"].unique().to_dict()
    assert list(parts["On target"]) == ["green-only"]  # never drawn twice (twice as dark)
    expected = ["amber-low", "amber-high"] if kpi.direction == "band" else ["amber-only"]
    assert sorted(parts["At risk (amber)"]) == sorted(expected)
    zones = catalog.bands(kpi, float(view.table["target"].iloc[0]))
    green = bands[bands["part"] == "green-only"].iloc[0]
    k = catalog.display_scale(kpi)
    assert green["low"] >= zones["green"][0] * k - 1e-9 and green["high"] <= zones["green"][1] * k + 1e-9


def test_a_single_period_is_a_category_and_no_value_draws_no_axis_range(config):
    one = _valid(charts.trend_figure(_view(config, values=[0.93])))
    assert one["layer"][0]["encoding"]["x"]["type"] == "ordinal"
    assert one["datasets"]["actual"][0]["period"] == "2025-01"  # the period's label, not a date
    # a line through one point draws nothing: the target and the zones are a tick and bars across the period
    marks = {la["data"]["name"]: la["mark"]["type"] for la in one["layer"] if "data" in la}
    assert marks["target"] == "tick" and marks["bands"] == "bar"
    assert "line" not in {marks.get("target"), marks.get("limits"), marks.get("bands")}
    empty = _view(config, values=[float("nan")] * 3)
    spec = _valid(charts.trend_figure(empty))
    domain = spec["layer"][0]["encoding"]["y"].get("scale", {}).get("domain")
    assert domain is None or all(np.isfinite(domain))
    bands = pd.DataFrame(spec["datasets"].get("bands", {"low": [], "high": []}))
    assert np.isfinite(
        bands[["low", "high"]].to_numpy(dtype=float)[~np.isnan(bands[["low", "high"]].to_numpy(dtype=float))]
    ).all()


def test_marks_of_actions_and_reviews_sit_on_the_trend(config):
    marks = pd.DataFrame(
        {
            "kind": ["action", "review"],
            "date": pd.to_datetime(["2025-03-01", "2025-06-01"]),
            "label": ["Action #1 done: <img src=x>", "Review #2: ok"],
        }
    )
    spec = _valid(charts.trend_figure(_view(config), marks=marks))
    drawn = spec["datasets"]["marks"]
    assert [m["series"] for m in drawn] == ["Completed action", "Review"]
    assert drawn[0]["label"] == "Action #1 done: <img src=x>"  # a data value: Vega draws it as plain text
    tops = [la for la in spec["layer"] if la.get("data", {}).get("name") == "marks"]
    # along the top edge, an action, a review and a comment of the same date one above the other (none hides another)
    assert [(la["transform"][0]["filter"]["equal"], la["mark"]["y"]) for la in tops] == [
        ("action", 9),
        ("review", 24),
        ("comment", 39),
    ]
    assert {"Completed action", "Review"} <= set(spec["layer"][0]["encoding"]["color"]["scale"]["domain"])


def test_control_limits_stay_on_the_axis(config):
    import numpy as np

    rng = np.random.default_rng(0)
    view = _view(config, values=list(0.96 + rng.normal(0, 0.01, 24)))
    lo, hi = view.limits.lcl * 100, view.limits.ucl * 100
    spec = _valid(charts.trend_figure(view))
    y0, y1 = spec["layer"][0]["encoding"]["y"]["scale"]["domain"]
    assert y0 <= lo and hi <= y1
    capped = charts.trend_figure(view, cap_100=True)  # accuracy cannot pass 100 %
    assert capped["layer"][0]["encoding"]["y"]["scale"]["domain"][1] <= 100.0
