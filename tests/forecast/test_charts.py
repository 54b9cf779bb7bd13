"""The forecast-accuracy charts are readable and valid: lag waterfall, FVA stairstep, item chart, heat maps;
every Vega-Lite spec passes the Vega-Lite schema (the one altair ships)."""

import numpy as np
import pandas as pd
import pytest

from kpis import catalog
from kpis.forecast import charts
from tests.vegalite import valid as _valid


def test_fva_stairstep_marks_value_destroying_step_red():
    fva = pd.DataFrame(
        {
            "stage": ["naive", "statistical", "sales", "consensus"],
            "wape": [0.40, 0.30, 0.34, 0.22],
            "fva_vs_previous": [float("nan"), 0.10, -0.04, 0.12],
            "fva_vs_naive": [0.0, 0.10, 0.06, 0.18],
            "n": [1200, 1200, 1200, 1200],
        }
    )
    spec = _valid(charts.fva_stairstep(fva, window="last 12 months"))
    bars = spec["datasets"]["bars"]
    assert [b["colour"] for b in bars] == [
        "#78909c",
        catalog.STATUS_COLOURS["green"],
        catalog.STATUS_COLOURS["red"],
        catalog.STATUS_COLOURS["green"],
    ]
    assert bars[2]["verdict"] == "destroys value" and bars[2]["fva"] == "FVA −4.0 pts"
    assert bars[3]["label"] == "22.0 %" and bars[3]["n"] == "1,200"
    assert spec["title"]["subtitle"][-1] == "last 12 months"


def test_lag_waterfall_orders_furthest_lag_first():
    by_lag = pd.DataFrame({"lag": [0, 1, 2], "wape": [0.2, 0.25, 0.3], "accuracy": [0.8, 0.75, 0.7], "n": [10, 10, 10]})
    spec = _valid(charts.lag_waterfall(by_lag, "consensus"))
    assert [b["lag"] for b in spec["datasets"]["bars"]] == ["Lag 2", "Lag 1", "Lag 0"]
    assert [b["wape"] for b in spec["datasets"]["bars"]] == pytest.approx([30.0, 25.0, 20.0])
    bar = spec["layer"][0]["encoding"]
    assert bar["y"]["axis"]["title"] == "WAPE (%)" and bar["x"]["sort"] == ["Lag 2", "Lag 1", "Lag 0"]
    assert "WAPE 30.0 % at lag 2 → 20.0 % at lag 0" in spec["title"]["subtitle"][0]


def test_item_figure_draws_actual_and_forecast_with_gaps():
    series = pd.DataFrame(
        {
            "item": "X",
            "period": pd.to_datetime(["2026-02-01", "2026-01-01"]),
            "actual": [10.0, 12.0],
            "forecast": [np.nan, 11.0],
        }
    )
    spec = _valid(charts.item_figure(series, "X", "consensus", 1))
    drawn = pd.DataFrame(spec["datasets"]["series"])
    assert drawn["period"].tolist() == ["2026-01-01", "2026-02-01"] * 2  # in period order
    assert drawn["units"].tolist()[:3] == [12.0, 10.0, 11.0] and drawn["units"].isna().tolist()[3]
    assert drawn["shown"].tolist() == ["12", "10", "11", "–"]
    assert spec["title"]["text"] == "X: actual vs forecast"


def test_heatmap_and_matrix_label_cells():
    t = pd.DataFrame({"family": ["A", "A", "B"], "region": ["EU", "US", "EU"], "wape": [0.1, 0.2, 0.3], "n": [5, 6, 7]})
    fig = charts.wape_heatmap(t, "family", "region")
    assert fig.layout.title.text == "WAPE by family × region"
    m = pd.DataFrame({"abc": ["A", "B"], "xyz": ["X", "Z"], "accuracy": [0.9, 0.5], "n": [10, 4], "items": [3, 1]})
    mfig = charts.abc_xyz_matrix(m)
    assert "90.0 %" in mfig.data[0].text[0][0] and "3 items" in mfig.data[0].text[0][0]
    assert mfig.data[0].text[2][2] == "no items"


def test_fva_stairstep_on_a_small_matched_sample_judges_nothing():
    from kpis.forecast import views
    from kpis.forecast.metrics import FVA_MIN_N

    fva = pd.DataFrame(
        {
            "stage": ["naive", "statistical", "sales"],
            "wape": [0.40, 0.30, 0.34],
            "fva_vs_previous": [float("nan"), 0.10, -0.04],
            "fva_vs_naive": [0.0, 0.10, 0.06],
            "n": [3, 3, 3],
        }
    )
    bars = _valid(charts.fva_stairstep(fva))["datasets"]["bars"]
    assert [b["verdict"] for b in bars] == ["reference", "too few to judge", "too few to judge"]
    assert bars[2]["colour"] == catalog.STATUS_COLOURS["amber"] and bars[1]["colour"] == "#9e9e9e"
    assert views.value_destroying_steps(fva) == []  # three item-periods: a warning would call noise a signal
    assert views.fva_small_sample_note(fva) == (
        f"sales looks worse than the step before it, but on only 3 matched item-periods: too few to call it "
        f"value-destroying (at least {FVA_MIN_N} needed). Widen the window or the filters."
    )
    big = fva.assign(n=FVA_MIN_N)
    assert views.value_destroying_steps(big) == ["sales makes the forecast worse than statistical by 4.0 pts of WAPE"]
    assert views.fva_small_sample_note(big) is None
