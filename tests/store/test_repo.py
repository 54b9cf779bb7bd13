"""Tests for kpis.store: migrations, catalog sync and its audit, data version, repository queries, SQLite pragmas.

Tests taking `engine` run on SQLite and PostgreSQL.
"""

import dataclasses
import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kpis.catalog.load import import_actuals
from kpis.catalog.sync import sync_catalog
from kpis.config import TargetStep
from kpis.store import audit, repo
from kpis.store.engine import (
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    upgrade,
)
from kpis.store.models import AuditEvent, Kpi, KpiValue

APP_TABLES = {
    "action",
    "assessment",
    "assessment_score",
    "audit_event",
    "decision",
    "demand_actual",
    "forecast",
    "import_batch",
    "item",
    "kpi",
    "kpi_comment",
    "kpi_value",
    "meeting",
    "meeting_attendee",
    "person",
    "review",
    "review_kpi",
    "source_file",
    "source_lock",
    "source_run",
}

BASE = (
    b"kpi,period,value,segment\notif,2025-01,0.91,\notif,2025-02,0.92,\notif,2025-02,0.88,EMEA\n"
    b"fill_rate,2025-01,0.95,\n"
)


def tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def events(engine, **where) -> list[AuditEvent]:
    with Session(engine) as s:
        q = select(AuditEvent).order_by(AuditEvent.id)
        for k, v in where.items():
            q = q.where(getattr(AuditEvent, k) == v)
        return list(s.scalars(q))


def kpi_row(engine, kid: str) -> Kpi:
    with Session(engine) as s:
        return s.get(Kpi, kid)


def with_kpi(config, kid: str, **update):
    """A config copy with one KPI changed."""
    kpis = tuple(k.model_copy(update=update) if k.id == kid else k for k in config.kpis)
    return dataclasses.replace(config, kpis=kpis)


def without_kpi(config, kid: str):
    return dataclasses.replace(config, kpis=tuple(k for k in config.kpis if k.id != kid))


# ---------------------------------------------------------------- migrations


def test_migrated_database_is_at_head(engine):
    assert current_revision(engine) == head_revision()
    assert tables(engine) == APP_TABLES


def test_downgrade_to_base_removes_every_table(engine):
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert tables(engine) == set()


def test_upgrade_downgrade_upgrade_round_trip(engine, config, admin):
    downgrade(engine, "base")
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert tables(engine) == APP_TABLES
    res = import_actuals(engine, BASE, "base.csv", config=config, user=admin)
    assert res.inserted == 4


def test_upgrade_twice_is_harmless(engine):
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_foreign_keys_enforced(engine):
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(
            insert(KpiValue).values(
                kpi_id="no_such_kpi",
                segment="",
                period=dt.date(2025, 1, 1),
                value=1.0,
                created_by="x",
                created_at=dt.datetime.now(dt.UTC),
            )
        )


def test_value_key_is_unique(engine, config, admin):
    sync_catalog(engine, config, admin)
    row = dict(
        kpi_id="otif",
        segment="",
        period=dt.date(2025, 1, 1),
        value=0.9,
        created_by="x",
        created_at=dt.datetime.now(dt.UTC),
    )
    with engine.begin() as c:
        c.execute(insert(KpiValue).values(**row))
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(insert(KpiValue).values(**row))


# ---------------------------------------------------------------- SQLite pragmas


@pytest.fixture
def sqlite_engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'sub' / 'p.db'}")
    yield eng
    eng.dispose()


def pragma(engine, name: str):
    with engine.connect() as c:
        return c.execute(text(f"PRAGMA {name}")).scalar_one()


def test_sqlite_journal_mode_wal(sqlite_engine):
    assert pragma(sqlite_engine, "journal_mode") == "wal"


def test_sqlite_foreign_keys_on(sqlite_engine):
    assert pragma(sqlite_engine, "foreign_keys") == 1


def test_sqlite_busy_timeout_set(sqlite_engine):
    assert pragma(sqlite_engine, "busy_timeout") == 10000


def test_sqlite_folder_created(tmp_path, sqlite_engine):
    assert (tmp_path / "sub").is_dir()


# ---------------------------------------------------------------- catalog sync


def test_first_sync_adds_every_kpi_with_audit(engine, config, admin):
    changes = sync_catalog(engine, config, admin)
    assert len(changes) == len(config.kpis)
    assert changes[0] == f"added KPI {config.kpis[0].id}"
    created = events(engine, action="create", entity="kpi")
    assert sorted(e.entity_id for e in created) == sorted(k.id for k in config.kpis)
    assert all(e.actor == "tester" for e in created)


def test_second_sync_changes_nothing(engine, config, admin):
    sync_catalog(engine, config, admin)
    n = len(events(engine))
    assert sync_catalog(engine, config, admin) == []
    assert len(events(engine)) == n


