"""Fast paths of the forecast cube.

Big SQLite reads go through Apache Arrow's SQLite driver (ADBC) in a reader process, in parallel rowid ranges
(kpis.forecast.sql._arrow_fetch): they must return exactly what the sqlite3 module returns, bind every value, fall
back when the driver cannot answer, never load a second SQLite into the app's process, and never mix two moments of
the data in one cube. The pre-aggregates of a big cube and the FVA's matched sums are summed on several threads:
the same as one."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.pool import StaticPool

from kpis import forecast
from kpis.forecast import cache as cube_cache
from kpis.forecast import sql as fsql
from tests.forecast.test_stream import DEMAND, forecasts_frame, load, parquet


@pytest.fixture(autouse=True)
def no_cube_snapshots(monkeypatch):
    monkeypatch.setenv("SOP_PULSE_CUBE_CACHE", "off")
    cube_cache.clear_cache()
    yield
    cube_cache.clear_cache()


@pytest.fixture
def arrow_always(monkeypatch):
    """The Arrow path for every table size, with more readers than rows in some ranges."""
    monkeypatch.setattr(fsql, "_ARROW_MIN_ROWS", 0)
    monkeypatch.setattr(fsql, "_reader_count", lambda: 3)


def _loaded(engine, config, admin) -> None:
    load(engine, config, admin, DEMAND, "demand", "d.csv")
    load(engine, config, admin, parquet(forecasts_frame()), "forecasts", "f.parquet")


def _read(engine, table, stages, where="", params=None):
    with engine.connect() as conn:
        k, v = fsql.fetch_keys(conn, table, stages, where, params)
    order = np.argsort(k)
    return k[order], v[order]


def _sqlite_only(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("the Arrow read is the SQLite path (PostgreSQL reads by binary COPY)")


@pytest.mark.parametrize("layout", ["without rowid", "rowid"])
def test_arrow_read_returns_what_sqlite3_returns(engine, config, admin, arrow_always, monkeypatch, layout):
    """Ranges of item_id on the tables stored in primary-key order (migration 0008), of rowid on the earlier ones."""
    _sqlite_only(engine)
    if layout == "rowid":
        from kpis.store.engine import downgrade

        downgrade(engine, "0007")
    _loaded(engine, config, admin)
    with engine.connect() as conn:
        ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'forecast'").scalar()
    assert ddl.rstrip().endswith("WITHOUT ROWID") == (layout == "without rowid")
    stages = ["statistical", "consensus"]
    cases = [
        ("forecast", stages, "", None),
        # a stage name that would break SQL if it were not bound
        (
            "forecast",
            ["consensus", 'it\'s "odd"; DROP TABLE forecast --'],
            "period BETWEEN ? AND ? AND lag = ?",
            ["2025-03-01", "2025-05-01", 2],
        ),
        ("demand_actual", None, "", None),
    ]
    used = []
    real = fsql._arrow_fetch

    def spy(*a, **kw):
        got = real(*a, **kw)
        used.append(got is not None)
        return got

    monkeypatch.setattr(fsql, "_arrow_fetch", spy)
    fast = [_read(engine, *c) for c in cases]
    assert used == [True, True, True]  # the Arrow path answered every read
    monkeypatch.setattr(fsql, "_arrow_fetch", lambda *a, **kw: None)
    slow = [_read(engine, *c) for c in cases]
    for (fk, fv), (sk, sv) in zip(fast, slow, strict=True):
        assert len(fk) > 0
        assert fk.dtype == np.int64 and fv.dtype == np.float64
        np.testing.assert_array_equal(fk, sk)
        np.testing.assert_array_equal(fv, sv)  # bit for bit
    # three items x three periods in range at lag 2, of two stages: consensus (index 0), statistical (not listed: 63)
    assert sorted(np.unique(fast[1][0] & 63, return_counts=True)[1]) == [9, 9]
    assert set(np.unique(fast[1][0] & 63)) == {0, 63}


def test_cube_is_the_same_whichever_path_reads_it(engine, config, admin, arrow_always, monkeypatch):
    _sqlite_only(engine)
    _loaded(engine, config, admin)
    fast = forecast.get_cube(engine, config, forecast.forecast_version(engine))
    cube_cache.clear_cache()
    monkeypatch.setattr(fsql, "_arrow_fetch", lambda *a, **kw: None)
    slow = forecast.get_cube(engine, config, forecast.forecast_version(engine))
    assert fast is not slow
    assert fast.stages == slow.stages
    for by in (["period", "lag"], ["stage"], ["family"]):
        pd.testing.assert_frame_equal(fast.accuracy(by, lag=None), slow.accuracy(by, lag=None))


def test_the_app_process_never_loads_a_second_sqlite(engine, config, admin, arrow_always):
    """The driver carries its own copy of SQLite; in the process of the sqlite3 module the two would not see each
    other's file locks and one would reset the other's write-ahead-log index (a crash, or a corrupt database).
    It runs in a reader process of its own."""
    _sqlite_only(engine)
    _loaded(engine, config, admin)
    assert fsql.load_raw(engine, config) is not None
    with open("/proc/self/maps") as maps:
        loaded = maps.read()
    assert "libadbc_driver_sqlite" not in loaded
    assert "kpis.forecast.arrow_reader" not in sys.modules


def test_without_the_driver_the_sqlite3_module_reads(engine, config, admin, arrow_always, monkeypatch):
    _sqlite_only(engine)
    _loaded(engine, config, admin)
    expected = _read(engine, "forecast", ["statistical", "consensus"])
    monkeypatch.setattr(fsql, "_driver_installed", lambda: False)
    with engine.connect() as conn:
        assert fsql._arrow_fetch(conn, "forecast", "SELECT 1 AS k, 2 AS v FROM forecast", [], False) is None
    got = _read(engine, "forecast", ["statistical", "consensus"])
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_small_tables_and_databases_in_memory_use_sqlite3(config, admin, tmp_path):
    from kpis.store.engine import make_engine, upgrade

    eng = make_engine("sqlite://", poolclass=StaticPool)
    upgrade(eng)
    assert not (tmp_path.cwd() / "sqlite:").exists()  # an in-memory URL creates no file
    with eng.connect() as conn:
        assert fsql._sqlite_file(conn) is None
    eng.dispose()
    eng = make_engine(f"sqlite:///{tmp_path / 'small.db'}")
    upgrade(eng)
    _loaded(eng, config, admin)
    with eng.connect() as conn:
        assert fsql._sqlite_file(conn) == str(tmp_path / "small.db")
        # 72 forecast rows: far below the size where the Arrow read pays
        assert fsql._arrow_fetch(conn, "forecast", "SELECT 1 AS k, 2 AS v FROM forecast", [], False) is None
    eng.dispose()


def test_a_commit_between_the_reads_is_read_again(engine, config, admin, monkeypatch):
    """The parallel readers each see their own moment: when the data version moved while reading, the arrays are
    read again (up to three times), so a cube never mixes two imports."""
    _loaded(engine, config, admin)
    real = fsql._read_raw
    versions = iter([(1, 2), (2, 2)])
    calls = []

    def moving(engine_, config_):
        before, after, raw = real(engine_, config_)
        b, a = next(versions)
        calls.append((b, a))
        return b, a, raw

    monkeypatch.setattr(fsql, "_read_raw", moving)
    assert fsql.load_raw(engine, config) is not None
    assert calls == [(1, 2), (2, 2)]


def test_threaded_pre_aggregates_equal_one_thread(engine, config, admin, monkeypatch):
    """The (stage, lag) slices of the pre-aggregates are summed on several threads for big data: the very same
    arrays as one thread."""
    from kpis.forecast import cube as cube_module
    from kpis.forecast import cube_terms

    _loaded(engine, config, admin)
    monkeypatch.setattr(cube_terms, "_PARALLEL_CELLS", 0)
    monkeypatch.setattr(cube_terms, "_BUILD_THREADS", 4)
    monkeypatch.setattr(cube_terms.os, "cpu_count", lambda: 4)
    threaded = cube_module.ForecastCube(fsql.load_raw(engine, config), config)
    monkeypatch.setattr(cube_terms, "_BUILD_THREADS", 1)
    single = cube_module.ForecastCube(fsql.load_raw(engine, config), config)
    assert len(threaded.stages) * len(threaded.lags) > 1
    np.testing.assert_array_equal(threaded.K, single.K)
    np.testing.assert_array_equal(threaded.Q, single.Q)
    one = single.fva(["family"], lag=None)  # the matched sample's sums, one lag per thread
    monkeypatch.setattr(cube_terms, "_BUILD_THREADS", 4)
    pd.testing.assert_frame_equal(single.fva(["family"], lag=None), one)
    assert len(single.lags) > 1


def test_big_sqlite_load_restores_its_pragmas_and_checkpoints(engine, config, admin, monkeypatch):
    """A big SQLite load turns off per-row foreign-key checks and the checkpoint at commit for its transaction only,
    and its log is copied into the database file while the accuracy views are prepared."""
    _sqlite_only(engine)
    from kpis.forecast import bulk
    from kpis.forecast import load as load_module

    monkeypatch.setattr(bulk, "BULK_ROWS", 10)
    monkeypatch.setattr(load_module, "BULK_ROWS", 10)
    started = []
    real = bulk.checkpoint_later

    def spy(engine_):
        started.append(True)
        return real(engine_)

    monkeypatch.setattr(load_module, "checkpoint_later", spy)
    _loaded(engine, config, admin)
    assert started  # the demand and forecast loads each started one
    with engine.connect() as conn:  # the pooled connection the loads used
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        busy, log, done = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and log == done  # nothing left in the log that is not in the database file
