"""The catalog's forecast KPIs (source = "forecast"), computed per period from the cube."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from kpis.config import AppConfig
from kpis.forecast import metrics as accuracy
from kpis.forecast.cache import forecast_version, get_cube
from kpis.forecast.cube import final_stage
from kpis.forecast.metrics import SUM_COLUMNS


# ============================================================================ KPI values
def computed_kpi_values(engine: Engine, config: AppConfig, *, with_weight: bool = False) -> pd.DataFrame:
    """KPI values (kpi_id, segment '', period, value, note) of the catalog's source='forecast' KPIs, per period.

    with_weight adds `weight`, the ratio's denominator (metrics.RATIO_WEIGHT: Σ|A| for accuracy and WAPE, ΣA for
    bias), so a year to date over periods is the ratio of their sums (kpis.catalog.overview); NaN for a metric
    without one."""
    cols = {
        "kpi_id": pd.Series([], dtype=object),
        "segment": pd.Series([], dtype=object),
        "period": pd.Series([], dtype="datetime64[ns]"),
        "value": pd.Series([], dtype=float),
        "note": pd.Series([], dtype=object),
        **({"weight": pd.Series([], dtype=float)} if with_weight else {}),
    }
    kpis = [k for k in config.kpis if k.source == "forecast" and k.forecast_metric]
    if not kpis:
        return pd.DataFrame(cols)
    cube = get_cube(engine, config, forecast_version(engine))
    if cube is None:
        return pd.DataFrame(cols)
    stage = final_stage(cube)
    frames = []
    for k in kpis:
        lag = k.forecast_lag if k.forecast_lag is not None else config.forecast.headline_lag
        sums = cube.sums(["period"], stage=stage, lag=lag)
        if sums.empty:
            continue
        target = _coarser(cube.cadence, k.cadence)
        if target != cube.cadence:
            start = pd.Series(sums["period"])
            sums["period"] = start.dt.to_period("M" if target == "month" else "Q").dt.start_time
            sums = sums.groupby("period", as_index=False, sort=True)[SUM_COLUMNS].sum()
        m = accuracy.finalize(sums)
        frames.append(
            pd.DataFrame(
                {
                    "kpi_id": k.id,
                    "segment": "",
                    "period": m["period"].to_numpy(),
                    "value": m[k.forecast_metric].to_numpy(dtype=float),
                    "note": None,
                    "weight": (
                        sums[accuracy.RATIO_WEIGHT[k.forecast_metric]].to_numpy(dtype=float)
                        if k.forecast_metric in accuracy.RATIO_WEIGHT
                        else np.nan
                    ),
                }
            )
        )
    if not frames:
        return pd.DataFrame(cols)
    out = pd.concat(frames, ignore_index=True)
    out = out[np.isfinite(out["value"].to_numpy())].reset_index(drop=True)
    out["period"] = pd.to_datetime(out["period"])
    return out if with_weight else out.drop(columns="weight")


def _coarser(data_cadence: str, kpi_cadence: str) -> str:
    """The KPI's cadence when it is coarser than the data's, else the data's."""
    rank = {"week": 0, "month": 1, "quarter": 2}
    return kpi_cadence if rank.get(kpi_cadence, 0) > rank.get(data_cadence, 0) else data_cadence
