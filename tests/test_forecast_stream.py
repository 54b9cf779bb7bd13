"""Big Parquet forecast files are imported batch by batch (kpis.forecast.stream) with the very results of a whole-file
import: counts, stored values, re-imports, and for files with problems the same report with nothing written
(SQLite and PostgreSQL). Batches are made tiny here so that a few rows span several."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from sqlalchemy import func, select

from kpis import forecast
from kpis.forecast import stream
from kpis.ingest import ImportFailed
from kpis.store.models import AuditEvent, ForecastValue, ImportBatch


@pytest.fixture(autouse=True)
def no_cube_snapshots(monkeypatch):
    monkeypatch.setenv("SOP_PULSE_CUBE_CACHE", "off")


DEMAND = ("item,period,actual,family\n" + "".join(f"{it},2025-{m:02d},{10 * m + i},F{i}\n"
                                                  for i, it in enumerate("ABC") for m in range(1, 7))).encode()


def forecasts_frame() -> pd.DataFrame:
    rows = [(it, f"2025-{m:02d}", lag, stage, float(m * 10 + i + lag))
            for i, it in enumerate("ABC") for m in range(2, 7) for lag in (1, 2) for stage in ("statistical", "consensus")]
    return pd.DataFrame(rows, columns=["item", "period", "lag", "stage", "forecast"])


def parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def load(engine, config, admin, data: bytes, kind: str, name: str):
    return forecast.import_file(engine, data, kind=kind, config=config, user=admin, filename=name)


def stored(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(ForecastValue.item_id, ForecastValue.period, ForecastValue.lag, ForecastValue.stage,
                                   ForecastValue.forecast)).all()
    return pd.DataFrame(rows, columns=["item_id", "period", "lag", "stage", "forecast"]).sort_values(
        ["item_id", "period", "lag", "stage"], ignore_index=True)


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_streamed_import_stores_what_a_whole_file_import_stores(engine, config, admin, monkeypatch):
    load(engine, config, admin, DEMAND, "demand", "d.csv")
    df = forecasts_frame()
    assert not stream.streamable(parquet(df), "f.parquet", "forecasts")     # small files: the whole-file path
    monkeypatch.setattr(stream, "STREAM_ROWS", 4)
    assert stream.streamable(parquet(df), "f.parquet", "forecasts")
    calls = []
    real = stream.import_streamed
    monkeypatch.setattr(stream, "import_streamed", lambda *a, **k: calls.append(1) or real(*a, **k))
    res = load(engine, config, admin, parquet(df), "forecasts", "f.parquet")
    assert calls and (res.inserted, res.updated, res.unchanged) == (60, 0, 0) and res.batch_id
    got = stored(engine)
    assert len(got) == 60 and sorted(got["forecast"]) == sorted(df["forecast"])
    # the same file again: nothing written, said so
    batches = count(engine, ImportBatch)
    again = load(engine, config, admin, parquet(df), "forecasts", "again.parquet")
    assert not again.changed and again.unchanged == 60 and "same content imported" in again.summary()
    assert count(engine, ImportBatch) == batches
    # one value changed, one row added: counted, stored, audited with old and new value
    df2 = df.copy()
    df2.loc[7, "forecast"] += 1.5
    df2 = pd.concat([df2, pd.DataFrame([["A", "2025-07", 1, "consensus", 99.0]], columns=df.columns)],
                    ignore_index=True)
    res2 = load(engine, config, admin, parquet(df2), "forecasts", "f2.parquet")
    assert (res2.inserted, res2.updated, res2.unchanged) == (1, 1, 59)
    assert "1 inserted, 1 updated, 59 unchanged" in res2.summary()
    got = stored(engine)
    assert len(got) == 61 and df2.loc[7, "forecast"] in set(got["forecast"])
    with engine.connect() as conn:
        details = conn.execute(select(AuditEvent.details).where(AuditEvent.entity_id == str(res2.batch_id))).scalar_one()
        batch = conn.execute(select(ImportBatch.inserted, ImportBatch.updated, ImportBatch.unchanged)
                             .where(ImportBatch.id == res2.batch_id)).one()
    assert tuple(batch) == (1, 1, 59)
    [change] = details["changed_values"]
    assert change["item"] == df2.loc[7, "item"] and change["new"] == df2.loc[7, "forecast"]
    assert change["old"] == df.loc[7, "forecast"] and change["stage"] == df2.loc[7, "stage"]
    cube = forecast.get_cube(engine, config, forecast.forecast_version(engine))
    assert cube.accuracy([], stage="consensus").iloc[0]["n"] > 0


def report(engine, config, admin, data: bytes) -> tuple[list, int]:
    with pytest.raises(ImportFailed) as exc:
        load(engine, config, admin, data, "forecasts", "bad.parquet")
    return [(p.row, p.column, p.message) for p in exc.value.problems], exc.value.total


BAD = {
    "a bad value in a later batch": lambda df: df.assign(forecast=[*df["forecast"].astype(str)[:40], "x",
                                                                   *df["forecast"].astype(str)[41:]]),
    "a duplicate across batches": lambda df: pd.concat([df, df.iloc[[2]]], ignore_index=True),
    "an unknown item in a later batch": lambda df: pd.concat(
        [df, pd.DataFrame([["Z", "2025-03", 1, "consensus", 1.0]], columns=df.columns)], ignore_index=True),
    "months then weeks": lambda df: pd.concat(
        [df, pd.DataFrame([["A", "2025-W10", 1, "consensus", 1.0]], columns=df.columns)], ignore_index=True),
    "an unknown stage": lambda df: df.assign(stage=df["stage"].where(df.index != 30, "sales-ish")),
}


@pytest.mark.parametrize("what", list(BAD))
def test_a_file_with_problems_gets_the_whole_file_report_and_writes_nothing(engine, config, admin, monkeypatch, what):
    load(engine, config, admin, DEMAND, "demand", "d.csv")
    data = parquet(BAD[what](forecasts_frame()))
    expected = report(engine, config, admin, data)          # whole-file path (small file)
    monkeypatch.setattr(stream, "STREAM_ROWS", 4)
    assert stream.streamable(data, "bad.parquet", "forecasts")
    batches, values = count(engine, ImportBatch), count(engine, ForecastValue)
    assert report(engine, config, admin, data) == expected
    assert (count(engine, ImportBatch), count(engine, ForecastValue)) == (batches, values) == (batches, 0)
