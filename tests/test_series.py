"""A KPI's series (kpis.series): one rule for the trends page, the CLI, action verdicts, My work and the
scorecard: stored totals, with the KPIs computed from the forecast data or from the records taking their computed
series."""

import pandas as pd

from kpis import series
from kpis.forecast import computed_kpi_values
from kpis.store import repo
from kpis.store.engine import make_engine


def test_one_series_rule_for_one_kpi_and_for_several(demo_db, config):
    eng = make_engine(demo_db)
    try:
        computed = computed_kpi_values(eng, config)
        stored = repo.kpi_totals(eng, config)
        forecast_ids = [k.id for k in config.kpis if k.source == "forecast"]
        assert forecast_ids and set(computed["kpi_id"]) == set(forecast_ids)
        every = series.kpi_totals(eng, config)
        records_ids = [k.id for k in config.kpis if k.source == "records"]
        assert records_ids and not set(stored["kpi_id"]) & set(records_ids)  # the demo stores none of them
        assert set(every["kpi_id"]) == set(stored["kpi_id"]) | set(forecast_ids) | set(records_ids)
        for kid in [forecast_ids[0], "otif"]:
            one = series.kpi_series(eng, config, kid)
            source = computed if kid in forecast_ids else stored
            want = source[source["kpi_id"] == kid].sort_values("period")
            assert one["period"].is_monotonic_increasing and list(one.columns) == ["period", "value"]
            pd.testing.assert_series_equal(
                one["value"], want["value"].reset_index(drop=True), check_names=False, check_dtype=False
            )
            ids, order = [kid, "fill_rate"], ["kpi_id", "period"]
            some = series.kpi_totals(eng, config, ids).sort_values(order, ignore_index=True)
            whole = every[every["kpi_id"].isin(ids)].sort_values(order, ignore_index=True)
            pd.testing.assert_frame_equal(some, whole[some.columns], check_dtype=False)
    finally:
        eng.dispose()
