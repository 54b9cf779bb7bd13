"""PostgreSQL run as a role that does not own the schema, with the grants of docs/deployment.md: the app imports and
writes as usual (big forecast loads keep per-row key checks), and it cannot change the audit log."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import text

from kpis import forecast
from kpis.catalog.load import import_actuals
from kpis.store.engine import make_engine, upgrade
from kpis.store.models import AuditEvent, ForecastValue
from tests.forecast.test_cube import DEMAND, FORECASTS

GRANTS = """
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role};
REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.audit_event FROM {role};
"""


@pytest.fixture
def app_role_engine():
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("SOP_PULSE_REQUIRE_POSTGRES"):
            pytest.fail("TEST_DATABASE_URL is not set but CI requires the PostgreSQL tests")
        pytest.skip("needs TEST_DATABASE_URL")
    tag = uuid.uuid4().hex[:10]
    schema, role = f"t_{tag}", f"sop_app_{tag}"
    owner = make_engine(url)
    with owner.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
    migrator = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    upgrade(migrator)
    migrator.dispose()
    with owner.begin() as conn:
        for stmt in GRANTS.format(schema=f'"{schema}"', role=f'"{role}"').strip().split(";\n"):
            if stmt.strip():
                conn.execute(text(stmt.strip().rstrip(";")))
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema} -crole={role}"})
    yield engine
    engine.dispose()
    with owner.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        conn.execute(text(f'DROP ROLE "{role}"'))
    owner.dispose()


def test_app_role_without_ownership_imports_and_cannot_change_the_audit_log(
    app_role_engine, config, admin, monkeypatch
):
    from kpis.forecast import bulk

    monkeypatch.setattr(bulk, "BULK_ROWS", 0)  # the big-file COPY path, which drops keys only for the owner
    with app_role_engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar().startswith("sop_app_")
    res = import_actuals(
        app_role_engine, b"kpi,segment,period,value\notif,,2026-01,0.91\n", "a.csv", config=config, user=admin
    )
    assert res.inserted == 1
    forecast.import_file(app_role_engine, DEMAND, filename="demand.csv", kind="demand", config=config, user=admin)
    res = forecast.import_file(
        app_role_engine, FORECASTS, filename="forecasts.csv", kind="forecasts", config=config, user=admin
    )
    assert res.inserted == 8
    with app_role_engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {ForecastValue.__tablename__}")).scalar() == 8
        fks = conn.execute(
            text("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'forecast'::regclass")
        ).scalar()
        assert fks == 2
    for stmt in (
        f"UPDATE {AuditEvent.__tablename__} SET actor = 'someone else'",
        f"DELETE FROM {AuditEvent.__tablename__}",
        f"TRUNCATE {AuditEvent.__tablename__}",
    ):
        with pytest.raises(Exception, match="permission denied|append-only"), app_role_engine.begin() as conn:
            conn.execute(text(stmt))
