"""Tests for kpis.catalog: targets over time, direction-aware status, value formatting
(docs/methodology.md, KPI status against targets)."""

import math

import numpy as np

from kpis import catalog
from kpis.config import KPI


def make_kpi(**over) -> KPI:
    """A KPI with round numbers so boundaries are exact in binary floating point."""
    base = dict(
        id="k",
        name="K",
        function="supply",
        owner="Someone",
        unit="days",
        direction="higher",
        target=10.0,
        amber=1.0,
        red=3.0,
        cadence="month",
        rollup="mean",
        practices=["process"],
    )
    base.update(over)
    return KPI.model_validate(base)


def status_of(kpi: KPI, values, target) -> list[str]:
    v = np.asarray(values, dtype=float)
    return catalog.status(kpi, v, np.full(len(v), target, dtype=float)).tolist()


# ---------------------------------------------------------------- targets_at


STEPPING = make_kpi(
    target=[{"from": "2025-01", "value": 0.82}, {"from": "2023-11", "value": 0.78}], unit="%", amber=0.0, red=0.05
)


def test_targets_before_first_step_are_nan():
    t = catalog.targets_at(STEPPING, ["2023-10-01", "2020-01-01"])
    assert np.isnan(t).all()


def test_target_on_first_step():
    assert catalog.targets_at(STEPPING, ["2023-11-01"]).tolist() == [0.78]


def test_target_between_steps_keeps_earlier_value():
    assert catalog.targets_at(STEPPING, ["2024-12-01"]).tolist() == [0.78]


def test_target_on_second_step():
    assert catalog.targets_at(STEPPING, ["2025-01-01"]).tolist() == [0.82]


def test_target_after_last_step():
    assert catalog.targets_at(STEPPING, ["2030-06-01"]).tolist() == [0.82]


def test_targets_vectorised_in_input_order():
    t = catalog.targets_at(STEPPING, ["2025-02-01", "2023-10-01", "2023-12-01"])
    assert t[0] == 0.82 and math.isnan(t[1]) and t[2] == 0.78


def test_constant_target_applies_to_any_period():
    k = make_kpi(target=14.0)
    assert catalog.targets_at(k, ["1990-01-01", "2025-03-01"]).tolist() == [14.0, 14.0]


def test_weekly_stepping_target():
    # 2025-W10 starts Monday 2025-03-03
    k = make_kpi(cadence="week", target=[{"from": "2025-W10", "value": 20.0}])
    t = catalog.targets_at(k, ["2025-02-24", "2025-03-03"])
    assert math.isnan(t[0]) and t[1] == 20.0


def test_shipped_stepping_target(config):
    k = config.kpi_by_id["excess_obsolete_stock"]  # 450,000 from 2023-11, 350,000 from 2025-07
    assert catalog.targets_at(k, ["2025-06-01", "2025-07-01"]).tolist() == [450000.0, 350000.0]


# ---------------------------------------------------------------- status: higher is better
# target 10, amber 1, red 3: green down to 9, amber down to 7, red below 7

HIGHER = make_kpi(direction="higher")


def test_higher_on_target_green():
    assert status_of(HIGHER, [10.0], 10.0) == ["green"]


def test_higher_above_target_green():
    assert status_of(HIGHER, [12.0], 10.0) == ["green"]


def test_higher_shortfall_equal_amber_is_green():
    assert status_of(HIGHER, [9.0], 10.0) == ["green"]  # shortfall 10 - 9 = 1 = amber


def test_higher_inside_amber_band():
    assert status_of(HIGHER, [8.0], 10.0) == ["amber"]  # shortfall 2


def test_higher_shortfall_equal_red_is_amber():
    assert status_of(HIGHER, [7.0], 10.0) == ["amber"]  # shortfall 3 = red


def test_higher_beyond_red_is_red():
    assert status_of(HIGHER, [6.5], 10.0) == ["red"]  # shortfall 3.5 > 3


def test_zero_amber_just_below_target_is_amber():
    k = make_kpi(amber=0.0, red=2.0)
    assert status_of(k, [10.0, 9.5], 10.0) == ["green", "amber"]


# ---------------------------------------------------------------- status: lower is better

LOWER = make_kpi(direction="lower")


def test_lower_on_target_green():
    assert status_of(LOWER, [10.0], 10.0) == ["green"]


def test_lower_below_target_green():
    assert status_of(LOWER, [4.0], 10.0) == ["green"]


