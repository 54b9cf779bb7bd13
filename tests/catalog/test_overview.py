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


def test_a_segment_without_a_value_makes_the_rolled_up_period_partial(engine, config, admin):
    """Issue 21: a KPI stored only by segment was totalled over the segments present, so a period missing a
    segment was silently understated. It is partial, like a rolled-up period missing a sub-period."""
    from kpis import series
    from kpis.catalog import trends

    sync_catalog(engine, config, admin)
    weeks = pd.date_range("2025-01-06", periods=8, freq="W-MON")  # stockout_weeks: weekly, summed
    missing = weeks[4]  # APAC did not report the week of 2025-02-03
    rows = [
        ("stockout_weeks", seg, w.strftime("%Y-%m-%d"), n)
        for w in weeks
        for seg, n in (("EMEA", 4), ("APAC", 3))
        if not (seg == "APAC" and w == missing)
    ]
    _write(engine, admin, rows)
    t = repo.kpi_totals(engine, config)
    t = t[t["kpi_id"] == "stockout_weeks"].set_index("period")
    assert t.at[missing, "value"] == 4 and t.at[missing, "partial"]
    assert (t.at[missing, "segments"], t.at[missing, "expected"]) == (1, 2)
    assert not t.drop(index=missing)["partial"].any() and (t.drop(index=missing)["value"] == 7).all()
    s = series.kpi_series(engine, config, "stockout_weeks")
    view = trends.trend_view(s, config.kpi_by_id["stockout_weeks"])
    row = view.table.set_index("period").loc[missing]
    assert row["partial"] and not row["used"]
    assert "2025-W06 (1 of 2 segments)" in view.partial_note
    month = trends.roll_up(s, config.kpi_by_id["stockout_weeks"], "month").set_index("period")
    assert month.at[pd.Timestamp("2025-02-01"), "partial"]  # February lacks one complete week


def test_year_to_date_of_a_ratio_kpi_is_the_ratio_of_sums_as_on_the_forecast_page(demo_db, config):
    """Issue 21: the Overview tile's YTD for forecast accuracy was the mean of the monthly values (86.8 %) and the
    Forecast accuracy page's "Year to date" the ratio of sums (86.7 %). One method: the ratio of the year's sums,
    named where it is shown."""
    from kpis import forecast
    from kpis.forecast import sections
    from kpis.forecast.cube import final_stage
    from kpis.store.engine import make_engine

    eng = make_engine(demo_db)
    try:
        values = forecast.computed_kpi_values(eng, config, with_weight=True)
        cube = forecast.get_cube(eng, config, forecast.forecast_version(eng))
    finally:
        eng.dispose()
    for metric in ("accuracy", "bias"):
        k = next((k for k in config.kpis if k.source == "forecast" and k.forecast_metric == metric), None)
        if k is None:
            continue
        mine = values[values["kpi_id"] == k.id]
        tile = overview.overview_tiles(mine, [k], config).iloc[0]
        win = sections.window(cube, config, "ytd")
        lag = k.forecast_lag if k.forecast_lag is not None else config.forecast.headline_lag
        page = sections.headline(
            cube, config, stage=final_stage(cube), lag=lag, period_from=win.start, period_to=win.end, filters=None
        )
        assert tile["ytd"] == pytest.approx(float(page[metric]), rel=1e-9)
        assert tile["ytd_method"] == "ratio of sums"
        year = mine[mine["period"].dt.year == mine["period"].max().year]["value"]
        assert tile["ytd"] != pytest.approx(year.mean(), rel=1e-9)  # not the mean of the months
        assert ", ratio of sums" in overview.comparison_text(k, tile)


def test_year_to_date_of_an_imported_kpi_names_its_method(config):
    otif = config.kpi_by_id["otif"]  # rollup mean, imported: only the monthly ratios are known
    series = _series("otif", [0.90, 0.92, 0.94])
    t = overview.overview_tiles(series, [otif], config).iloc[0]
    assert t["ytd"] == pytest.approx(0.92) and t["ytd_method"] == "mean of periods"
    assert "YTD 92.0 %, mean of periods" in overview.comparison_text(otif, t)
    weighted = series.assign(weight=[1.0, 1.0, 2.0])  # with denominators: Σ(v·w)/Σw = (0.90+0.92+1.88)/4
    t = overview.overview_tiles(weighted, [otif], config).iloc[0]
    assert t["ytd"] == pytest.approx(0.925) and t["ytd_method"] == "ratio of sums"


