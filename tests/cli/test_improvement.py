"""`python -m kpis import actions`, `actions` and `effect` against a temporary SQLite file (in-process main())."""

import csv
import datetime as dt
import io
import json

import pytest

from kpis.cli import main
from kpis.store.engine import make_engine, upgrade

HEADER = "ref,title,kpi,segment,expected_direction,owner,sponsor,practice,type,priority,due_date,status,completed_on\n"
LOG = HEADER + (
    "CI-1,Weekly supplier call,supplier_otif,,higher,Hannah Scott,Priya Nair,partners,corrective,high,"
    "2026-03-31,done,2026-03-20\n"
    "CI-2,Clean obsolete stock,excess_obsolete_stock,,lower,Lars Nilsson,,improvement,,,2026-01-31,in progress,\n"
)


@pytest.fixture
def env(tmp_path, monkeypatch):
    db = tmp_path / "cli.db"
    eng = make_engine(f"sqlite:///{db}")
    upgrade(eng)
    eng.dispose()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    (tmp_path / "log.csv").write_text(LOG)
    return tmp_path


def test_import_then_reimport(env, capsys):
    assert main(["import", "actions", str(env / "log.csv")]) == 0
    assert "2 actions added" in capsys.readouterr().out
    assert main(["import", "actions", str(env / "log.csv")]) == 0
    assert "no changes" in capsys.readouterr().out


def test_bad_file_exits_2_with_row_and_column(env, capsys):
    (env / "bad.csv").write_text(LOG.replace("2026-03-31,done,2026-03-20", "2026-03-31,done,"))
    assert main(["import", "actions", str(env / "bad.csv")]) == 2
    err = capsys.readouterr().err
    assert "nothing was written" in err and "bad.csv, row 2, column 'completed_on'" in err
    assert main(["actions", "--format", "csv"]) == 0
    assert list(csv.DictReader(io.StringIO(capsys.readouterr().out))) == []


def test_actions_list_columns_and_overdue(env, capsys):
    main(["import", "actions", str(env / "log.csv")])
    capsys.readouterr()
    assert main(["actions", "--overdue", "--as-of", "2026-04-10", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0]) == [
        "id",
        "ref",
        "title",
        "kpi",
        "segment",
        "owner",
        "sponsor",
        "practice",
        "due_date",
        "status",
        "completed_on",
        "overdue",
        "days_overdue",
        "verdict",
    ]
    assert [(r["ref"], r["days_overdue"]) for r in rows] == [("CI-2", "69")]
    assert main(["actions", "--as-of", "2026-04-10", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["ref"]: r["verdict"] for r in rows} == {"CI-1": "too little data", "CI-2": ""}
    assert main(["actions", "--as-of", "10.04.2026"]) == 2


def test_effect_prints_every_figure(env, capsys):
    main(["import", "actions", str(env / "log.csv")])
    capsys.readouterr()
    assert main(["effect", "1", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out)[:12] == [
        "verdict",
        "n_before",
        "n_after",
        "centre",
        "lower_limit",
        "upper_limit",
        "signal_improving",
        "signal_worsening",
        "p_good",
        "p_bad",
        "median_shift",
        "explanation",
    ]
    assert out["verdict"] == "too little data" and out["frozen"] is False
    assert main(["effect", "1"]) == 0
    assert "explanation" in capsys.readouterr().out
    assert main(["effect", "2"]) == 2
    assert "no completion date" in capsys.readouterr().err
    assert main(["effect", "99"]) == 2


def test_viewer_cannot_import(env, capsys, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "viewer")
    assert main(["import", "actions", str(env / "log.csv")]) == 2
    assert "may not" in capsys.readouterr().err
    _ = dt