def test_lower_shortfall_equal_amber_is_green():
    assert status_of(LOWER, [11.0], 10.0) == ["green"]  # 11 - 10 = 1 = amber


def test_lower_shortfall_equal_red_is_amber():
    assert status_of(LOWER, [13.0], 10.0) == ["amber"]  # 13 - 10 = 3 = red


def test_lower_beyond_red_is_red():
    assert status_of(LOWER, [13.5], 10.0) == ["red"]


# ---------------------------------------------------------------- status: band
# target 35 ± 5, amber 1, red 3: green 29..41 (band + amber), amber 27..43, red outside

BAND = make_kpi(direction="band", target=35.0, band=5.0)


def test_band_on_target_green():
    assert status_of(BAND, [35.0], 35.0) == ["green"]


def test_band_edges_green():
    assert status_of(BAND, [40.0, 30.0], 35.0) == ["green", "green"]  # |±5| - 5 = 0


def test_band_shortfall_equal_amber_is_green():
    assert status_of(BAND, [41.0, 29.0], 35.0) == ["green", "green"]  # |±6| - 5 = 1 = amber


def test_band_inside_amber():
    assert status_of(BAND, [42.0, 28.0], 35.0) == ["amber", "amber"]  # |±7| - 5 = 2


def test_band_shortfall_equal_red_is_amber():
    assert status_of(BAND, [43.0, 27.0], 35.0) == ["amber", "amber"]  # |±8| - 5 = 3 = red


def test_band_beyond_red_is_red():
    assert status_of(BAND, [43.5, 26.5], 35.0) == ["red", "red"]  # |±8.5| - 5 = 3.5


# ---------------------------------------------------------------- status: no data


def test_nan_value_is_none():
    assert status_of(HIGHER, [np.nan], 10.0) == ["none"]


def test_nan_target_is_none():
    assert status_of(HIGHER, [10.0], np.nan) == ["none"]


def test_status_before_first_target_step_is_none():
    t = catalog.targets_at(STEPPING, ["2023-10-01", "2023-11-01"])
    assert catalog.status(STEPPING, np.array([0.9, 0.9]), t).tolist() == ["none", "green"]


def test_shortfall_values():
    assert catalog.shortfall(HIGHER, np.array([8.0]), np.array([10.0])).tolist() == [2.0]
    assert catalog.shortfall(LOWER, np.array([8.0]), np.array([10.0])).tolist() == [-2.0]
    assert catalog.shortfall(BAND, np.array([28.0]), np.array([35.0])).tolist() == [2.0]  # |28-35| - 5


# ---------------------------------------------------------------- status on the shipped % KPIs


def test_shipped_otif_boundaries(config):
    k = config.kpi_by_id["otif"]  # ≥ 0.95, red 0.04
    assert catalog.status(k, np.array([0.95, 0.93, 0.90]), np.full(3, 0.95)).tolist() == ["green", "amber", "red"]


# Regression: |0.90 - 0.85| - 0.05 = 4e-17 in binary floats used to turn an on-the-edge value amber.
def test_shipped_percent_boundaries_exact(config):
    cap = config.kpi_by_id["capacity_utilisation"]  # 0.85 ± 0.05, amber 0, red 0.07
    bias = config.kpi_by_id["forecast_bias"]  # 0.00 ± 0.03, amber 0, red 0.04
    assert catalog.status(cap, np.array([0.90, 0.80]), np.full(2, 0.85)).tolist() == ["green", "green"]
    # 0.07 = band 0.03 + red 0.04: shortfall == red -> amber
    assert catalog.status(bias, np.array([0.07, -0.07]), np.full(2, 0.0)).tolist() == ["amber", "amber"]


# ---------------------------------------------------------------- bands (chart shading)


def test_bands_higher():
    assert catalog.bands(HIGHER, 10.0) == {"green": (9.0, np.inf), "amber": (7.0, 9.0)}


def test_bands_lower():
    assert catalog.bands(LOWER, 10.0) == {"green": (-np.inf, 11.0), "amber": (11.0, 13.0)}


def test_bands_band():
    # green 35 ± (5 + 1), amber 35 ± (5 + 3)
    assert catalog.bands(BAND, 35.0) == {"green": (29.0, 41.0), "amber": (27.0, 43.0)}


# ---------------------------------------------------------------- formatting: %


