"""Shared fixtures: databases (SQLite always, PostgreSQL when TEST_DATABASE_URL is set), config, users."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.dbcopy import copy_db

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Forecast cube snapshots (kpis.forecast.cache) go to a folder private to this test run.
# The demo data ends in 2026-10: late data is judged on a fixed day so the expected marks never move.
os.environ.setdefault("SOP_PULSE_TODAY", "2026-12-06")
os.environ.setdefault("SOP_PULSE_CUBE_CACHE", tempfile.mkdtemp(prefix="sop_cubes_"))

from kpis.access.users import User  # noqa: E402
from kpis.config import load_config  # noqa: E402
from kpis.store.engine import make_engine, upgrade  # noqa: E402

BACKENDS = ["sqlite", "postgresql"]


def _pg_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL")


def make_test_engine(kind: str, tmp_path: Path):
    """A migrated, empty database of the kind, and a cleanup function."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        upgrade(engine)
        return engine, engine.dispose
    url = _pg_url()
    if not url:
        if os.environ.get("SOP_PULSE_REQUIRE_POSTGRES"):
            pytest.fail("TEST_DATABASE_URL is not set but CI requires the PostgreSQL tests")
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    upgrade(engine)

    def cleanup():
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return engine, cleanup


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    """A migrated empty database; every storage test runs on SQLite and PostgreSQL."""
    eng, cleanup = make_test_engine(request.param, tmp_path)
    yield eng
    cleanup()


@pytest.fixture
def config():
    return load_config(ROOT / "config.toml")


@pytest.fixture
def admin():
    return User(name="tester", role="admin")


@pytest.fixture
def viewer():
    return User(name="watcher", role="viewer")


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory):
    """A SQLite file with the seeded demo company, built once per test session (worker)."""
    from kpis import demo

    path = tmp_path_factory.mktemp("demo") / "demo.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    cfg = load_config(ROOT / "config.toml")
    demo.load_demo(engine, cfg, User(name="demo", role="admin"), seed=7)
    engine.dispose()
    return url


@pytest.fixture
def demo_env(monkeypatch, demo_db):
    """Pages and CLI point at the demo database, acting as an admin user, from the project folder."""
    monkeypatch.setenv("DATABASE_URL", demo_db)
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    monkeypatch.chdir(ROOT)


@pytest.fixture
def empty_env(monkeypatch, tmp_path):
    """Pages point at a migrated but empty SQLite database; returns its URL."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    eng = make_engine(url)
    upgrade(eng)
    eng.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(ROOT)
    return url


@pytest.fixture(scope="session")
def hostile_db(tmp_path_factory, demo_db):
    """A copy of the demo database plus records whose every free-text field and imported name is hostile
    (tests/hostile_data.py), built once per test session (worker)."""

    from kpis import demo
    from tests.hostile_data import add_hostile

    path = tmp_path_factory.mktemp("hostile") / "hostile.db"
    copy_db(demo_db, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    add_hostile(engine, load_config(ROOT / "config.toml"), end=demo.DEMO_END)
    engine.dispose()
    return url
