"""Tests for kpis.store.backup and kpis.access.backups: a restore checks the file before touching anything, keeps the
live database aside and puts it back on any failure, needs an admin and is audited, and never brings back a data
version a running cache has seen."""

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from kpis import forecast
from kpis.access.backups import backup_database, check_restore, restore_database
from kpis.access.users import NotAllowed
from kpis.catalog.load import import_actuals
from kpis.catalog.sync import sync_catalog
from kpis.forecast.cache import forecast_version
from kpis.store import audit, backup, repo
from kpis.store.engine import current_revision, head_revision, make_engine, upgrade
from kpis.store.models import AuditEvent

ACTUALS = b"kpi,period,value,segment\notif,2025-01,0.91,\notif,2025-02,0.92,\n"


def _otif(engine, config) -> float:
    t = repo.kpi_totals(engine, config, ["otif"])
    return float(t[t["period"] == "2025-02-01"]["value"].iloc[0])


def _with_otif(value: str) -> bytes:
    return ACTUALS.replace(b"0.92", value.encode())


@pytest.fixture
def live(tmp_path, config, admin):
    """A migrated SQLite database with the catalog and one import; its URL as `.url`."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sync_catalog(engine, config, admin)
    import_actuals(engine, ACTUALS, "a.csv", config=config, user=admin)
    engine.url_text = url
    yield engine
    engine.dispose()


@pytest.fixture
def good_backup(live, admin, tmp_path) -> Path:
    target = tmp_path / "good.db"
    backup_database(live, live.url_text, admin, target)
    return target


def _altered(src: Path, tmp_path: Path, name: str, *sql: str) -> Path:
    """A copy of a backup with some SQL run on it (audit triggers dropped first when the SQL needs it)."""
    out = tmp_path / name
    out.write_bytes(src.read_bytes())
    con = sqlite3.connect(out)
    try:
        for s in sql:
            con.execute(s)
        con.commit()
    finally:
        con.close()
    return out


def _live_state(engine, config):
    return current_revision(engine), _otif(engine, config), audit.data_version(engine)


def _refused(engine, config, admin, path: Path, words: str) -> None:
    before = _live_state(engine, config)
    with pytest.raises(backup.BackupError, match=words):
        restore_database(engine, engine.url_text, admin, path)
    assert _live_state(engine, config) == before  # nothing was touched


def test_a_newer_unknown_revision_is_refused_and_the_live_database_untouched(
    live, good_backup, config, admin, tmp_path
):
    bad = _altered(good_backup, tmp_path, "rev99.db", "UPDATE alembic_version SET version_num = '0099'")
    _refused(live, config, admin, bad, "revision 0099, which this version of S&OP Pulse does not know")


def test_a_file_holding_only_a_revision_is_refused(live, config, admin, tmp_path):
    only = tmp_path / "only.db"
    con = sqlite3.connect(only)
    con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    con.execute("INSERT INTO alembic_version VALUES (?)", (head_revision(),))
    con.commit()
    con.close()
    _refused(live, config, admin, only, "table audit_event is missing")


def test_a_revision_view_is_refused(live, config, admin, tmp_path):
    view = tmp_path / "view.db"
    con = sqlite3.connect(view)
    con.execute(f"CREATE VIEW alembic_version AS SELECT '{head_revision()}' AS version_num")
    con.close()
    _refused(live, config, admin, view, "is a view, not a table")


def test_dropped_audit_triggers_are_refused(live, good_backup, config, admin, tmp_path):
    bad = _altered(
        good_backup, tmp_path, "notrig.db", "DROP TRIGGER audit_event_no_update", "DROP TRIGGER audit_event_no_delete"
    )
    _refused(live, config, admin, bad, "trigger audit_event_no_delete is missing")


def test_an_extra_trigger_deleting_audit_rows_is_refused(live, good_backup, config, admin, tmp_path):
    bad = _altered(
        good_backup,
        tmp_path,
        "wipe.db",
        "CREATE TRIGGER wipe AFTER INSERT ON kpi_value BEGIN DELETE FROM import_batch; END",
    )
    _refused(live, config, admin, bad, "trigger wipe is not part of the schema")


def test_a_missing_column_or_an_extra_view_is_refused(live, good_backup, config, admin, tmp_path):
    bad = _altered(good_backup, tmp_path, "col.db", "ALTER TABLE kpi_value DROP COLUMN note")
    _refused(live, config, admin, bad, "table kpi_value lacks column")
    bad = _altered(good_backup, tmp_path, "v.db", "CREATE VIEW spy AS SELECT * FROM audit_event")
    _refused(live, config, admin, bad, "view spy is not part of the schema")


def test_a_good_backup_passes_the_check(live, good_backup, admin):
    assert check_restore(live, admin, good_backup) == head_revision()
    assert backup.check_backup(good_backup) == head_revision()


def test_a_restore_that_cannot_be_prepared_changes_nothing(live, good_backup, config, admin, tmp_path):
    import_actuals(live, _with_otif("0.50"), "b.csv", config=config, user=admin)
    live.dispose()
    before = _live_state(live, config)

    def failing(_revision, staged_url, kept):
        assert kept.is_file() and Path(staged_url.split("///", 1)[1]).is_file()
        raise RuntimeError("the disk filled up")

    with pytest.raises(backup.BackupError, match="the database was not touched"):
        backup.restore(live.url_text, good_backup, prepare=failing)
    live.dispose()
    assert _live_state(live, config) == before and _otif(live, config) == 0.50
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("live.db.")) == []  # nothing left behind


def test_the_copy_aside_is_put_back_when_the_last_step_fails(live, good_backup, config, admin, monkeypatch):
    """Fault injection: the final copy into the live database fails (a full disk, an I/O error)."""
    import_actuals(live, _with_otif("0.50"), "b.csv", config=config, user=admin)
    live.dispose()
    before = _live_state(live, config)
    real_copy = backup._copy
    live_file = backup.sqlite_path(live.url_text)

    def copy(source, target):
        if Path(target) == live_file and ".restoring-" in Path(source).name:
            real_copy(source, target)  # the new content went in ...
            raise sqlite3.OperationalError("disk I/O error")  # ... and then the disk failed
        return real_copy(source, target)

    monkeypatch.setattr(backup, "_copy", copy)
    with pytest.raises(backup.BackupError, match="put back as it was") as err:
        restore_database(live, live.url_text, admin, good_backup)
    live.dispose()
    assert _live_state(live, config) == before and _otif(live, config) == 0.50
    kept = Path(str(err.value).rsplit("kept in ", 1)[1].rstrip(")"))
    assert kept.is_file() and oct(kept.stat().st_mode & 0o777) == "0o600"


def test_a_restore_keeps_a_copy_and_is_audited(live, good_backup, config, admin):
    import_actuals(live, _with_otif("0.50"), "b.csv", config=config, user=admin)
    rev, kept = restore_database(live, live.url_text, admin, good_backup)
    assert rev == head_revision() and _otif(live, config) == 0.92
    copy = make_engine(f"sqlite:///{kept}")
    assert _otif(copy, config) == 0.50  # the database as it was before the restore
    copy.dispose()
    with live.connect() as conn:
        actions = conn.execute(select(AuditEvent.action, AuditEvent.actor).order_by(AuditEvent.id)).all()
    assert tuple(actions[-1]) == ("restore", "tester")


def test_backup_writes_an_audit_event(live, admin, tmp_path):
    backup_database(live, live.url_text, admin, tmp_path / "b.db")
    with live.connect() as conn:
        last = conn.execute(select(AuditEvent.action, AuditEvent.entity).order_by(AuditEvent.id.desc())).first()
    assert tuple(last) == ("backup", "database")


def test_backup_and_restore_need_an_admin(live, good_backup, viewer, tmp_path, config):
    editor = type(viewer)(name="ed", role="editor")
    for who in (viewer, editor):
        with pytest.raises(NotAllowed, match="backup"):
            backup_database(live, live.url_text, who, tmp_path / f"{who.name}.db")
        assert not (tmp_path / f"{who.name}.db").exists()
        with pytest.raises(NotAllowed, match="restore"):
            restore_database(live, live.url_text, who, good_backup)
        with pytest.raises(NotAllowed, match="restore"):
            check_restore(live, who, good_backup)
    with live.connect() as conn:
        denied = conn.execute(select(AuditEvent.entity).where(AuditEvent.action == "denied")).scalars().all()
    assert {"backup", "restore"} <= set(denied)


def test_backup_needs_an_admin_on_every_backend(engine, viewer, tmp_path):
    with pytest.raises(NotAllowed):
        backup_database(engine, engine.url.render_as_string(hide_password=False), viewer, tmp_path / "x.db")


def test_the_data_version_never_comes_round_again_after_a_restore(live, good_backup, config, admin):
    """162 -> restore of a backup at 160 -> 162 after one import showed the figures cached before the restore."""
    cached: dict = {}

    def figure() -> float:  # a running server's cache, keyed like the pages' on the data version
        version = audit.data_version(live)
        if version not in cached:
            cached[version] = _otif(live, config)
        return cached[version]

    seen = {audit.data_version(live)}
    import_actuals(live, _with_otif("0.50"), "b.csv", config=config, user=admin)
    assert figure() == 0.50
    seen.add(audit.data_version(live))
    restore_database(live, live.url_text, admin, good_backup)
    assert audit.data_version(live) > max(seen)
    assert figure() == 0.92
    import_actuals(live, _with_otif("0.70"), "c.csv", config=config, user=admin)
    assert audit.data_version(live) not in seen
    assert figure() == 0.70  # the re-imported value, not the one cached before the restore


def test_the_forecast_version_changes_after_a_restore(tmp_path, config, admin):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    engine = make_engine(url)
    upgrade(engine)
    forecast.clear_cache()
    demand = b"item,period,actual\nA,2024-01,1\nA,2024-02,2\n"
    forecast.import_file(engine, demand, kind="demand", config=config, user=admin, filename="d.csv")

    def forecasts(value: int, name: str) -> None:
        body = f"item,period,lag,stage,forecast\nA,2024-02,1,consensus,{value}\n".encode()
        forecast.import_file(engine, body, kind="forecasts", config=config, user=admin, filename=name)

    forecasts(2, "f.csv")
    saved = tmp_path / "saved.db"
    backup_database(engine, url, admin, saved)
    forecasts(3, "f3.csv")
    cube3 = forecast.get_cube(engine, config, audit.data_version(engine))
    v3 = forecast_version(engine)
    restore_database(engine, url, admin, saved)
    assert forecast_version(engine) > v3  # the restore moved the forecast data version on
    forecasts(4, "f4.csv")
    cube4 = forecast.get_cube(engine, config, audit.data_version(engine))
    assert cube4 is not cube3
    engine.dispose()
    forecast.clear_cache()


def test_a_backup_at_an_older_revision_is_checked_against_that_revision_and_migrated(live, config, admin, tmp_path):
    old = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(old, "0007")
    old.dispose()
    saved = tmp_path / "old-backup.db"
    backup.backup(f"sqlite:///{tmp_path / 'old.db'}", saved)
    assert backup.check_backup(saved) == "0007"
    rev, _kept = restore_database(live, live.url_text, admin, saved)
    assert rev == "0007" and current_revision(live) == head_revision()
    bad = _altered(saved, tmp_path, "old-wipe.db", "CREATE TRIGGER wipe AFTER INSERT ON kpi BEGIN SELECT 1; END")
    with pytest.raises(backup.BackupError, match="trigger wipe"):
        backup.check_backup(bad)