def test_format_value_percent(config):
    assert catalog.format_value(config.kpi_by_id["otif"], 0.8734) == "87.3 %"


def test_format_change_percent_points(config):
    assert catalog.format_change(config.kpi_by_id["otif"], -0.012) == "-1.2 pts"
    assert catalog.format_change(config.kpi_by_id["otif"], 0.005) == "+0.5 pts"


def test_target_text_percent(config):
    assert catalog.target_text(config.kpi_by_id["otif"], 0.95) == "≥ 95.0 %"


def test_target_text_percent_band(config):
    assert catalog.target_text(config.kpi_by_id["capacity_utilisation"], 0.85) == "85.0 % ± 5.0 pts"


# ---------------------------------------------------------------- formatting: days


def test_format_value_days(config):
    assert catalog.format_value(config.kpi_by_id["days_of_supply"], 34.56) == "34.6 days"


def test_format_change_days(config):
    assert catalog.format_change(config.kpi_by_id["decision_cycle_time"], -3.0) == "-3.0 days"


def test_target_text_days_lower(config):
    assert catalog.target_text(config.kpi_by_id["decision_cycle_time"], 10.0) == "≤ 10.0 days"


def test_target_text_days_band(config):
    assert catalog.target_text(config.kpi_by_id["days_of_supply"], 35.0) == "35.0 days ± 5.0 days"


# ---------------------------------------------------------------- formatting: currency


def test_format_value_currency(config):
    assert catalog.format_value(config.kpi_by_id["excess_obsolete_stock"], 412345.6) == "412,346 EUR"


def test_format_value_currency_label(config):
    assert catalog.format_value(config.kpi_by_id["excess_obsolete_stock"], 1000.0, currency="USD") == "1,000 USD"


def test_format_change_currency(config):
    assert catalog.format_change(config.kpi_by_id["excess_obsolete_stock"], -1200.0) == "-1,200 EUR"


def test_target_text_currency(config):
    assert catalog.target_text(config.kpi_by_id["excess_obsolete_stock"], 350000.0) == "≤ 350,000 EUR"


# ---------------------------------------------------------------- formatting: count


def test_format_value_count(config):
    assert catalog.format_value(config.kpi_by_id["stockout_weeks"], 1234.0) == "1,234"


def test_format_change_count(config):
    assert catalog.format_change(config.kpi_by_id["stockout_weeks"], 3.0) == "+3"  # a count needs no unit word


def test_target_text_count(config):
    assert catalog.target_text(config.kpi_by_id["stockout_weeks"], 14.0) == "≤ 14"


# ---------------------------------------------------------------- formatting: missing


def test_format_value_missing(config):
    k = config.kpi_by_id["otif"]
    assert catalog.format_value(k, None) == "–"
    assert catalog.format_value(k, float("nan")) == "–"


def test_format_change_missing(config):
    assert catalog.format_change(config.kpi_by_id["otif"], None) == ""
    assert catalog.format_change(config.kpi_by_id["otif"], float("nan")) == ""


def test_target_text_missing(config):
    assert catalog.target_text(config.kpi_by_id["otif"], float("nan")) == "no target"


def test_improving_sign():
    assert (catalog.improving_sign(HIGHER), catalog.improving_sign(LOWER), catalog.improving_sign(BAND)) == (1, -1, 0)


# ---------------------------------------------------------------- one number format (issue 7)
def test_one_percent_style_and_counts():
    from kpis.catalog import units

    assert units.pct(0.8758999999999999) == "87.6 %"
    assert units.pct(0.012, signed=True) == "+1.2 %" and units.pct(-0.0001, signed=True) == "0.0 %"
    assert units.pct(float("nan")) == "–"
    assert (
        units.count(4480) == "4,480" and units.count(1, "item") == "1 item" and units.count(120, "item") == "120 items"
    )


def test_no_signed_zero_change_and_units_pluralised(config):
    assert catalog.format_change(config.kpi_by_id["otif"], 0.00001) == "0.0 pts"
    assert catalog.format_value(config.kpi_by_id["decision_cycle_time"], 1.0) == "1.0 day"
    assert catalog.format_value(config.kpi_by_id["decision_cycle_time"], 12.0) == "12.0 days"
    assert catalog.format_value(config.kpi_by_id["excess_obsolete_stock"], 4480) == "4,480 EUR"
    assert catalog.format_change(config.kpi_by_id["stockout_weeks"], -6) == "-6"
