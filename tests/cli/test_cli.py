"""Tests for the command line, run as `python -m kpis` in a subprocess against a temporary SQLite file."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kpis.store.engine import head_revision
from tests.dbcopy import copy_db

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "actuals_long.csv"


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SOP_PULSE_CONFIG", "DATABASE_URL", "SOP_PULSE_USER")}
    env.update(DATABASE_URL=f"sqlite:///{db}", SOP_PULSE_USER="tester", PYTHONIOENCODING="utf-8")
    return env


def _run(db: Path, *args: str, user: str | None = None) -> subprocess.CompletedProcess:
    env = _env(db)
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


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory) -> Path:
    """A SQLite file after `db upgrade`, made once per module and copied into each test (saves a subprocess)."""
    db = tmp_path_factory.mktemp("cli_template") / "x.db"
    r = _run(db, "db", "upgrade")
    assert r.returncode == 0, r.stderr
    return db


@pytest.fixture
def cli(tmp_path):
    """Run `python -m kpis ARGS` with DATABASE_URL=sqlite:///<tmp>/x.db and SOP_PULSE_USER=tester."""
    db = tmp_path / "x.db"

    def run(*args: str, user: str | None = None) -> subprocess.CompletedProcess:
        return _run(db, *args, user=user)

    run.db = db
    return run


@pytest.fixture
def migrated_cli(cli, migrated_template):
    """`cli` on a database already at the head revision."""
    copy_db(migrated_template, cli.db)  # SQLite's backup API: pages still in the -wal file come along
    return cli


def broken_config(tmp_path: Path) -> Path:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    text = text.replace('id = "otif"\n', 'id = "otif"\ncolour = "blue"\n', 1)
    text = text.replace('direction = "lower"', 'direction = "down"', 1)  # first lower-is-better KPI
    p = tmp_path / "broken.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_db_upgrade(cli):
    r = cli("db", "upgrade")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"database at revision {head_revision()}; catalog: 23 change(s)")


def test_db_current_after_upgrade(migrated_cli):
    r = migrated_cli("db", "current")
    assert (r.returncode, r.stdout.strip()) == (0, head_revision())


def test_import_sample_after_upgrade(cli):
    assert cli("db", "upgrade").returncode == 0
    r = cli("import", "actuals", str(SAMPLE))
    assert r.returncode == 0, r.stderr
    n = len((ROOT / "data" / "samples" / "actuals_long.csv").read_text().strip().splitlines()) - 1
    assert r.stdout.strip() == f"actuals_long.csv: {n} inserted, 0 updated, 0 unchanged (import #1)."


def test_import_sample_twice_reports_no_changes(migrated_cli):
    migrated_cli("import", "actuals", str(SAMPLE))
    r = migrated_cli("import", "actuals", str(SAMPLE))
    assert r.returncode == 0
    n = len((ROOT / "data" / "samples" / "actuals_long.csv").read_text().strip().splitlines()) - 1
    assert r.stdout.startswith(f"actuals_long.csv: no changes — all {n} values already stored (same content imported ")


def test_bad_file_exits_2_with_row_problems(migrated_cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("kpi,period,value\notiff,2025-01,0.91\notif,2025-02,87\notif,2025-03,0.9\n", encoding="utf-8")
    r = migrated_cli("import", "actuals", str(bad))
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "import failed, nothing was written (2 problems):",
        "bad.csv, row 2, column 'kpi': unknown KPI 'otiff' (did you mean 'otif'?)",
        "bad.csv, row 3, column 'value': value 87 is outside 0–1 for KPI 'otif' (unit %): percentages are stored "
        "as fractions, so 87 % is 0.87",
    ]
    assert r.stdout == ""


def test_actuals_of_a_kpi_computed_from_the_records_are_refused(migrated_cli, tmp_path):
    f = tmp_path / "attendance.csv"
    f.write_text("kpi,period,value\nexec_meeting_attendance,2026-10,0.853\n", encoding="utf-8")
    r = migrated_cli("import", "actuals", str(f))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "import failed, nothing was written (1 problem):",
        "attendance.csv, row 2, column 'kpi': KPI 'exec_meeting_attendance' is computed from the app's records, not "
        "imported: the meeting log (executive S&OP meetings, invited and attended people). Log or import those "
        'records instead, or set source = "import" in config.toml',
    ]


