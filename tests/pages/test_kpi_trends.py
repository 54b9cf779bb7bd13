"""KPI trends with a KPI of many segments: a search box and a short list instead of a select box holding every
segment (three million segments once put 3,000,004 options in it)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from kpis.access.users import User
from kpis.catalog.load import import_actuals
from kpis.shortlist import MAX_OPTIONS
from kpis.store.engine import make_engine, upgrade

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
SEGMENTS = 3000


def test_many_segments_are_searched_not_listed(monkeypatch, tmp_path, config):
    url = f"sqlite:///{tmp_path / 'segments.db'}"
    eng = make_engine(url)
    upgrade(eng)
    rows = "".join(f"otif,{p},0.9,SKU-{i:05d}\n" for i in range(1, SEGMENTS + 1) for p in ("2025-01", "2025-02"))
    data = ("kpi,period,value,segment\n" + rows).encode()
    import_actuals(eng, data, "segments.csv", config=config, user=User("t", "admin"))
    eng.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    monkeypatch.chdir(ROOT)

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.query_params["trend_kpi"] = "otif"
    at.switch_page("pages/kpi_trends.py").run()
    assert not at.exception
    box = at.selectbox(key="trend_segment")
    assert len(box.options) == MAX_OPTIONS  # not 3,001
    assert box.options[0] == "Total" and box.value == ""
    assert f"{MAX_OPTIONS} of {SEGMENTS + 1:,} matching segments listed" in " ".join(c.value for c in at.caption)

    at.text_input(key="trend_segment_find").input("SKU-0299").run()
    assert not at.exception
    box = at.selectbox(key="trend_segment")
    assert box.options == ["Total", *(f"SKU-0299{i}" for i in range(10))]
    box.select("SKU-02994").run()
    assert not at.exception
    assert at.selectbox(key="trend_segment").value == "SKU-02994"

    # another search keeps the chosen segment offered (and chosen)
    at.text_input(key="trend_segment_find").input("SKU-0001").run()
    assert not at.exception
    box = at.selectbox(key="trend_segment")
    assert box.value == "SKU-02994" and box.options[:2] == ["Total", "SKU-02994"]
    assert "SKU-00010" in box.options
