"""The warm-up `python app.py` does before serving: imports and the schema check; never fatal, never long."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from kpis import warmup

ROOT = Path(__file__).resolve().parent.parent


def test_warm_up_imports_what_the_pages_need_and_holds_no_cube(demo_db, monkeypatch):
    from kpis.forecast import cache

    monkeypatch.setenv("DATABASE_URL", demo_db)
    held = set(cache._CACHE)  # cubes other tests of this process left
    took = warmup.warm_up()
    assert set(took) == {"imports", "database"}
    assert all(name in sys.modules for name in warmup.MODULES)
    assert set(cache._CACHE) == held, "the cube is left to the first page (it maps the snapshot)"


def test_an_unreachable_database_neither_stops_nor_holds_up_the_start(monkeypatch, caplog):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    took = warmup.warm_up()
    assert "database" in took
    assert any("not prepared" in r.getMessage() for r in caplog.records)


def test_a_database_that_hangs_is_given_up_on(monkeypatch, caplog):
    monkeypatch.setattr(warmup, "_database", lambda: time.sleep(5))
    started = time.perf_counter()
    warmup.warm_up(database_timeout=0.2)
    assert time.perf_counter() - started < 3
    assert any("did not answer" in r.getMessage() for r in caplog.records)


def test_python_app_py_hands_over_to_streamlit(tmp_path):
    """`python app.py` ends in Streamlit's own command line (here its help for `run`), after the warm-up."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    out = subprocess.run(
        [sys.executable, "app.py", "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "S&OP Pulse warmed up: imports" in out.stdout and "streamlit run" in out.stdout.lower()
