"""[[source]] tables: check-config names the source and the field of every problem."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kpis.config import ConfigError
from tests.sources.helpers import ROOT, config_with

GOOD = {"name": "erp", "kind": "actuals", "url": "mysql+pymysql://reader@db.example.com/sales", "table": "kpi_actuals"}


def problems(*sources) -> list[str]:
    with pytest.raises(ConfigError) as e:
        config_with(*sources)
    return e.value.problems


def test_a_good_database_and_a_good_folder_source_load():
    cfg = config_with(GOOD, {"name": "drop", "kind": "forecasts", "path": "/srv/drop/*.csv", "schedule": "0 6 * * *"})
    assert [s.name for s in cfg.sources] == ["erp", "drop"]
    assert cfg.sources[0].where() == "db.example.com/sales, table kpi_actuals"  # no user, no password


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"kind": "sales"}, "kind", "unknown kind 'sales'"),
        ({"path": "/srv/x.csv"}, "url", "not both"),
        ({"url": None}, "url", "one of them"),
        ({"schedule": "every day"}, "schedule", "not a cron expression"),
        ({"schedule": "61 * * * *"}, "schedule", "not a valid cron expression"),
        ({"name": "bad name!"}, "name", "letters, digits"),
        ({"query": "SELECT 1"}, "query", "either query or table"),
        ({"colour": "red"}, "colour", "not a known field"),
        ({"url": "mysql+pymysql://reader:secret@db/sales"}, "url", "holds a password"),
    ],
)
def test_each_problem_names_the_source_and_the_field(change, field, words):
    src = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    (p,) = problems(src)
    assert f"source '{src['name']}' field '{field}'" in p and words in p, p
    assert "secret" not in p


def test_a_name_declared_twice_is_refused():
    (p,) = problems(GOOD, GOOD)
    assert "source 'erp' field 'name'" in p and "twice" in p


def test_check_config_names_a_password_variable_that_is_not_set(tmp_path):
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        text + '\n[[source]]\nname = "erp"\nkind = "actuals"\nurl = "mysql+pymysql://reader@db/sales"\n'
        'table = "t"\npassword_env = "SOP_TEST_NOT_SET_PW"\n',
        encoding="utf-8",
    )
    run = [sys.executable, "-m", "kpis", "--config", str(cfg), "check-config"]
    env = {k: v for k, v in __import__("os").environ.items() if k != "SOP_TEST_NOT_SET_PW"}
    r = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "source 'erp' field 'password_env': environment variable SOP_TEST_NOT_SET_PW is not set" in r.stderr
    r = subprocess.run(run, capture_output=True, text=True, cwd=ROOT, env={**env, "SOP_TEST_NOT_SET_PW": "x"})
    assert r.returncode == 0 and "sources: key_customer_otif, erp" in r.stdout, r.stderr