def test_bad_file_writes_nothing(migrated_cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("kpi,period,value\notif,2025-01,0.91\notif,2025-02,oops\n", encoding="utf-8")
    assert migrated_cli("import", "actuals", str(bad)).returncode == 2
    r = migrated_cli("import", "actuals", str(SAMPLE))
    assert "(import #1)" in r.stdout  # the failed file left no import batch behind


def test_missing_file_exits_2(migrated_cli, tmp_path):
    r = migrated_cli("import", "actuals", str(tmp_path / "nope.csv"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"{tmp_path / 'nope.csv'}: file not found"


def test_viewer_cannot_import(migrated_cli):
    r = migrated_cli("import", "actuals", str(SAMPLE), user="viewer")  # config.toml maps user 'viewer' to role viewer
    assert r.returncode == 2
    assert r.stderr.strip() == "viewer (viewer) may not import (import actuals); this needs the editor role"


def test_check_config_shipped_ok(cli, tmp_path):
    r = cli("check-config")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("config.toml: OK — 23 KPIs, database sqlite:///")


def test_check_config_broken_copy_lists_problems(cli, tmp_path):
    r = cli("--config", str(broken_config(tmp_path)), "check-config")
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0] == "config.toml has problems:"
    assert "  - broken.toml: KPI 'otif' field 'colour': is not a known field" in lines
    # excess_obsolete_stock is the first lower-is-better KPI in the shipped file
    assert (
        "  - broken.toml: KPI 'excess_obsolete_stock' field 'direction': Input should be 'higher', 'lower' or 'band'"
        in lines
    )
    assert len(lines) == 3


def test_demo_on_empty_database_loads(cli):
    r = cli("demo")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("demo data loaded: ")
    assert "120 items" in r.stdout


def test_second_demo_says_database_has_data(cli):
    assert cli("demo").returncode == 0
    r = cli("demo")
    assert r.returncode == 0
    assert r.stdout.strip() == "database already has data; demo data is only loaded into an empty database"


def test_demo_refuses_database_with_imported_data(migrated_cli):
    migrated_cli("import", "actuals", str(SAMPLE))
    r = migrated_cli("demo")
    assert r.stdout.strip() == "database already has data; demo data is only loaded into an empty database"


def test_help_lists_commands(cli):
    r = cli("--help")
    assert r.returncode == 0
    for cmd in ("check-config", "db", "import", "demo"):
        assert cmd in r.stdout


# ---------------------------------------------------------------- destructive commands, acting as others
def test_downgrade_needs_admin_and_yes(migrated_cli):
    r = migrated_cli("db", "downgrade", "base", user="viewer")
    assert r.returncode == 2 and "may not administer (db downgrade); this needs the admin role" in r.stderr
    r = migrated_cli("db", "downgrade", "base")
    assert r.returncode == 2 and "--yes" in r.stderr
    assert migrated_cli("db", "current").stdout.strip() != "empty (run `python -m kpis db upgrade`)"
    r = migrated_cli("db", "downgrade", "base", "--yes")
    assert r.returncode == 0, r.stderr


def test_demo_replaces_data_only_for_an_admin_with_yes(migrated_cli):
    assert migrated_cli("import", "actuals", str(SAMPLE)).returncode == 0
    r = migrated_cli("demo")
    assert r.returncode == 0 and "only loaded into an empty database" in r.stdout
    r = migrated_cli("demo", "--yes", user="viewer")
    assert r.returncode == 2 and "may not administer" in r.stderr


def test_acting_as_someone_else_needs_an_admin_login(cli, tmp_path):
    cfg = tmp_path / "config.toml"
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    cfg.write_text(text.replace('default = "admin"', 'default = "viewer"', 1), encoding="utf-8")
    r = cli("--config", str(cfg), "db", "upgrade", user="someone-else")
    assert r.returncode == 2 and "only an admin may name another user" in r.stderr


def test_backup_and_restore_round_trip(migrated_cli, tmp_path):
    assert migrated_cli("import", "actuals", str(SAMPLE)).returncode == 0
    copy = tmp_path / "copy.db"
    r = migrated_cli("backup", str(copy))
    assert r.returncode == 0, r.stderr
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    assert migrated_cli("backup", str(copy)).returncode == 2  # never overwrites
    assert migrated_cli("db", "downgrade", "base", "--yes").returncode == 0
    r = migrated_cli("restore", str(copy))
    assert r.returncode == 2 and "--yes" in r.stderr
    r = migrated_cli("restore", str(copy), "--yes")
    assert r.returncode == 0, r.stderr
    r = migrated_cli("import", "actuals", str(SAMPLE))
    assert r.returncode == 0 and "no changes" in r.stdout  # the data came back
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database")
    r = migrated_cli("restore", str(junk), "--yes")
    assert r.returncode == 2 and "not a SQLite database" in r.stderr


def test_unreachable_database_is_one_clear_line(cli):
    env_url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    r = subprocess.run(
        [sys.executable, "-m", "kpis", "db", "current"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**_env(cli.db), "DATABASE_URL": env_url},
        timeout=120,
    )
    assert r.returncode == 2
    assert r.stderr.startswith("the database could not answer (OperationalError") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_new_sqlite_file_is_private(cli):
    assert cli("db", "upgrade").returncode == 0
    assert oct(cli.db.stat().st_mode & 0o777) == "0o600"


def test_trend_command_gives_the_page_numbers(demo_db, config):
    import io

    import pandas as pd

    from kpis import series
    from kpis.catalog import trends
    from kpis.store.engine import make_engine

    db = Path(demo_db.removeprefix("sqlite:///"))
    r = _run(db, "trend", "STOCKOUT_WEEKS", "--by", "quarter", "--format", "csv")
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(io.StringIO(r.stdout), keep_default_na=False)
    assert got.columns.tolist() == [
        "period",
        "value",
        "target",
        "status",
        "partial",
        "centre",
        "lower_limit",
        "upper_limit",
        "signal",
    ]
    eng = make_engine(demo_db)
    kpi = config.kpi_by_id["stockout_weeks"]
    view = trends.trend_view(series.kpi_series(eng, config, kpi.id), kpi, cadence="quarter")
    eng.dispose()
    exp = trends.export_table(view)
    assert got["period"].tolist() == exp["period"].tolist()
    assert got["value"].astype(float).tolist() == pytest.approx(exp["value"].tolist())
    assert got["partial"].tolist() == exp["partial"].tolist() and got["partial"].iloc[-1]
    assert got["status"].iloc[-1] == "Partial period"
    r = _run(db, "trend", "otf")
    assert r.returncode == 2 and "did you mean 'otif'" in r.stderr
    r = _run(db, "trend", "otif", "--by", "week")
    assert r.returncode == 2 and "--by can be month, quarter, year" in r.stderr


def test_import_reads_the_chosen_excel_sheet(migrated_cli, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "Readme"
    wb.active.append(["This workbook holds OTIF"])
    ws = wb.create_sheet("Actuals")
    ws.append(["kpi", "period", "value"])
    ws.append(["otif", "2025-01", 0.91])
    path = tmp_path / "a.xlsx"
    wb.save(path)
    r = migrated_cli("import", "actuals", str(path))
    assert r.returncode == 2 and "the first sheet 'Readme' has no data rows; sheets with data: 'Actuals'" in r.stderr
    r = migrated_cli("import", "actuals", str(path), "--sheet", "Actuals")
    assert r.returncode == 0, r.stderr
    assert "a.xlsx (sheet 'Actuals'): 1 inserted" in r.stdout


def test_cli_csv_output_neutralises_formulas_and_quotes_line_breaks(capsys):
    import csv
    import io

    import pandas as pd

    from kpis.cli import common

    hostile = ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "ok\r=1+1", "plain"]
    common.write_csv({"item": hostile, "wape": [0.5, float("nan"), 0.25, 1.0, 0.0, 0.1, 0.2]})
    fast = list(csv.reader(io.StringIO(capsys.readouterr().out, newline="")))
    common.print_frame(pd.DataFrame({"item": hostile, "n": range(7)}), "csv")
    slow = list(csv.reader(io.StringIO(capsys.readouterr().out, newline="")))
    for rows in (fast, slow):
        cells = [r[0] for r in rows[1:]]
        assert len(rows) == 8  # the carriage return stayed inside its cell
        assert all(c.startswith("'") for c in cells[:5]) and cells[5] == "ok\r=1+1" and cells[6] == "plain"
    assert fast[2][1] == "" and fast[1][1] == "0.5" and slow[1][1] == "0"  # numbers stay numbers


def test_output_cut_short_by_head_ends_quietly(demo_db):
    """Issue 21: `python -m kpis accuracy --by period,lag --format csv | head` ended in a BrokenPipeError traceback."""
    db = Path(demo_db.removeprefix("sqlite:///"))
    p = subprocess.Popen(
        [sys.executable, "-m", "kpis", "accuracy", "--by", "period,lag", "--format", "csv"],
        cwd=ROOT,
        env=_env(db),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    first = p.stdout.read(200)  # `head` reads a little, then goes away
    p.stdout.close()
    _, err = p.communicate(timeout=300)
    assert first.startswith(b"period,lag") or b"period" in first.split(b"\n")[0]
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert err == b"" and p.returncode == 0


def test_check_config_names_a_bad_due_days(cli, tmp_path):
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    p = tmp_path / "late.toml"
    p.write_text(text.replace('id = "otif"\n', 'id = "otif"\ndue_days = -5\n', 1), encoding="utf-8")
    r = cli("--config", str(p), "check-config")
    assert r.returncode == 2
    assert (
        "  - late.toml: KPI 'otif' field 'due_days': Value error, -5 is not a whole number of days from 0 to 366 "
        "(days after the period ends)" in r.stderr.splitlines()
    )
