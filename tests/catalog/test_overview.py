"""Overview numbers: tiles, counts, totals rolled up in SQL, data freshness."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from kpis.catalog import overview
from kpis.catalog.load import write_actuals
from kpis.catalog.sync import sync_catalog
from kpis.store import repo


def _series(kpi_id, values, start="2025-01-01"):
    return pd.DataFrame(
        {"kpi_id": kpi_id, "period": pd.date_range(start, periods=len(values), freq="MS"), "value": values}
    )


def test_tile_has_latest_previous_change_target_and_status(config):
    otif = config.kpi_by_id["otif"]  # higher is better, target 0.95, amber 0, red 0.04
    tiles = overview.overview_tiles(_series("otif", [0.90, 0.93, 0.92]), [otif], config)
    t = tiles.iloc[0]
    assert t["period_label"] == "2025-03"
    assert t["value"] == pytest.approx(0.92) and t["previous"] == pytest.approx(0.93)
    assert t["change"] == pytest.approx(-0.01)
    assert t["target"] == pytest.approx(0.95)
    # shortfall 0.95 - 0.92 = 0.03: above amber (0), within red (0.04) -> amber
    assert t["status"] == "amber"
    assert t["spark"] == pytest.approx([0.90, 0.93, 0.92])


def test_tile_uses_target_in_force_for_latest_period(config):
    acc = config.kpi_by_id["forecast_accuracy"]  # 0.78 from 2023-11, 0.82 from 2025-01
    tiles = overview.overview_tiles(_series("forecast_accuracy", [0.80], start="2024-12-01"), [acc], config)
    assert tiles.iloc[0]["target"] == pytest.approx(0.78)
    assert tiles.iloc[0]["status"] == "green"


def test_sparkline_keeps_last_twelve_points(config):
    otif = config.kpi_by_id["otif"]
    tiles = overview.overview_tiles(_series("otif", list(np.linspace(0.9, 0.95, 20))), [otif], config)
    assert len(tiles.iloc[0]["spark"]) == overview.SPARK_POINTS == 12


def test_kpi_without_data_is_status_none(config):
    otif, fill = config.kpi_by_id["otif"], config.kpi_by_id["fill_rate"]
    tiles = overview.overview_tiles(_series("otif", [0.96]), [otif, fill], config)
    row = tiles.set_index("kpi_id").loc["fill_rate"]
    assert row["status"] == "none" and row["period_label"] == ""
    assert overview.status_counts(tiles) == {"green": 1, "amber": 0, "red": 0, "none": 1}


def test_stale_when_two_periods_behind_newest_data(config):
    otif, fill = config.kpi_by_id["otif"], config.kpi_by_id["fill_rate"]
    data = pd.concat(
        [_series("otif", [0.96] * 6), _series("fill_rate", [0.97] * 4)]
    )  # otif to 2025-06, fill to 2025-04
    tiles = overview.overview_tiles(data, [otif, fill], config).set_index("kpi_id")
    assert not tiles.at["otif", "stale"]
    assert tiles.at["fill_rate", "stale"]


def test_filter_catalog_by_function_practice_owner_and_search(config):
    assert {k.id for k in overview.filter_catalog(config, functions=["production"])} == {
        "production_plan_adherence",
        "capacity_utilisation",
    }
    assert all("partners" in k.practices for k in overview.filter_catalog(config, practices=["partners"]))
    assert {k.owner for k in overview.filter_catalog(config, owners=["Lars Nilsson"])} == {"Lars Nilsson"}
    assert {k.id for k in overview.filter_catalog(config, search="otif")} == {"otif", "supplier_otif"}


def _write(engine, admin, rows):
    df = pd.DataFrame(rows, columns=["kpi_id", "segment", "period", "value"]).assign(note=None)
    df["period"] = pd.to_datetime(df["period"]).dt.date
    write_actuals(engine, df, filename="t.csv", sha256="x", user=admin)


def test_kpi_totals_prefers_stored_total_and_rolls_up_segments(engine, config, admin):
    sync_catalog(engine, config, admin)
    _write(
        engine,
        admin,
        [
            ("otif", "", "2025-01-01", 0.95),
            ("otif", "EMEA", "2025-01-01", 0.5),  # stored total wins
            ("fill_rate", "EMEA", "2025-01-01", 0.90),
            ("fill_rate", "APAC", "2025-01-01", 0.96),  # mean rollup
            ("stockout_weeks", "EMEA", "2025-01-06", 4),
            ("stockout_weeks", "APAC", "2025-01-06", 3),  # sum rollup
        ],
    )
    t = repo.kpi_totals(engine, config).set_index("kpi_id")["value"]
    assert t["otif"] == pytest.approx(0.95)
    assert t["fill_rate"] == pytest.approx(0.93)  # (0.90 + 0.96) / 2
    assert t["stockout_weeks"] == pytest.approx(7.0)  # 4 + 3


def test_data_freshness_names_last_period_per_kpi(engine, config, admin):
    sync_catalog(engine, config, admin)
    _write(engine, admin, [("otif", "", "2025-01-01", 0.95), ("otif", "", "2025-02-01", 0.94)])
    fresh = overview.data_freshness(repo.current_through(engine), config).set_index("Import id")
    assert fresh.at["otif", "Current through"] == "2025-02"
    assert fresh.at["otif", "Values"] == 2
    assert fresh.at["fill_rate", "Current through"] == "no data"


def test_problems_table_has_file_row_column_problem():
    from kpis.imports.problems import Problem

    t = overview.problems_table([Problem("a.csv", 3, "value", "value 'x' is not a number")])
    assert t.to_dict("records") == [
        {"File": "a.csv", "Rows": "3", "Column": "value", "Problem": "value 'x' is not a number", "Count": 1}
    ]


def test_problems_table_groups_identical_problems_and_shows_no_none():
    from kpis.imports.problems import Problem

    same = [Problem("a.csv", r, "value", "value is empty; expected a number") for r in range(2, 12)]
    t = overview.problems_table([*same, Problem("a.csv", None, None, "file has a header but no data rows")])
    assert t["Count"].tolist() == [10, 1]
    assert t["Rows"].tolist() == ["2, 3, 4, 5, 6 and 5 more", ""]
    assert t["Column"].tolist() == ["value", ""]
    assert "None" not in t.to_string()


_ = dt


def test_order_tiles_worst_first(config):
    tiles = pd.DataFrame({"kpi_id": list("abcd"), "function": ["x"] * 4, "status": ["green", "none", "red", "amber"]})
    assert overview.order_tiles(tiles, "worst")["status"].tolist() == ["red", "amber", "none", "green"]
    assert overview.order_tiles(tiles, "catalog")["kpi_id"].tolist() == list("abcd")


def test_catalog_table_uses_names_and_current_target(config):
    t = overview.catalog_table(list(config.kpis), "EUR", today=pd.Timestamp("2024-06-01")).set_index("Import id")
    assert t.at["forecast_accuracy", "KPI"] == "Forecast accuracy (lag 1)"
    assert t.at["forecast_accuracy", "Target now"] == "≥ 78.0 %"  # the 2025-01 step is not in force yet
    assert t.at["forecast_accuracy", "Target changes"] == 1
    assert t.at["otif", "Function"] == "Supply chain"
    assert t.at["days_of_supply", "Target now"] == "35.0 days ± 5.0 days"


def test_tiles_as_of_a_month_with_last_year_and_year_to_date(config):
    otif = config.kpi_by_id["otif"]  # monthly, rollup mean
    months = pd.date_range("2025-01-01", "2026-04-01", freq="MS")
    values = [0.90 + 0.01 * (i % 5) for i in range(len(months))]
    series = pd.DataFrame({"kpi_id": "otif", "period": months, "value": values})
    t = overview.overview_tiles(series, [otif], config, as_of=pd.Timestamp("2026-03-01")).iloc[0]
    # 2026-03 is index 14: 0.90 + 0.01*(14 % 5) = 0.94; 2025-03 is index 2: 0.92; previous 2026-02: 0.93
    assert t["period_label"] == "2026-03"
    assert t["value"] == pytest.approx(0.94) and t["previous"] == pytest.approx(0.93)
    assert t["last_year"] == pytest.approx(0.92) and t["change_vs_last_year"] == pytest.approx(0.02)
    # YTD 2026-01..03 = indices 12, 13, 14 -> 0.92, 0.93, 0.94 -> mean 0.93; last year 2025-01..03 -> 0.90, 0.91, 0.92
    assert t["ytd"] == pytest.approx(0.93) and t["ytd_last_year"] == pytest.approx(0.91)
    assert overview.as_of_choices(series)[0] == pd.Timestamp("2026-04-01")


def test_catalog_search_ignores_hyphens_and_case(config):
    names = [k.name for k in overview.filter_catalog(config, search="stock out")]
    assert "Stock-out SKU-weeks" in names
    assert overview.catalog_table(overview.filter_catalog(config), "EUR").columns.tolist()[:2] == ["KPI", "Import id"]
