"""`python -m kpis maturity` and `import assessments`, run in-process against the demo and an empty database."""

from __future__ import annotations

import io

import pandas as pd

from kpis.cli import main
from kpis.config import PRACTICES

HEADER = "respondent,team,period," + ",".join(PRACTICES)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_maturity_by_period_csv_has_one_overall_row_per_quarter(demo_env, capsys):
    code, out, _ = run(capsys, "maturity", "--format", "csv")
    assert code == 0
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns) == [
        "period",
        "practice",
        "n",
        "median",
        "mean",
        "min",
        "max",
        "spread",
        "target",
        "gap",
        "dont_know",
    ]
    overall = df[df["practice"] == "overall"]
    assert len(overall) == 8 and overall["period"].is_unique
    assert overall["period"].iloc[0] == "2025-Q1"
    per_quarter = df[df["practice"] != "overall"].groupby("period")["median"].mean()
    assert overall.set_index("period")["median"].to_dict() == per_quarter.round(12).to_dict()


def test_maturity_by_period_and_team(demo_env, capsys):
    code, out, _ = run(capsys, "maturity", "--by", "period,team", "--format", "csv")
    assert code == 0
    df = pd.read_csv(io.StringIO(out))
    assert list(df.columns[:3]) == ["period", "team", "practice"] and df["team"].nunique() >= 5


def test_maturity_table_format_and_bad_by(demo_env, capsys):
    code, out, _ = run(capsys, "maturity")
    assert code == 0 and "overall" in out and "2026-Q4" in out
    code, _, err = run(capsys, "maturity", "--by", "team")
    assert code == 2 and "expected 'period' or 'period,team'" in err


def test_maturity_on_empty_database_says_what_to_do(empty_env, capsys):
    code, _, err = run(capsys, "maturity")
    assert code == 2 and "no assessments yet" in err


def test_import_assessments_then_again_then_bad_file(empty_env, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SOP_PULSE_USER", "tester")
    good = tmp_path / "survey.csv"
    good.write_text(HEADER + "\nAnn,Sales,2025-Q3," + ",".join(["3"] * 10) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "import", "assessments", str(good))
    assert code == 0 and "1 inserted" in out
    code, out, _ = run(capsys, "import", "assessments", str(good))
    assert code == 0 and "no changes" in out
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "\nBob,Sales,2025-Q3," + ",".join(["7"] * 10) + "\n", encoding="utf-8")
    code, _, err = run(capsys, "import", "assessments", str(bad))
    assert code == 2 and "nothing was written (10 problems)" in err and "bad.csv, row 2, column 'collaboration'" in err
    code, out, _ = run(capsys, "maturity", "--format", "csv")
    assert "Bob" not in out and out.count("2025-Q3") == 11
