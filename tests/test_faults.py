"""Faults: an unreachable database on every page and in the CLI, imports killed halfway, two imports of the
same file at once. Users see a clear message, never a traceback, SQL or parameters; the data stays intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from kpis.store.models import AuditEvent, DemandActual, ForecastValue, ImportBatch, Item

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
DOWN = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # nothing listens on port 1
PAGES = sorted(
    str(p.relative_to(ROOT))
    for p in (ROOT / "pages").glob("*.py")
    if not p.name.startswith("_") and "alias_page()" not in p.read_text(encoding="utf-8")
)
LEAKS = ("Traceback", "SELECT", "INSERT", "[SQL", "parameters", "psycopg.", "sqlalchemy.")


def _all_text(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "caption", "title", "info", "error", "warning", "subheader", "exception", "text", "code"):
        parts += [str(getattr(e, "value", e)) for e in getattr(at, kind)]
    return "\n".join(parts)


NO_DATABASE_NEEDED = {"pages/catalog.py"}  # shows config.toml only


def _assert_clear(at: AppTest, page: str) -> None:
    text = _all_text(at)
    assert not at.exception, (page, [e.value for e in at.exception])
    if page not in NO_DATABASE_NEEDED:
        assert any("database cannot be reached" in e.value for e in at.error), (page, text[:500])
    for leak in LEAKS:
        assert leak not in text, (page, leak)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_with_the_database_unreachable_at_start(monkeypatch, page):
    monkeypatch.setenv("DATABASE_URL", DOWN)
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(APP, default_timeout=60).run()
    _assert_clear(at, "start")
    at.switch_page(page).run()
    _assert_clear(at, page)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_when_the_database_goes_away_while_the_app_runs(demo_env, monkeypatch, page):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    monkeypatch.setenv("DATABASE_URL", DOWN)  # the schema was checked in this session; now every query fails
    at.switch_page(page).run()
    _assert_clear(at, page)


def test_a_query_failing_mid_page_shows_the_reason_without_sql_or_values(demo_env, monkeypatch):
    """The database drops a connection in the middle of a page: app.py shows the clear message; the driver's
    SQL and parameters never reach the page."""
    from sqlalchemy.exc import OperationalError

    from pages._ui import database

    def boom(*_a, **_k):
        raise OperationalError(
            "SELECT secret FROM kpi_value WHERE owner = %(p)s",
            {"p": "secret-value"},
            Exception("server closed the connection unexpectedly"),
        )

    monkeypatch.setattr(database, "data_version", boom)
    at = AppTest.from_file(APP, default_timeout=60).run()
    _assert_clear(at, "overview")
    text = _all_text(at)
    assert "server closed the connection unexpectedly" in text and "secret" not in text


# ------------------------------------------------------------------------------------------ the CLI
@pytest.mark.parametrize(
    "args",
    [
        ("db", "current"),
        ("import", "actuals", "data/samples/actuals_long.csv"),
        ("import", "forecasts", "data/samples/forecasts.csv"),
        ("accuracy",),
        ("actions",),
        ("maturity",),
    ],
)
def test_cli_with_the_database_unreachable_says_so_in_one_line(args):
    env = {k: v for k, v in os.environ.items() if k not in ("SOP_PULSE_CONFIG", "SOP_PULSE_USER")}
    env.update(DATABASE_URL=DOWN, SOP_PULSE_USER="tester")
    r = subprocess.run(
        [sys.executable, "-m", "kpis", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120
    )
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not answer" in lines[0], r.stderr[-2000:]
    for leak in LEAKS:
        assert leak not in r.stderr


# ------------------------------------------------------------------------------ killed halfway
def _db_url(engine) -> tuple[str, str | None]:
    """URL and (PostgreSQL) schema of a test engine, for a child process."""
    url = engine.url.render_as_string(hide_password=False)
    opts = engine.dialect.create_connect_args(engine.url)[1].get("options") if engine.dialect.name != "sqlite" else None
    schema = None
    if engine.dialect.name == "postgresql":
        with engine.connect() as c:
            schema = c.exec_driver_sql("SELECT current_schema()").scalar()
    del opts
    return url, schema


CHILD = r"""
import sys
sys.path.insert(0, {root!r})
from kpis.access.users import User
from kpis.config import load_config
from kpis.forecast.load import import_file
from kpis.store.engine import make_engine
schema = {schema!r}
kw = {{"connect_args": {{"options": f"-csearch_path={{schema}}"}}}} if schema else {{}}
eng = make_engine({url!r}, **kw)
cfg = load_config({cfg!r})
def progress(f, text):
    print(f"{{f:.2f}} {{text}}", flush=True)
