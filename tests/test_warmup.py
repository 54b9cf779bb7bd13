"""The warm-up `python app.py` does before serving: imports, schema check and the cube's snapshot; never fatal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kpis import warmup

ROOT = Path(__file__).resolve().parent.parent


def test_warm_up_imports_and_maps_the_cube(demo_db, monkeypatch, tmp_path):
    from kpis import forecast

    monkeypatch.setenv("DATABASE_URL", demo_db)
    monkeypatch.setenv("SOP_PULSE_CUBE_CACHE", str(tmp_path))
    took = warmup.warm_up()
    assert set(took) == {"imports", "database and cube"}
    assert "scipy.stats" in sys.modules and "alembic.runtime.migration" in sys.modules
    assert list(tmp_path.glob("*")), "the cube's snapshot is written for the server to map"
    assert not forecast.cache._CACHE, "the warm-up holds no cube of its own"


def test_warm_up_never_stops_the_server(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    took = warmup.warm_up()                     # an unreachable database: logged, the pages explain it
    assert "database and cube" in took
    assert any("not prepared" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("args", [["--help"]])
def test_python_app_py_hands_over_to_streamlit(args):
    """`python app.py` ends in Streamlit's own command line (here its help), after the warm-up."""
    out = subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "S&OP Pulse warmed up: imports" in out.stdout and "streamlit run" in out.stdout.lower()
