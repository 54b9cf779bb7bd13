"""Tests for kpis.web.startup: local mode (no sign-in) on a network address refuses to start, both as `python app.py`
and as `streamlit run app.py`, with a clear message and a non-zero exit; on loopback or with the override it serves."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kpis.web.startup import flag_value

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STREAMLIT_", "SOP_PULSE_"))}
    env.update(HOME=str(tmp_path), SOP_PULSE_USER="tester", PYTHONIOENCODING="utf-8", **extra)  # no ~/.streamlit
    return env


@pytest.mark.parametrize(
    "command",
    [
        ["app.py", "--server.address", "0.0.0.0"],
        ["app.py", "--server.address=0.0.0.0"],
        ["-m", "streamlit", "run", "app.py", "--server.address", "0.0.0.0"],
    ],
)
def test_local_mode_on_every_interface_refuses_to_start(tmp_path, command):
    r = subprocess.run(
        [sys.executable, *command, "--server.port", "8591"],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "S&OP Pulse does not start: No sign-in is configured (local mode)" in r.stderr
    assert "0.0.0.0" in r.stderr and "Traceback" not in r.stderr
    if command[0] == "app.py":  # refused before the warm-up and before Streamlit starts
        assert "You can now view" not in r.stdout


def test_an_address_from_the_environment_is_refused_too(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", "8592"],
        cwd=ROOT,
        env=_env(tmp_path, STREAMLIT_SERVER_ADDRESS="0.0.0.0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "does not start" in r.stderr, (r.stdout, r.stderr)


def test_the_override_lets_it_serve(tmp_path):
    port = 8593
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "0.0.0.0", "--server.port", str(port)],
        cwd=ROOT,
        env=_env(tmp_path, SOP_PULSE_ALLOW_NETWORK_LOCAL_MODE="yes"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "the server stopped"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_flag_value_reads_both_spellings_and_the_last_one_wins():
    assert flag_value(["--server.address", "0.0.0.0"], "server.address") == "0.0.0.0"
    assert flag_value(["--server.address=::", "--server.address", "127.0.0.1"], "server.address") == "127.0.0.1"
    assert flag_value(["--server.port", "1"], "server.address") is None