import_file(eng, {path!r}, kind={kind!r}, config=cfg, user=User(name="tester", role="admin"), progress=progress)
print("DONE", flush=True)
"""


def _counts(engine) -> dict[str, int]:
    with engine.connect() as c:
        return {
            m.__tablename__: c.execute(select(func.count()).select_from(m)).scalar_one()
            for m in (ImportBatch, Item, DemandActual, ForecastValue, AuditEvent)
        }


def _big_files(tmp_path: Path, items: int, months: int) -> tuple[Path, Path]:
    import numpy as np
    import pandas as pd

    per = pd.period_range("2020-01", periods=months, freq="M").astype(str)
    item = np.repeat([f"SKU-{i:05d}" for i in range(items)], months)
    period = np.tile(per, items)
    demand = pd.DataFrame({"item": item, "period": period, "actual": 100.0, "family": "F"})
    dpath = tmp_path / "demand.csv"
    demand.to_csv(dpath, index=False)
    lags = [0, 1, 2, 3]
    f = pd.DataFrame(
        {
            "item": np.repeat(item, len(lags)),
            "period": np.repeat(period, len(lags)),
            "lag": np.tile(lags, len(item)),
            "stage": "consensus",
            "forecast": 90.0,
        }
    )
    fpath = tmp_path / "forecasts.csv"
    f.to_csv(fpath, index=False)
    return dpath, fpath


def test_an_import_killed_halfway_leaves_the_database_as_it_was(engine, config, admin, tmp_path):
    from kpis.forecast.load import import_file

    dpath, fpath = _big_files(tmp_path, items=2_000, months=36)  # 72,000 demand rows, 288,000 forecasts
    import_file(engine, dpath, kind="demand", config=config, user=admin)
    before = _counts(engine)
    url, schema = _db_url(engine)
    code = CHILD.format(
        root=str(ROOT), schema=schema, url=url, cfg=str(ROOT / "config.toml"), path=str(fpath), kind="forecasts"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    seen = []
    try:
        for line in child.stdout:  # wait until it is writing, then kill it without warning
            seen.append(line)
            if float(line.split()[0]) >= 0.45 and "DONE" not in line:
                os.kill(child.pid, signal.SIGKILL)
                break
    finally:
        child.wait(timeout=120)
    assert child.returncode == -signal.SIGKILL, (seen, child.stderr.read()[-2000:])
    assert not any("DONE" in s for s in seen)
    assert _counts(engine) == before  # nothing of the killed import is there
    result = import_file(engine, fpath, kind="forecasts", config=config, user=admin)  # the next import works
    assert result.inserted == 288_000
    after = _counts(engine)
    assert after["forecast"] == 288_000 and after["import_batch"] == before["import_batch"] + 1


# ------------------------------------------------------------------- two imports of one file at once
def _same_file_twice(fn) -> list:
    """Run fn() in two threads released together; each outcome is a result or the exception raised."""
    gate = threading.Barrier(2)
    out: list = [None, None]

    def run(i: int) -> None:
        gate.wait()
        try:
            out[i] = fn()
        except Exception as e:
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return out


SAMPLES = ROOT / "data" / "samples"


def _importers(engine, config, admin):
    from kpis.catalog.load import import_actuals
    from kpis.forecast.load import import_file
    from kpis.improvement.load import import_actions
    from kpis.maturity.load import import_assessments
    from kpis.sponsorship.load import import_decisions, import_meetings

    def read(name: str) -> bytes:
        return (SAMPLES / name).read_bytes()

    return [
        (
            "actuals",
            lambda: import_actuals(engine, read("actuals_long.csv"), "actuals_long.csv", config=config, user=admin),
        ),
        (
            "demand",
            lambda: import_file(
                engine, read("demand.csv"), kind="demand", config=config, user=admin, filename="demand.csv"
            ),
        ),
        (
            "forecasts",
            lambda: import_file(
                engine, read("forecasts.csv"), kind="forecasts", config=config, user=admin, filename="forecasts.csv"
            ),
        ),
        ("actions", lambda: import_actions(engine, read("actions.csv"), "actions.csv", config=config, user=admin)),
        (
            "assessments",
            lambda: import_assessments(engine, read("assessments.csv"), "assessments.csv", config=config, user=admin),
        ),
        ("meetings", lambda: import_meetings(engine, read("meetings.csv"), "meetings.csv", config=config, user=admin)),
        (
            "decisions",
            lambda: import_decisions(engine, read("decisions.csv"), "decisions.csv", config=config, user=admin),
        ),
    ]


def test_two_imports_of_the_same_file_at_once_end_correct(engine, config, admin):
    """Every importer, the same file twice at the same moment: one stores it, the other finds it stored (or
    both agree); never a UniqueViolation, never a row twice."""
    for kind, fn in _importers(engine, config, admin):
        outcomes = _same_file_twice(fn)
        errors = [o for o in outcomes if isinstance(o, Exception)]
        assert not errors, (kind, [f"{type(e).__name__}: {e}"[:300] for e in errors])
        changed = [o for o in outcomes if o.changed]
        assert len(changed) == 1, (kind, [o.summary() for o in outcomes])
        again = fn()  # and the data is the file's: a third import changes nothing
        assert not again.changed, (kind, again.summary())


# ------------------------------------------------------------------------------ private SQLite files
def test_a_new_sqlite_database_and_its_folder_are_private(tmp_path):
    from sqlalchemy import text

    from kpis.store.engine import make_engine, upgrade

    db = tmp_path / "new" / "deeper" / "pulse.db"
    eng = make_engine(f"sqlite:///{db}")
    upgrade(eng)
    with eng.begin() as c:
        c.execute(text("INSERT INTO audit_event (at, actor, action, entity) VALUES (CURRENT_TIMESTAMP, 'a', 'b', 'c')"))
        assert (db.parent / "pulse.db-wal").exists()
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in db.parent.iterdir()}
    eng.dispose()
    assert oct(db.parent.stat().st_mode & 0o777) == "0o700"
    assert oct((tmp_path / "new").stat().st_mode & 0o777) == "0o700"
    assert modes["pulse.db"] == "0o600" and modes["pulse.db-wal"] == "0o600", modes
