"""Database sources against real servers: a table of KPI actuals in MariaDB and in PostgreSQL (each test creates its
own database or schema and drops it after), and a SQLite file. First sync, unchanged second sync, a changed value,
a bad row, a password from the environment (right and wrong), a server that is down, and read-only sessions."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, select, text

from kpis.sources.run import run_source
from kpis.store.models import KpiValue, SourceRun
from tests.conftest import make_test_engine
from tests.sources.helpers import MARIADB_URL, ROOT, ROWS, config_with, mariadb_admin, unique

PASSWORD = "S3cret-" + uuid.uuid4().hex[:8]


@pytest.fixture
def app_db(tmp_path):
    eng, cleanup = make_test_engine("sqlite", tmp_path)
    yield eng
    cleanup()


@pytest.fixture
def mariadb():
    """A database of KPI actuals and a user with a password that may read it; (url without password, user)."""
    conn = mariadb_admin()
    db, user = unique("sop_src"), unique("sop_rd")
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE `{db}`")
    cur.execute(
        f"CREATE TABLE `{db}`.kpi_actuals (kpi VARCHAR(64), period VARCHAR(10), segment VARCHAR(40), value DOUBLE)"
    )
    cur.executemany(f"INSERT INTO `{db}`.kpi_actuals VALUES (%s, %s, %s, %s)", ROWS)
    for host in ("%%", "localhost"):  # %% : the percent sign of a statement with parameters
        cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (PASSWORD,))
    for host in ("%", "localhost"):
        cur.execute(f"GRANT SELECT, INSERT ON `{db}`.* TO '{user}'@'{host}'")
    from sqlalchemy.engine import make_url

    u = make_url(MARIADB_URL)
    try:
        yield db, user, f"mysql+pymysql://{user}@{u.host}:{u.port or 3306}/{db}", cur
    finally:
        cur.execute(f"DROP DATABASE `{db}`")
        for host in ("%", "localhost"):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
        conn.close()


def values(engine) -> dict:
    with engine.connect() as c:
        return {(k, str(p)[:7]): v for k, p, v in c.execute(select(KpiValue.kpi_id, KpiValue.period, KpiValue.value))}


def source(url, **extra):
    return {"name": "erp", "kind": "actuals", "url": url, "password_env": "SOP_TEST_ERP_PW", **extra}


def test_mariadb_first_unchanged_changed_and_bad_row(app_db, mariadb, monkeypatch):
    db, _, url, cur = mariadb
    monkeypatch.setenv("SOP_TEST_ERP_PW", PASSWORD)
    cfg = config_with(source(url, table="kpi_actuals", columns={"value": "value"}))
    src = cfg.sources[0]
    first = run_source(app_db, cfg, src)
    assert (first.status, first.inserted) == ("ok", 3), first
    assert values(app_db)[("otif", "2026-05")] == 0.95
    assert run_source(app_db, cfg, src).status == "unchanged"
    cur.execute(f"UPDATE `{db}`.kpi_actuals SET value = 0.9 WHERE kpi = 'otif' AND period = '2026-06'")
    changed = run_source(app_db, cfg, src)
    assert (changed.status, changed.updated, changed.unchanged) == ("ok", 1, 2)
    assert values(app_db)[("otif", "2026-06")] == 0.9
    cur.execute(f"INSERT INTO `{db}`.kpi_actuals VALUES ('otif', '2026-07', '', 7.5)")  # 750 %: a scale error
    cur.execute(f"UPDATE `{db}`.kpi_actuals SET value = 0.5 WHERE kpi = 'fill_rate'")
    bad = run_source(app_db, cfg, src)
    assert bad.status == "refused" and bad.exit_code == 2
    assert any(p.startswith("erp: erp, row 4, column 'value'") for p in bad.problems), bad.problems
    assert values(app_db)[("fill_rate", "2026-05")] == 0.97 and ("otif", "2026-07") not in values(app_db)


def test_mariadb_query_with_renamed_columns(app_db, mariadb, monkeypatch):
    _, _, url, _ = mariadb
    monkeypatch.setenv("SOP_TEST_ERP_PW", PASSWORD)
    q = "SELECT kpi AS metric, period, segment, value AS actual FROM kpi_actuals WHERE kpi = 'otif'"
    cfg = config_with(source(url, query=q, columns={"metric": "kpi", "actual": "value"}))
    assert run_source(app_db, cfg, cfg.sources[0]).inserted == 2


def test_mariadb_session_is_read_only(app_db, mariadb, monkeypatch):
    db, _, url, cur = mariadb
    monkeypatch.setenv("SOP_TEST_ERP_PW", PASSWORD)  # the user may INSERT; the source's session may not
    cfg = config_with(source(url, query="INSERT INTO kpi_actuals VALUES ('otif', '2030-01', '', 0.5)"))
    res = run_source(app_db, cfg, cfg.sources[0])
    assert res.status == "unreachable" and "READ ONLY" in res.message.upper(), res.message
    cur.execute(f"SELECT COUNT(*) FROM `{db}`.kpi_actuals")
    assert cur.fetchone()[0] == 3


def test_a_wrong_password_is_unreachable_and_never_shown(app_db, mariadb, monkeypatch):
    _, user, url, _ = mariadb
    wrong = "Wr0ng-" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("SOP_TEST_ERP_PW", wrong)
    cfg = config_with(source(url, table="kpi_actuals"))
    res = run_source(app_db, cfg, cfg.sources[0])
    assert res.status == "unreachable" and res.exit_code == 3
    assert "Access denied" in res.message and user in res.message, res.message
    with app_db.connect() as c:
        stored = str(c.execute(select(SourceRun.problems)).scalar_one())
    assert wrong not in res.message + stored and PASSWORD not in res.message + stored


def test_cli_sync_server_down_and_wrong_password_exit_3_one_line(tmp_path, mariadb):
    _, _, url, _ = mariadb
    cfg = tmp_path / "config.toml"
    base = (ROOT / "config.toml").read_text(encoding="utf-8").replace('"data/sources/', f'"{ROOT}/data/sources/')
    cfg.write_text(
        base + f'\n[[source]]\nname = "erp"\nkind = "actuals"\nurl = "{url}"\ntable = "kpi_actuals"\n'
        'password_env = "SOP_TEST_ERP_PW"\n'
        '\n[[source]]\nname = "down"\nkind = "actuals"\nurl = "mysql+pymysql://reader@127.0.0.1:1/sales"\n'
        'table = "kpi_actuals"\ntimeout = 3\n',
        encoding="utf-8",
    )
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", "SOP_TEST_ERP_PW": "not-" + PASSWORD}
    py = [sys.executable, "-m", "kpis", "--config", str(cfg)]
    subprocess.run([*py, "db", "upgrade"], check=True, capture_output=True, cwd=ROOT, env=env)
    r = subprocess.run([*py, "sync", "down"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("down: cannot read 127.0.0.1:1/sales, table kpi_actuals: OperationalError")
    r = subprocess.run([*py, "sync", "--format", "json"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 3 and PASSWORD not in r.stdout + r.stderr, r.stderr
    import json

    rows = {row["source"]: row for row in json.loads(r.stdout)}
    assert rows["erp"]["status"] == rows["down"]["status"] == "unreachable"
    assert rows["key_customer_otif"]["status"] == "ok"  # the others still run


@pytest.fixture
def pg_schema():
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("SOP_PULSE_REQUIRE_POSTGRES"):
            pytest.fail("TEST_DATABASE_URL is not set but CI requires the PostgreSQL tests")
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    schema = unique("src")
    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
        c.execute(text(f'CREATE TABLE "{schema}".kpi_actuals (kpi text, period date, segment text, value numeric)'))
        for k, p, s, v in ROWS:
            c.execute(
                text(f'INSERT INTO "{schema}".kpi_actuals VALUES (:k, :p, :s, :v)'),
                {"k": k, "p": f"{p}-01", "s": s, "v": v},
            )
    try:
        yield url, schema, eng
    finally:
        with eng.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        eng.dispose()


def test_postgresql_table_first_unchanged_changed_and_read_only(app_db, pg_schema):
    url, schema, eng = pg_schema
    cfg = config_with({"name": "dwh", "kind": "actuals", "url": url, "table": f"{schema}.kpi_actuals"})
    src = cfg.sources[0]
    first = run_source(app_db, cfg, src)
    assert (first.status, first.inserted) == ("ok", 3), first  # dates and numerics read as text cells
    assert values(app_db)[("otif", "2026-06")] == 0.94
    assert run_source(app_db, cfg, src).status == "unchanged"
    with eng.begin() as c:
        c.execute(text(f"UPDATE \"{schema}\".kpi_actuals SET value = 0.99 WHERE kpi = 'fill_rate'"))
    assert run_source(app_db, cfg, src).updated == 1
    write = config_with(
        {"name": "dwh", "kind": "actuals", "url": url, "query": f'DELETE FROM "{schema}".kpi_actuals RETURNING *'}
    )
    res = run_source(app_db, write, write.sources[0])
    assert res.status == "unreachable" and "read-only" in res.message, res.message
    with eng.connect() as c:
        assert c.execute(text(f'SELECT COUNT(*) FROM "{schema}".kpi_actuals')).scalar() == 3


def test_sqlite_source_is_opened_read_only(app_db, tmp_path):
    path = tmp_path / "erp.db"
    eng = create_engine(f"sqlite:///{path}")
    with eng.begin() as c:
        c.execute(text("CREATE TABLE kpi_actuals (kpi TEXT, period TEXT, segment TEXT, value REAL)"))
        c.execute(text("INSERT INTO kpi_actuals VALUES ('otif', '2026-05', '', 0.95)"))
    eng.dispose()
    cfg = config_with({"name": "lite", "kind": "actuals", "url": f"sqlite:///{path}", "table": "kpi_actuals"})
    assert run_source(app_db, cfg, cfg.sources[0]).inserted == 1
    cfg = config_with(
        {"name": "lite", "kind": "actuals", "url": f"sqlite:///{path}", "query": "DELETE FROM kpi_actuals"}
    )
    res = run_source(app_db, cfg, cfg.sources[0])
    assert res.status == "unreachable" and "readonly" in res.message.replace("-", "").replace(" ", ""), res.message


def test_a_password_variable_not_set_when_the_source_runs_is_named(app_db, tmp_path, monkeypatch):
    monkeypatch.delenv("SOP_TEST_ERP_PW", raising=False)
    cfg = config_with(source(MARIADB_URL.rsplit("/", 1)[0] + "/test", table="kpi_actuals"))
    res = run_source(app_db, cfg, cfg.sources[0])
    assert res.status == "unreachable" and res.exit_code == 3
    assert res.message == "erp: environment variable SOP_TEST_ERP_PW (password_env) is not set"
