"""Sponsorship configuration ([sponsorship], [[executive]]), the scorecard CLI and the migration."""

from __future__ import annotations

import datetime as dt
import io
import tomllib
from contextlib import redirect_stdout
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, text

from kpis.cli import main
from kpis.config import ConfigError, parse_config
from kpis.store.engine import downgrade, session_factory, upgrade
from kpis.store.models import Meeting

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def raw():
    return tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(raw, where="broken.toml")
    return e.value.problems


def test_shipped_config_has_executives_who_own_kpis(config):
    assert len(config.executives) >= 3
    owners = {k.owner for k in config.kpis}
    assert all(e.name in owners for e in config.executives)
    assert config.sponsorship.cycle_days == 30
    assert config.sponsorship.threshold("attendance_rate").green == 0.9


def test_defaults_when_section_missing(raw):
    raw.pop("sponsorship")
    raw.pop("executive")
    cfg = parse_config(raw)
    assert cfg.sponsorship.cycle_days == 30 and cfg.executives == ()
    assert cfg.sponsorship.threshold("pending_decisions").amber == 2


def test_every_problem_named_with_section_and_field(raw):
    raw["sponsorship"]["cycle_days"] = 0
    raw["sponsorship"]["thresholds"]["attendance_rate"] = {"green": 0.5, "amber": 0.8}  # green worse than amber
    raw["sponsorship"]["thresholds"]["pending_decisions"] = {"green": 3, "amber": 1}
    raw["executive"].append({"name": "Richard Osei", "title": "again"})
    raw["executive"].append({"title": "no name"})
    raw["executive"].append({"name": "X", "colour": "red"})
    problems = problems_of(raw)
    assert any("[sponsorship] field 'cycle_days'" in p for p in problems)
    assert any(
        "field 'thresholds.attendance_rate.green': 0.5 must be above or equal to amber (0.8)" in p for p in problems
    )
    assert any("'thresholds.pending_decisions.green': 3 must be below" in p for p in problems)
    assert any("executive #6 field 'name': 'Richard Osei' is listed twice" in p for p in problems)
    assert any("executive #7 field 'name': is required" in p for p in problems)
    assert any("executive #8 field 'colour': is not a known field" in p for p in problems)


def test_unknown_figure_refused(raw):
    raw["sponsorship"]["thresholds"]["happiness"] = {"green": 1, "amber": 0}
    assert any("unknown figure(s) ['happiness']" in p for p in problems_of(raw))


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def test_scorecard_cli_csv(demo_env, config):
    code, out = _cli("scorecard", "--quarter", "2026-Q3", "--format", "csv")
    assert code == 0
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns) == [
        "executive",
        "attendance_rate",
        "decision_latency_days",
        "pending_decisions",
        "sponsored_on_time",
        "overdue_sponsored",
        "kpis_on_target",
        "sponsorship_maturity",
    ]
    assert list(df["executive"]) == [e.name for e in config.executives]
    assert df["attendance_rate"].between(0, 1).all()
    assert df["sponsored_on_time"].isna().any()  # empty where undefined


def test_scorecard_cli_table_and_bad_quarter(demo_env, capsys):
    code, out = _cli("scorecard", "--quarter", "2026-Q3")
    assert code == 0 and "Lars Nilsson" in out
    assert main(["scorecard", "--quarter", "2026-13"]) == 2
    assert "YYYY-Qn" in capsys.readouterr().err


def test_check_config_notes_executive_without_kpis(monkeypatch, tmp_path):
    cfg = (ROOT / "config.toml").read_text(encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(cfg + '\n[[executive]]\nname = "Nobody Owns"\ntitle = "COO"\n', encoding="utf-8")
    code, out = _cli("--config", str(path), "check-config")
    assert code == 0 and "executive 'Nobody Owns' owns no KPI" in out


def test_migration_keeps_meetings_and_adds_ref(engine, admin):
    downgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO meeting (type, date, chair, created_at, created_by) "
                "VALUES ('data review', '2026-01-05', 'Maria Chen', '2026-01-05 10:00:00', 'x')"
            )
        )
    upgrade(engine)
    with session_factory(engine)() as s:
        m = s.scalars(select(Meeting)).one()
        assert (m.type, m.date, m.ref) == ("data review", dt.date(2026, 1, 5), None)
        m.ref = "DR-1"
        s.commit()
    with pytest.raises(Exception), session_factory(engine).begin() as s:  # refs are unique
        s.add(Meeting(type="data review", date=dt.date(2026, 2, 5), chair="x", ref="DR-1", created_by="x"))
