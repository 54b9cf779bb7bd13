"""No traceback reaches the command line: each of these ends with one clear line and exit 2 (run as `python -m kpis`
in a subprocess), and no password, in any part of a URL, is ever printed."""

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Pw"


def _run(url: str, *args: str, user: str | None = "tester") -> subprocess.CompletedProcess:
    """`python -m kpis ARGS` on this database as `user` (None: the OS login)."""
    env = {k: v for k, v in os.environ.items() if k not in ("SOP_PULSE_CONFIG", "DATABASE_URL", "SOP_PULSE_USER")}
    env.update(DATABASE_URL=url, PYTHONIOENCODING="utf-8")
    if user:
        env["SOP_PULSE_USER"] = user
    return subprocess.run(
        [sys.executable, "-m", "kpis", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )


def _one_clear_line(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "[SQL:" not in r.stderr and "[parameters:" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("cli_errors") / "x.db"
    r = _run(f"sqlite:///{db}", "db", "upgrade")
    assert r.returncode == 0, r.stderr
    return db


def test_an_unmigrated_postgresql_database_is_one_line_without_sql():
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("needs TEST_DATABASE_URL")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in url else "?"
        r = _run(f"{url}{sep}options=-csearch_path%3D{schema}", "actions")
        _one_clear_line(r, "does not exist", "python -m kpis db upgrade")
        assert "SELECT" not in r.stderr
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_an_invalid_port_is_one_line():
    r = _run(f"postgresql+psycopg://u:{SECRET}@127.0.0.1:notaport/x", "actions")
    _one_clear_line(r, "port")
    assert SECRET not in r.stderr


def test_an_unknown_driver_is_one_line():
    r = _run(f"nosuchdb://u:{SECRET}@host/x", "db", "current")
    _one_clear_line(r, "unknown driver 'nosuchdb'")
    assert SECRET not in r.stderr


def test_check_config_refuses_a_url_it_cannot_use():
    _one_clear_line(_run("nosuchdb://u@host/x", "check-config"), "unknown driver")


def test_downgrade_to_a_revision_that_does_not_exist(migrated):
    _one_clear_line(_run(f"sqlite:///{migrated}", "db", "downgrade", "0005", "--yes"), "no schema revision '0005'")


def test_backup_to_a_dangling_symlink_or_a_missing_folder(migrated, tmp_path):
    link = tmp_path / "dangling.db"
    link.symlink_to(tmp_path / "nowhere" / "target.db")
    _one_clear_line(_run(f"sqlite:///{migrated}", "backup", str(link)), "exists already")
    assert not (tmp_path / "nowhere").exists()
    _one_clear_line(_run(f"sqlite:///{migrated}", "backup", str(tmp_path / "missing" / "b.db")), "no such folder")


def test_a_corrupt_backup_is_refused(migrated, tmp_path):
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(migrated.read_bytes()[:8192])
    r = _run(f"sqlite:///{migrated}", "restore", str(corrupt), "--yes")
    _one_clear_line(r, str(corrupt))


def test_backup_needs_an_admin(migrated, tmp_path):
    cfg = tmp_path / "config.toml"
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    cfg.write_text(text.replace('default = "admin"', 'default = "viewer"', 1), encoding="utf-8")
    r = _run(f"sqlite:///{migrated}", "--config", str(cfg), "backup", str(tmp_path / "b.db"), user=None)
    _one_clear_line(r, "this needs the admin role")
    assert not (tmp_path / "b.db").exists()


def test_a_restore_of_a_newer_revision_leaves_the_database_alone(migrated, tmp_path):
    db = tmp_path / "live.db"
    db.write_bytes(migrated.read_bytes())
    url = f"sqlite:///{db}"
    saved = tmp_path / "saved.db"
    assert _run(url, "backup", str(saved)).returncode == 0
    con = sqlite3.connect(saved)
    con.execute("UPDATE alembic_version SET version_num = '0099'")
    con.commit()
    con.close()
    _one_clear_line(_run(url, "restore", str(saved), "--yes"), "0099")
    r = _run(url, "db", "current")
    assert r.returncode == 0 and r.stdout.strip() != "0099"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://sop:{SECRET}@db.invalid/sop",
        f"postgresql+psycopg://sop@db.invalid/sop?password={SECRET}",
        f"postgresql+psycopg://sop@db.invalid/sop?sslmode=disable&password={SECRET}",
        f"postgresql+psycopg://sop:{SECRET[:3]}@{SECRET[3:]}@db.invalid/sop",  # an unescaped '@' in the password
    ],
)
def test_no_password_is_printed(url):
    r = _run(url, "check-config")
    assert r.returncode == 0 and "db.invalid" in r.stdout
    r2 = _run(url, "db", "current")
    _one_clear_line(r2, "could not answer")
    for out in (r.stdout, r.stderr, r2.stdout, r2.stderr):
        assert SECRET not in out and SECRET[3:] not in out and SECRET[:3] + "@" not in out, out


def test_an_unexpected_error_is_one_line_with_the_secret_redacted(monkeypatch, capsys):
    """Whatever a command raises, the person running it sees one line (no traceback, no password); the details only
    with SOP_PULSE_DEBUG=1."""
    import kpis.cli as cli
    from kpis import redact

    redact.remember(f"postgresql+psycopg://sop:{SECRET}@db.example/sop")

    def boom(_args):
        raise RuntimeError(f"cannot go on with postgresql+psycopg://sop:{SECRET}@db.example/sop\nsecond line")

    parser = cli.build_parser()
    args = parser.parse_args(["check-config"])
    args.func = boom
    monkeypatch.setattr(cli, "build_parser", lambda: type("P", (), {"parse_args": lambda self, argv: args})())
    monkeypatch.delenv("SOP_PULSE_DEBUG", raising=False)
    assert cli.main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError" in err and "SOP_PULSE_DEBUG" in err, err
    assert SECRET not in err and "Traceback" not in err

    monkeypatch.setenv("SOP_PULSE_DEBUG", "1")
    assert cli.main([]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_an_interrupt_ends_quietly(monkeypatch, capsys):
    import kpis.cli as cli

    def stop(_args):
        raise KeyboardInterrupt

    args = cli.build_parser().parse_args(["check-config"])
    args.func = stop
    monkeypatch.setattr(cli, "build_parser", lambda: type("P", (), {"parse_args": lambda self, argv: args})())
    assert cli.main([]) == 130
    assert capsys.readouterr().err == "interrupted\n"
