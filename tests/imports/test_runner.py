"""One runner for every kind of import (kpis.imports.runner.run_import): a DataFrame and Arrow record batches import
alike, an identical re-import changes nothing, a refused table writes nothing and keeps what is stored, and the same
fault is worded alike in every kind."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import func, select

from kpis.imports.problems import ImportFailed
from kpis.imports.read import read_table
from kpis.imports.runner import ImportCancelled, Kind, run_import
from kpis.imports.source import Source
from kpis.store.models import AuditEvent, ImportBatch

ROOT = Path(__file__).resolve().parents[2]
# every kind in an order that satisfies what rows refer to (forecasts name items of the demand file; decisions
# name meetings)
ORDER = ["actuals", "demand", "forecasts", "actions", "assessments", "meetings", "decisions", "comments"]
SAMPLE = {
    "actuals": "actuals_long.csv",
    "demand": "demand.csv",
    "forecasts": "forecasts.csv",
    "actions": "actions.csv",
    "assessments": "assessments.csv",
    "meetings": "meetings.csv",
    "decisions": "decisions.csv",
    "comments": "comments.csv",
}


def kinds() -> dict[str, Kind]:
    from kpis.catalog.load import ACTUALS
    from kpis.commentary import COMMENTS
    from kpis.forecast.load import DEMAND, FORECASTS
    from kpis.improvement.load import ACTIONS
    from kpis.maturity.load import ASSESSMENTS
    from kpis.sponsorship.load import DECISIONS, MEETINGS

    return {
        "actuals": ACTUALS,
        "demand": DEMAND,
        "forecasts": FORECASTS,
        "actions": ACTIONS,
        "assessments": ASSESSMENTS,
        "meetings": MEETINGS,
        "decisions": DECISIONS,
        "comments": COMMENTS,
    }


def sample(kind: str, config):
    data = (ROOT / "data" / "samples" / SAMPLE[kind]).read_bytes()
    return data, read_table(data, SAMPLE[kind], max_mb=config.app.max_upload_mb)


def arrow_batches(df, parts: int = 3) -> list[pa.RecordBatch]:
    """The cells of a table (without its `_row` column) as Arrow record batches, as a data connector gives them."""
    table = pa.Table.from_pandas(df.drop(columns="_row").astype(str), preserve_index=False)
    return table.to_batches(max_chunksize=max(len(df) // parts + 1, 1))


def writes(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(ImportBatch)).scalar_one(),
            conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
        )


def test_every_kind_is_a_kind_of_the_one_runner():
    assert set(kinds()) == set(ORDER)
    for name, kind in kinds().items():
        assert isinstance(kind, Kind) and kind.name == name and kind.columns
        assert callable(kind.parse) and callable(kind.write)


def test_arrow_batches_and_a_dataframe_import_alike_in_every_kind(engine, config, admin):
    """Arrow batches (a query, a folder) import each kind; the same cells as a DataFrame then change nothing, and
    the same file imported again names the earlier import."""
    for name in ORDER:
        kind = kinds()[name]
        data, df = sample(name, config)
        batches = arrow_batches(df)
        assert len(batches) > 1
        res = run_import(engine, kind, iter(batches), Source.of_query(name, "select …"), config=config, user=admin)
        assert res.changed and res.inserted > 0 and res.batch_id, (name, res.summary())
        assert res.kind == name
        before = writes(engine)
        again = run_import(engine, kind, df, Source.of_bytes(data, SAMPLE[name]), config=config, user=admin)
        assert not again.changed and again.unchanged == res.inserted, (name, again.summary())
        assert writes(engine) == before  # nothing written, not even an import batch
        third = run_import(engine, kind, df, Source.of_bytes(data, SAMPLE[name]), config=config, user=admin)
        assert not third.changed and third.previous is None  # the unchanged import was not recorded either


def test_identical_reimport_names_the_earlier_import(engine, config, admin):
    from kpis.catalog.load import ACTUALS

    data, df = sample("actuals", config)
    first = run_import(engine, ACTUALS, df, Source.of_bytes(data, "a.csv"), config=config, user=admin)
    assert first.changed
    again = run_import(engine, ACTUALS, df, Source.of_bytes(data, "a.csv"), config=config, user=admin)
    assert not again.changed and again.previous and again.previous["who"] == admin.name
    assert "same content imported" in again.summary()


def test_a_reimport_names_a_signed_in_importer_by_name(engine, config):
    """The earlier importer is stored by key (oidc:<iss>|<sub>); the message names them as the directory does."""
    from kpis.access import people
    from kpis.access.users import User
    from kpis.catalog.load import ACTUALS

    maria = User(name="oidc:https://id.example.com|maria-1", role="editor", display="Maria Chen")
    people.record_sign_in(engine, maria)
    data, df = sample("actuals", config)
    assert run_import(engine, ACTUALS, df, Source.of_bytes(data, "a.csv"), config=config, user=maria).changed
    again = run_import(engine, ACTUALS, df, Source.of_bytes(data, "a.csv"), config=config, user=maria)
    assert again.previous["who"] == "Maria Chen" and "UTC by Maria Chen)" in again.summary()


@pytest.mark.parametrize("source", ["frame", "arrow"])
def test_a_refused_table_writes_nothing_and_keeps_what_is_stored(engine, config, admin, source):
    for name in ORDER:
        kind = kinds()[name]
        data, df = sample(name, config)
        run_import(engine, kind, df, Source.of_bytes(data, SAMPLE[name]), config=config, user=admin)
        before = writes(engine)
        broken = df.drop(columns=df.columns[1])  # the first column the kind needs is gone
        table = broken if source == "frame" else iter(arrow_batches(broken))
        with pytest.raises(ImportFailed) as exc:
            run_import(engine, kind, table, Source.of_query("broken", "select …"), config=config, user=admin)
        assert "missing column(s)" in str(exc.value), name
        assert writes(engine) == before, name
        again = run_import(engine, kind, df, Source.of_bytes(data, SAMPLE[name]), config=config, user=admin)
        assert not again.changed, (name, again.summary())  # what was stored is still there


def _message(kind_import, data: bytes, filename: str) -> str:
    with pytest.raises(ImportFailed) as exc:
        kind_import(data, filename)
    return str(exc.value)


def test_the_same_fault_is_worded_alike_in_every_kind(engine, config, admin):
    from kpis.catalog.load import import_actuals
    from kpis.forecast.load import import_file
    from kpis.maturity.load import import_assessments

    importers = {
        "actuals": lambda d, n: import_actuals(engine, d, n, config=config, user=admin),
        "forecasts": lambda d, n: import_file(engine, d, kind="forecasts", config=config, user=admin, filename=n),
        "assessments": lambda d, n: import_assessments(engine, d, n, config=config, user=admin),
    }
    faults = {
        "empty": b"",
        "blank": b"  \n ",
        "header only": b"a,b\n",
        "repeated header": b"a,A,b\n1,2,3\n",
        "values without a header": b"a,,b\n1,2,3\n",
    }
    for fault, data in faults.items():
        said = {kind: _message(imp, data, "f.csv") for kind, imp in importers.items()}
        assert len(set(said.values())) == 1, (fault, said)
    missing = {kind: _message(imp, b"nothing,useful\n1,2\n", "f.csv").split(";")[0] for kind, imp in importers.items()}
    assert all(m.startswith("f.csv, row 1: missing column(s) ") for m in missing.values()), missing


def test_a_cancelled_import_writes_nothing(engine, config, admin):
    from kpis.catalog.load import ACTUALS
    from kpis.forecast.load import DEMAND, FORECASTS

    for kind, name in ((ACTUALS, "actuals"), (DEMAND, "demand"), (FORECASTS, "forecasts")):
        data, df = sample(name, config)
        if name == "forecasts":
            run_import(engine, DEMAND, sample("demand", config)[1], Source("d.csv", "d"), config=config, user=admin)
        before = writes(engine)
        cancel = threading.Event()

        def cancelled_after_first(batches, cancel=cancel):
            for i, b in enumerate(batches):
                if i == 1:
                    cancel.set()  # the user pressed cancel while the first batch was being read
                yield b

        with pytest.raises(ImportCancelled):
            run_import(
                engine,
                kind,
                cancelled_after_first(arrow_batches(df)),
                Source.of_query(name, "select …"),
                config=config,
                user=admin,
                cancel=cancel,
            )
        assert writes(engine) == before, name
    # a DataFrame import cancelled before it commits writes nothing either
    cancel = threading.Event()
    cancel.set()
    data, df = sample("actuals", config)
    with pytest.raises(ImportCancelled):
        run_import(engine, ACTUALS, df, Source.of_bytes(data, "a.csv"), config=config, user=admin, cancel=cancel)
    assert writes(engine) == before
