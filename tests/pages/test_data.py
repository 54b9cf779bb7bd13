"""The Data page runs an import in the background with its progress and a Cancel button (issue 20): a
cancelled import writes nothing."""

from pathlib import Path

from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from kpis.access.users import User
from kpis.config import load_config
from kpis.imports import job as import_job
from kpis.store.engine import make_engine
from kpis.store.models import ImportBatch, KpiValue

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
GOOD = b"kpi,period,value\notif,2025-01,0.91\notif,2025-02,0.92\n"


def _counts(url: str) -> tuple[int, int]:
    eng = make_engine(url)
    try:
        with eng.connect() as c:
            return c.scalar(select(func.count()).select_from(KpiValue)), c.scalar(
                select(func.count()).select_from(ImportBatch)
            )
    finally:
        eng.dispose()


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/data.py").run()
    assert not at.exception
    return at


def _texts(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [w.value for w in at.warning] + [s.value for s in at.success])


def test_running_import_shows_progress_and_cancel_writes_nothing(empty_env, monkeypatch):
    """Another import holds the server's import slot, so this one is still running when Cancel is pressed."""
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    cfg = load_config(ROOT / "config.toml")
    eng = make_engine(empty_env)
    assert import_job.SLOTS.acquire(timeout=5)  # someone else's import is running
    try:
        at = _page()
        job = import_job.upload(eng, "actuals", GOOD, "big.csv", config=cfg, user=User("tester", "admin"))
        at.session_state["data_job"] = job
        at.run()
        assert not at.exception
        assert list(at.get("progress")), "a running import shows a progress bar"
        cancel = [b for b in at.button if b.key == "data_cancel"]
        assert cancel, "a running import has a Cancel button"
        cancel[0].click().run()
        assert job.wait(10) and job.cancelled
        for _ in range(5):  # the fragment sees the job ended and the page runs again with the outcome
            at.run()
            if "cancelled, nothing was written" in _texts(at):
                break
        assert "big\\.csv was not imported" in _texts(at) and "cancelled, nothing was written" in _texts(at)
        assert not [b for b in at.button if b.key == "data_cancel"]
    finally:
        import_job.SLOTS.release()
        eng.dispose()
    assert _counts(empty_env) == (0, 0)


def test_finished_import_shows_its_summary(empty_env, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    cfg = load_config(ROOT / "config.toml")
    eng = make_engine(empty_env)
    try:
        at = _page()
        job = import_job.upload(eng, "actuals", GOOD, "good.csv", config=cfg, user=User("tester", "admin"))
        assert job.wait(60) and job.error is None
        at.session_state["data_job"] = job
        at.run()
        for _ in range(3):
            if at.success:
                break
            at.run()
        assert any("2" in s.value for s in at.success)
    finally:
        eng.dispose()
    assert _counts(empty_env) == (2, 1)


def test_cancel_while_waiting_for_a_turn_and_one_import_at_a_time(empty_env):
    cfg = load_config(ROOT / "config.toml")
    eng = make_engine(empty_env)
    assert import_job.SLOTS.acquire(timeout=5)
    try:
        job = import_job.upload(eng, "actuals", GOOD, "a.csv", config=cfg, user=User("tester", "admin"))
        assert not job.wait(0.6) and job.text == "waiting for another import to finish"
        job.cancel()
        assert job.wait(5) and job.cancelled
    finally:
        import_job.SLOTS.release()
        eng.dispose()
    assert _counts(empty_env) == (0, 0)