def test_a_kpi_without_a_value_for_the_month_seen_is_not_reported_yet(config):
    """Issue 21: after November was imported for some KPIs, "As of Nov 2026" showed the others with October values
    and "No data 0". Such a tile says so, shows its last value as such, and is counted apart."""
    otif, fill = config.kpi_by_id["otif"], config.kpi_by_id["fill_rate"]
    data = pd.concat([_series("otif", [0.96] * 11), _series("fill_rate", [0.97] * 10)])  # to 2025-11 and 2025-10
    for as_of in (None, pd.Timestamp("2025-11-01")):
        tiles = overview.overview_tiles(data, [otif, fill], config, as_of=as_of).set_index("kpi_id")
        assert not tiles.at["otif", "late"] and tiles.at["fill_rate", "late"]
        assert (
            tiles.at["fill_rate", "value"] == pytest.approx(0.97) and tiles.at["fill_rate", "period_label"] == "2025-10"
        )
        assert overview.period_text(tiles.loc["fill_rate"]) == "2025-10 (last value; 2025-11 not reported yet)"
        assert overview.period_text(tiles.loc["otif"]) == "2025-11"
        assert overview.late_count(tiles) == 1
        assert overview.status_counts(tiles) == {"green": 1, "amber": 0, "red": 0, "none": 0}
    tiles = overview.overview_tiles(data, [otif, fill], config, as_of=pd.Timestamp("2025-10-01"))
    assert overview.late_count(tiles) == 0  # as of October both are reported


def test_sparkline_colour_follows_the_drawn_line_for_the_kpis_direction(config):
    """Issue 21: the line's colour followed the last change only, so a rising good series was drawn red."""
    otif, dos, cycle = (
        config.kpi_by_id["otif"],
        config.kpi_by_id["days_of_supply"],
        config.kpi_by_id["decision_cycle_time"],
    )
    rising_then_dip = [0.90, 0.91, 0.92, 0.93, 0.94, 0.935]  # last change down, the line rises
    t = overview.overview_tiles(_series("otif", rising_then_dip), [otif], config).iloc[0]
    assert t["change"] < 0 and t["spark_colour"] == "green"
    assert overview.spark_colour(otif, [0.95, 0.90, 0.96, 0.91]) == "red"
    assert overview.spark_colour(otif, [0.9, 0.95, 0.90001]) == "gray"  # ends where it starts, as shown
    assert overview.spark_colour(cycle, [10.0, 9.0, 8.0]) == "green"  # lower is better
    assert overview.spark_colour(dos, [30.0, 40.0]) == "gray"  # a band KPI has no better side
    assert overview.spark_colour(otif, [0.9]) == "gray"


def test_data_freshness_shows_no_none(engine, config, admin):
    """Issue 21: a computed KPI's "Last change (UTC)" showed "None"; a cell without a value shows '–'."""
    sync_catalog(engine, config, admin)
    _write(engine, admin, [("otif", "", "2025-01-01", 0.95)])
    fresh = overview.data_freshness(repo.current_through(engine), config).set_index("Import id")
    assert fresh["Last change (UTC)"].notna().all()
    assert fresh.at["fill_rate", "Last change (UTC)"] == "–"
    assert fresh.at["otif", "Last change (UTC)"].count(":") == 1  # '2026-12-06 03:33'


def test_an_unchanged_value_has_no_sign_and_no_arrow(config):
    """Issue 21: no '−0.0 %' and no arrow on a zero change."""
    from kpis.catalog import units

    otif = config.kpi_by_id["otif"]
    assert units.format_change(otif, -0.00004) == "0.0 pts" and not units.has_direction("0.0 pts")
    assert units.has_direction(units.format_change(otif, 0.001)) and units.format_value(otif, -0.0004) == "0.0 %"
    assert units.pct(-0.0004, signed=True) == "0.0 %"
    t = overview.overview_tiles(_series("otif", [0.93, 0.93]), [otif], config).iloc[0]
    assert not units.has_direction(units.format_change(otif, t["change"]))