def test_stored_definition_matches_config(engine, config, admin):
    sync_catalog(engine, config, admin)
    row = kpi_row(engine, "forecast_accuracy")
    assert (row.unit, row.direction, row.cadence, row.active) == ("%", "higher", "month", True)
    assert row.definition["target"] == [{"from": "2023-11", "value": 0.78}, {"from": "2025-01", "value": 0.82}]


def test_target_change_is_audited(engine, config, admin):
    sync_catalog(engine, config, admin)
    changed = with_kpi(config, "otif", target=0.96)
    assert sync_catalog(engine, changed, admin) == ["updated KPI otif: target"]
    (ev,) = events(engine, action="update", entity="kpi")
    assert ev.entity_id == "otif"
    assert ev.details["changed"] == {"target": {"old": 0.95, "new": 0.96}}
    assert kpi_row(engine, "otif").definition["target"] == 0.96


def test_stepping_target_change_is_audited(engine, config, admin):
    sync_catalog(engine, config, admin)
    steps = [{"from": "2023-11", "value": 0.95}, {"from": "2026-01", "value": 0.97}]
    changed = with_kpi(config, "otif", target=[TargetStep.model_validate(s) for s in steps])
    sync_catalog(engine, changed, admin)
    (ev,) = events(engine, action="update", entity="kpi")
    assert ev.details["changed"]["target"] == {"old": 0.95, "new": steps}


def test_removed_kpi_is_deactivated_not_deleted(engine, config, admin):
    sync_catalog(engine, config, admin)
    changes = sync_catalog(engine, without_kpi(config, "otif"), admin)
    assert changes == ["deactivated KPI otif (no longer in config)"]
    assert kpi_row(engine, "otif").active is False
    (ev,) = events(engine, action="deactivate")
    assert (ev.entity, ev.entity_id) == ("kpi", "otif")


def test_readded_kpi_is_reactivated(engine, config, admin):
    sync_catalog(engine, config, admin)
    sync_catalog(engine, without_kpi(config, "otif"), admin)
    assert sync_catalog(engine, config, admin) == ["updated KPI otif: reactivated"]
    assert kpi_row(engine, "otif").active is True


def test_removed_kpi_keeps_its_values(engine, config, admin):
    import_actuals(engine, BASE, "base.csv", config=config, user=admin)
    sync_catalog(engine, without_kpi(config, "otif"), admin)
    assert len(repo.load_values(engine, ["otif"], segment=None)) == 3


# ---------------------------------------------------------------- data version


def test_data_version_of_empty_database_is_zero(engine):
    assert audit.data_version(engine) == 0


def test_data_version_increases_after_each_write(engine, config, admin):
    v0 = audit.data_version(engine)
    sync_catalog(engine, config, admin)
    v1 = audit.data_version(engine)
    import_actuals(engine, BASE, "base.csv", config=config, user=admin)
    v2 = audit.data_version(engine)
    import_actuals(engine, BASE.replace(b"0.91", b"0.90"), "base2.csv", config=config, user=admin)
    v3 = audit.data_version(engine)
    sync_catalog(engine, with_kpi(config, "otif", target=0.96), admin)
    v4 = audit.data_version(engine)
    assert v0 < v1 < v2 < v3 < v4


def test_data_version_unchanged_by_noop_import(engine, config, admin):
    import_actuals(engine, BASE, "base.csv", config=config, user=admin)
    v = audit.data_version(engine)
    import_actuals(engine, BASE, "base.csv", config=config, user=admin)
    assert audit.data_version(engine) == v


def test_audit_record_in_callers_transaction(engine, admin):
    with Session(engine) as s, s.begin():
        audit.record(s, user=admin, action="create", entity="thing", entity_id=7, details={"a": 1})
    (ev,) = events(engine)
    assert (ev.actor, ev.action, ev.entity, ev.entity_id, ev.details) == ("tester", "create", "thing", "7", {"a": 1})
    assert ev.at is not None


def test_audit_record_rolled_back_with_transaction(engine, admin):
    with pytest.raises(RuntimeError), Session(engine) as s, s.begin():
        audit.record(s, user=admin, action="create", entity="thing")
        raise RuntimeError("boom")
    assert events(engine) == []


# ---------------------------------------------------------------- repository queries


@pytest.fixture
def loaded(engine, config, admin):
    import_actuals(engine, BASE, "base.csv", config=config, user=admin)
    return engine


