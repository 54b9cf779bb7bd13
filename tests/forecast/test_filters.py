"""kpis.forecast.filters: the forecast pages' filters as one frozen value, and its URL form."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from kpis.forecast import windows
from kpis.forecast.filters import ForecastFilters

STARTS = pd.date_range("2025-01-01", periods=18, freq="MS")


def _resolve(key, custom=None):
    return windows.resolve(STARTS, "month", key, custom)


def _from(params, **kw):
    return ForecastFilters.from_query(
        params,
        "fa",
        resolve=_resolve,
        stages=("statistical", "consensus"),
        lags=(0, 1, 2),
        attributes={"region": ["EU", "US"], "abc": ["A", "B", "C"]},
        default_stage="consensus",
        default_lag=1,
        **kw,
    )


def test_the_value_is_frozen_and_hands_sections_their_arguments():
    f = ForecastFilters(_resolve("last3"), "consensus", lag=2, attributes=(("region", ("EU",)),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.lag = 1
    assert f.section_args() == {
        "stage": "consensus",
        "lag": 2,
        "period_from": pd.Timestamp("2026-04-01"),
        "period_to": pd.Timestamp("2026-06-01"),
        "filters": {"region": ["EU"]},
    }
    assert f.section_args(stage=False, filters=False) == {
        "lag": 2,
        "period_from": pd.Timestamp("2026-04-01"),
        "period_to": pd.Timestamp("2026-06-01"),
    }
    assert "lag" not in f.section_args(lag=False)
    assert f.lag_text == "lag 2" and ForecastFilters(f.window, "consensus").lag_text == "all lags"


def test_no_attribute_chosen_means_no_filter():
    f = ForecastFilters(_resolve("all"), "consensus")
    assert f.attribute_filters() is None and f.section_args()["filters"] is None


def test_with_window_keeps_everything_else():
    f = ForecastFilters(_resolve("last12"), "statistical", lag=0, attributes=(("abc", ("A", "B")),))
    g = f.with_window(_resolve("last1"))
    assert g.window.key == "last1" and (g.stage, g.lag, g.attributes) == (f.stage, f.lag, f.attributes)
    assert f.window.key == "last12"  # the original is unchanged


def test_query_round_trip():
    f = ForecastFilters(
        _resolve("custom", ("2025-03", "2025-08")),
        "statistical",
        lag=0,
        attributes=(("region", ("US", "EU")), ("abc", ("C",))),
    )
    q = f.to_query("fa")
    assert q == {
        "fa_window": "custom",
        "fa_periods": ["2025-03", "2025-08"],
        "fa_lag": "0",
        "fa_stage": "statistical",
        "fa_attr_region": ["US", "EU"],
        "fa_attr_abc": ["C"],
    }
    assert _from(q) == f
    every_lag = ForecastFilters(_resolve("ytd"), "consensus")
    assert every_lag.to_query("fa")["fa_lag"] == "all" and _from(every_lag.to_query("fa")) == every_lag


def test_from_query_falls_back_to_the_defaults_for_what_the_data_does_not_offer():
    f = _from(
        {
            "fa_window": "last99",
            "fa_lag": "7",
            "fa_stage": "naive",
            "fa_attr_region": ["Mars"],
            "fa_attr_colour": ["red"],
        }
    )
    assert f == ForecastFilters(_resolve("last12"), "consensus", lag=1)
    assert _from({}) == f
    assert _from({"fa_lag": "x"}).lag == 1
    # a custom window naming a period without data
    assert _from({"fa_window": "custom", "fa_periods": ["1999-01", "1999-02"]}).window == _resolve("last12")
    # a single value given as a string (one query parameter)
    assert _from({"fa_attr_region": "EU", "fa_window": "all"}).attributes == (("region", ("EU",)),)
