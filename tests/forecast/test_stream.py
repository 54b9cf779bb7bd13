"""Big Parquet and CSV forecast files are imported batch by batch (kpis.forecast.stream) with the very results of a
whole-file import: counts, stored values, re-imports, and for files with problems the same report with nothing
written (SQLite and PostgreSQL). Batches are made tiny here so that a few rows span several."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from sqlalchemy import func, select

from kpis import forecast
from kpis.forecast import stream
from kpis.imports.problems import ImportFailed
from kpis.store.models import AuditEvent, ForecastValue, ImportBatch


@pytest.fixture(autouse=True)
def no_cube_snapshots(monkeypatch):
    monkeypatch.setenv("SOP_PULSE_CUBE_CACHE", "off")


DEMAND = (
    "item,period,actual,family\n"
    + "".join(f"{it},2025-{m:02d},{10 * m + i},F{i}\n" for i, it in enumerate("ABC") for m in range(1, 7))
).encode()


def forecasts_frame() -> pd.DataFrame:
    rows = [
        (it, f"2025-{m:02d}", lag, stage, float(m * 10 + i + lag))
        for i, it in enumerate("ABC")
        for m in range(2, 7)
        for lag in (1, 2)
        for stage in ("statistical", "consensus")
    ]
    return pd.DataFrame(rows, columns=["item", "period", "lag", "stage", "forecast"])


def parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def csv(df: pd.DataFrame, sep: str = ",") -> bytes:
    return df.to_csv(index=False, sep=sep).encode()


ENCODE = {"parquet": parquet, "csv": csv}


def load(engine, config, admin, data: bytes, kind: str, name: str):
    return forecast.import_file(engine, data, kind=kind, config=config, user=admin, filename=name)


def stored(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                ForecastValue.item_id,
                ForecastValue.period,
                ForecastValue.lag,
                ForecastValue.stage,
                ForecastValue.forecast,
            )
        ).all()
    return pd.DataFrame(rows, columns=["item_id", "period", "lag", "stage", "forecast"]).sort_values(
        ["item_id", "period", "lag", "stage"], ignore_index=True
    )


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.mark.parametrize("fmt", list(ENCODE))
def test_streamed_import_stores_what_a_whole_file_import_stores(engine, config, admin, monkeypatch, fmt):
    load(engine, config, admin, DEMAND, "demand", "d.csv")
    df = forecasts_frame()
    parquet, ext = ENCODE[fmt], fmt  # (named for the Parquet case this test began with)
    assert not stream.streamable(parquet(df), f"f.{ext}", "forecasts")  # small files: the whole-file path
    monkeypatch.setattr(stream, "STREAM_ROWS", 4)
    assert stream.streamable(parquet(df), f"f.{ext}", "forecasts")
    calls = []
    real = stream.import_streamed
    monkeypatch.setattr(stream, "import_streamed", lambda *a, **k: calls.append(1) or real(*a, **k))
    res = load(engine, config, admin, parquet(df), "forecasts", f"f.{ext}")
    assert calls and (res.inserted, res.updated, res.unchanged) == (60, 0, 0) and res.batch_id
    got = stored(engine)
    assert len(got) == 60 and sorted(got["forecast"]) == sorted(df["forecast"])
    # the same file again: nothing written, said so
    batches = count(engine, ImportBatch)
    again = load(engine, config, admin, parquet(df), "forecasts", f"again.{ext}")
    assert not again.changed and again.unchanged == 60 and "same content imported" in again.summary()
    assert count(engine, ImportBatch) == batches
    # one value changed, one row added: counted, stored, audited with old and new value
    df2 = df.copy()
    df2.loc[7, "forecast"] += 1.5
    df2 = pd.concat(
        [df2, pd.DataFrame([["A", "2025-07", 1, "consensus", 99.0]], columns=df.columns)], ignore_index=True
    )
    res2 = load(engine, config, admin, parquet(df2), "forecasts", f"f2.{ext}")
    assert (res2.inserted, res2.updated, res2.unchanged) == (1, 1, 59)
    assert "1 inserted, 1 updated, 59 unchanged" in res2.summary()
    got = stored(engine)
    assert len(got) == 61 and df2.loc[7, "forecast"] in set(got["forecast"])
    with engine.connect() as conn:
        details = conn.execute(
            select(AuditEvent.details).where(AuditEvent.entity_id == str(res2.batch_id))
        ).scalar_one()
        batch = conn.execute(
            select(ImportBatch.inserted, ImportBatch.updated, ImportBatch.unchanged).where(
                ImportBatch.id == res2.batch_id
            )
        ).one()
    assert tuple(batch) == (1, 1, 59)
    [change] = details["changed_values"]
    assert change["item"] == df2.loc[7, "item"] and change["new"] == df2.loc[7, "forecast"]
    assert change["old"] == df.loc[7, "forecast"] and change["stage"] == df2.loc[7, "stage"]
    cube = forecast.get_cube(engine, config, forecast.forecast_version(engine))
    assert cube.accuracy([], stage="consensus").iloc[0]["n"] > 0


def report(engine, config, admin, data: bytes, name: str = "bad.parquet") -> tuple[list, int]:
    with pytest.raises(ImportFailed) as exc:
        load(engine, config, admin, data, "forecasts", name)
    return [(p.row, p.column, p.message) for p in exc.value.problems], exc.value.total


BAD = {
    "a bad value in a later batch": lambda df: df.assign(
        forecast=[*df["forecast"].astype(str)[:40], "x", *df["forecast"].astype(str)[41:]]
    ),
    "a duplicate across batches": lambda df: pd.concat([df, df.iloc[[2]]], ignore_index=True),
    "an unknown item in a later batch": lambda df: pd.concat(
        [df, pd.DataFrame([["Z", "2025-03", 1, "consensus", 1.0]], columns=df.columns)], ignore_index=True
    ),
    "months then weeks": lambda df: pd.concat(
        [df, pd.DataFrame([["A", "2025-W10", 1, "consensus", 1.0]], columns=df.columns)], ignore_index=True
    ),
    "an unknown stage": lambda df: df.assign(stage=df["stage"].where(df.index != 30, "sales-ish")),
}


def _csv_with(df: pd.DataFrame, at: int, line: bytes) -> bytes:
    """The CSV of `df` with `line` put in as file line `at` (the header is line 1)."""
    lines = csv(df).splitlines(keepends=True)
    return b"".join([*lines[: at - 1], line, *lines[at - 1 :]])


CSV_BAD = {  # what only a CSV file can get wrong, in a later batch
    "a row with a cell too many": lambda df: _csv_with(df, 40, b"A,2025-03,1,consensus,1.0,extra\n"),
    "a byte that is not UTF-8": lambda df: _csv_with(df, 40, b"A,2025-03,1,consensus,1\xe9\n"),
    "a blank line before a bad value": lambda df: _csv_with(df, 30, b"\n").replace(b"consensus,64.0", b"consensus,x"),
}


@pytest.mark.parametrize("what,fmt", [*((w, f) for w in BAD for f in ENCODE), *((w, "csv-only") for w in CSV_BAD)])
def test_a_file_with_problems_gets_the_whole_file_report_and_writes_nothing(
    engine, config, admin, monkeypatch, what, fmt
):
    load(engine, config, admin, DEMAND, "demand", "d.csv")
    data = CSV_BAD[what](forecasts_frame()) if fmt == "csv-only" else ENCODE[fmt](BAD[what](forecasts_frame()))
    name = "bad.parquet" if fmt == "parquet" else "bad.csv"
    expected = report(engine, config, admin, data, name)  # whole-file path (small file)
    monkeypatch.setattr(stream, "STREAM_ROWS", 4)
    assert stream.streamable(data, name, "forecasts")
    batches, values = count(engine, ImportBatch), count(engine, ForecastValue)
    assert report(engine, config, admin, data, name) == expected
    assert (count(engine, ImportBatch), count(engine, ForecastValue)) == (batches, values) == (batches, 0)


def test_a_streamed_csv_reads_like_a_whole_one_bom_semicolons_and_blank_lines(engine, config, admin, monkeypatch):
    """A CSV saved by a spreadsheet in a ';' locale, with a byte-order mark and blank lines: read in chunks as it is
    whole (the blank lines left out and not counted), with the rows it holds on record."""
    load(engine, config, admin, DEMAND, "demand", "d.csv")
    df = forecasts_frame()
    body = csv(df, sep=";").replace(b".0\n", b",0\n").splitlines(keepends=True)  # decimal commas
    data = b"\xef\xbb\xbf" + b"".join([*body[:10], b"\n", *body[10:33], b";;;;\n", *body[33:], b"\n"])
    monkeypatch.setattr(stream, "STREAM_ROWS", 4)
    assert stream.streamable(data, "f.csv", "forecasts")
    calls = []
    real = stream.import_streamed
    monkeypatch.setattr(stream, "import_streamed", lambda *a, **k: calls.append(1) or real(*a, **k) or calls.append(0))
    res = load(engine, config, admin, data, "forecasts", "f.csv")
    assert calls == [1] and (res.rows, res.inserted, res.updated, res.unchanged) == (60, 60, 0, 0)
    with engine.connect() as conn:
        assert conn.execute(select(ImportBatch.rows_in_file).where(ImportBatch.id == res.batch_id)).scalar_one() == 60
    assert sorted(stored(engine)["forecast"]) == sorted(df["forecast"])


@pytest.mark.parametrize("fmt", list(ENCODE))
def test_a_big_file_named_on_the_command_line_streams_from_disk(engine, config, admin, monkeypatch, tmp_path, fmt):
    """A path is read a block or a batch at a time, never whole; a path with a problem is then read whole and
    reported as always."""
    load(engine, config, admin, DEMAND, "demand", "d.csv")
    df = forecasts_frame()
    path = tmp_path / f"f.{fmt}"
    path.write_bytes(ENCODE[fmt](df))
    monkeypatch.setattr(stream, "STREAM_ROWS", 4)
    monkeypatch.setattr(stream, "BLOCK", 64)  # many blocks: counting lines across their edges
    assert stream.streamable(path, path.name, "forecasts")
    assert stream.digest(path) == stream.digest(path.read_bytes())
    assert stream.row_estimate(path, path.name) == stream.row_estimate(path.read_bytes(), path.name) == 60
    read_whole = []
    real = type(path).read_bytes
    monkeypatch.setattr(type(path), "read_bytes", lambda self: read_whole.append(self) or real(self))
    res = forecast.import_file(engine, path, kind="forecasts", config=config, user=admin)
    assert (res.inserted, res.rows) == (60, 60) and not read_whole
    bad = tmp_path / f"bad.{fmt}"
    bad.write_bytes(ENCODE[fmt](BAD["a bad value in a later batch"](df)))
    with pytest.raises(ImportFailed) as exc:
        forecast.import_file(engine, bad, kind="forecasts", config=config, user=admin)
    assert read_whole == [bad] and exc.value.problems[0].row == 42 - (fmt == "parquet")
    with pytest.raises(ImportFailed, match="file not found"):
        forecast.import_file(engine, tmp_path / "nowhere.csv", kind="forecasts", config=config, user=admin)


ODD_CSV = {  # found by review: each must get exactly the whole-file result, never a traceback or a silent import
    "old Mac line ends (a lone CR)": lambda data: data.replace(b"\n", b"\r"),
    "a blank first line": lambda data: b"\n" + data,
    "every row one cell more than the header (a row-name column)": lambda data: b"".join(
        line if i == 0 else f"r{i},".encode() + line for i, line in enumerate(data.splitlines(keepends=True))
    ),
    "only blank rows after the header": lambda data: data.splitlines(keepends=True)[0] + b"\n" * 70,
}


@pytest.mark.parametrize("what", list(ODD_CSV))
def test_odd_csv_files_get_the_whole_file_result(engine, config, admin, monkeypatch, what):
    load(engine, config, admin, DEMAND, "demand", "d.csv")
    data = ODD_CSV[what](csv(forecasts_frame()))

    def outcome():
        try:
            res = load(engine, config, admin, data, "forecasts", "odd.csv")
        except ImportFailed as exc:
            return "refused", [(p.row, p.column, p.message) for p in exc.problems]
        return "imported", (res.rows, res.inserted, res.updated, res.unchanged)

    whole = outcome()  # small: the whole-file path
    if whole[0] == "imported":  # start again from no forecasts
        with engine.begin() as conn:
            conn.execute(ForecastValue.__table__.delete())
    monkeypatch.setattr(stream, "STREAM_ROWS", 4)
    assert outcome() == whole