def test_load_values_total_segment_by_default(loaded):
    df = repo.load_values(loaded)
    assert list(df.columns) == ["kpi_id", "segment", "period", "value", "note"]
    assert df[["kpi_id", "segment", "period", "value"]].values.tolist() == [
        ["fill_rate", "", pd.Timestamp("2025-01-01"), 0.95],
        ["otif", "", pd.Timestamp("2025-01-01"), 0.91],
        ["otif", "", pd.Timestamp("2025-02-01"), 0.92],
    ]


def test_load_values_all_segments(loaded):
    df = repo.load_values(loaded, ["otif"], segment=None)
    assert df[["segment", "period", "value"]].values.tolist() == [
        ["", pd.Timestamp("2025-01-01"), 0.91],
        ["", pd.Timestamp("2025-02-01"), 0.92],
        ["EMEA", pd.Timestamp("2025-02-01"), 0.88],
    ]


def test_load_values_one_segment(loaded):
    df = repo.load_values(loaded, segment="EMEA")
    assert df[["kpi_id", "value"]].values.tolist() == [["otif", 0.88]]


def test_load_values_period_is_datetime(loaded):
    assert pd.api.types.is_datetime64_any_dtype(repo.load_values(loaded)["period"])


def test_load_values_empty(engine):
    df = repo.load_values(engine)
    assert len(df) == 0 and list(df.columns) == ["kpi_id", "segment", "period", "value", "note"]


def test_segments_total_first(loaded):
    assert repo.segments(loaded, "otif") == ["", "EMEA"]


def test_current_through(loaded):
    df = repo.current_through(loaded).sort_values("kpi_id").reset_index(drop=True)
    assert df["kpi_id"].tolist() == ["fill_rate", "otif"]
    assert [pd.Timestamp(p) for p in df["last_period"]] == [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")]
    assert df["values"].tolist() == [1, 3]
    assert df["segments"].tolist() == [1, 2]
    assert df["last_change"].notna().all()


def test_import_history_newest_first(loaded, config, admin):
    import_actuals(
        loaded, BASE.replace(b"0.95", b"0.96") + b"otif,2025-03,0.93,\n", "second.csv", config=config, user=admin
    )
    h = repo.import_history(loaded)
    assert h["file"].tolist() == ["second.csv", "base.csv"]
    assert h[["rows", "inserted", "updated", "unchanged"]].values.tolist() == [[5, 1, 1, 3], [4, 4, 0, 0]]
    assert h["who"].tolist() == ["tester", "tester"]
    assert h["kind"].tolist() == ["actuals", "actuals"]


def test_import_history_limit(loaded, config, admin):
    import_actuals(loaded, BASE.replace(b"0.95", b"0.96"), "second.csv", config=config, user=admin)
    assert repo.import_history(loaded, limit=1)["file"].tolist() == ["second.csv"]


def test_find_import_by_content_hash(loaded):
    import hashlib

    found = repo.find_import(loaded, hashlib.sha256(BASE).hexdigest(), "actuals")
    assert (found["who"], found["file"]) == ("tester", "base.csv")
    assert repo.find_import(loaded, "0" * 64, "actuals") is None


def test_audit_log_newest_first_and_filtered(loaded):
    log = repo.audit_log(loaded)
    assert log["action"].iloc[0] == "import"
    assert log["id"].is_monotonic_decreasing
    assert set(repo.audit_log(loaded, entity="kpi")["action"]) == {"create"}


def test_is_empty(engine, config, admin):
    assert repo.is_empty(engine)
    sync_catalog(engine, config, admin)
    assert repo.is_empty(engine)  # a synced catalog is not data
    import_actuals(engine, BASE, "base.csv", config=config, user=admin)
    assert not repo.is_empty(engine)


# ---------------------------------------------------------------- the demo database


def test_demo_db_has_values_for_every_kpi(demo_db, config):
    eng = make_engine(demo_db)
    try:
        ct = repo.current_through(eng)
        assert set(ct["kpi_id"]) == {k.id for k in config.kpis if k.source == "import"}
        from kpis import forecast, records

        computed = forecast.computed_kpi_values(eng, config)
        assert set(computed["kpi_id"]) == {k.id for k in config.kpis if k.source == "forecast"}
        from_records = records.kpi_values(eng, config)
        assert set(from_records["kpi_id"]) == {k.id for k in config.kpis if k.source == "records"}
        with eng.connect() as c:
            assert (
                c.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "demo")).scalar_one()
                == 1
            )
    finally:
        eng.dispose()


def test_audit_log_is_append_only_in_the_database(engine, admin):
    from sqlalchemy import text

    from kpis.store import audit as audit_mod
    from kpis.store.engine import session_factory

    with session_factory(engine).begin() as s:
        audit_mod.record(s, user=admin, action="create", entity="kpi", entity_id="otif")
    for sql in ("UPDATE audit_event SET actor = 'someone else'", "DELETE FROM audit_event"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_event")).scalars().all() == ["tester"]
