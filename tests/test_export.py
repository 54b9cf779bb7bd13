"""Downloads neutralise spreadsheet formulas in text cells and keep numbers as numbers."""

import io

import pandas as pd

from kpis import export


def test_formula_cells_get_an_apostrophe_and_numbers_stay():
    df = pd.DataFrame(
        {
            "text": ['=HYPERLINK("x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain", None],
            "value": [-1.5, 2, 3, 4, 5, 6, 7, 8],
        }
    )
    out = export.neutralise(df)
    assert out["text"].tolist()[:7] == ['\'=HYPERLINK("x")', "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "plain"]
    assert out["value"].tolist() == df["value"].tolist()
    assert df["text"].iloc[0].startswith("=")  # the input is not changed


def test_csv_and_excel_downloads_are_neutralised():
    df = pd.DataFrame({"comment": ["=1+1"], "n": [3]})
    assert export.csv_bytes(df).decode() == "comment,n\r\n'=1+1,3\r\n"
    back = pd.read_excel(io.BytesIO(export.excel_bytes(df, "maturity")), sheet_name="maturity")
    assert back.loc[0, "comment"] == "'=1+1" and back.loc[0, "n"] == 3


# ------------------------------------------------------------------ every download, every exporter
import ast  # noqa: E402
from pathlib import Path  # noqa: E402

import openpyxl  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ['=HYPERLINK("http://x","y")', "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1", "plain"]
SAFE = ['\'=HYPERLINK("http://x","y")', "'+1+1", "'-1+1", "'@SUM(A1)", "'\t=1", "'\r=1", "plain"]
# What a page may hand to st.download_button: an exporter of kpis that neutralises formulas, a Markdown
# document, or a shipped sample file.
ALLOWED = (
    "export.csv_bytes(",
    "export.excel_bytes(",
    "export.to_excel(",
    "portfolio_xlsx(",
    "windows.csv_bytes(",
    "export.review_markdown(",
    "f.read_bytes()",
)


def _downloads() -> list[tuple[str, str]]:
    out = []
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]:  # pages/_ui/ too
        src = path.read_text(encoding="utf-8")
        tree = ast.parse(src)
        assigned = {
            t.id: ast.get_source_segment(src, node.value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        # A file made on click is a function handed to the button: every definition of that name must return an
        # exporter's bytes.
        defs: dict[str, list[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                returns = [
                    ast.get_source_segment(src, r.value)
                    for r in ast.walk(node)
                    if isinstance(r, ast.Return) and r.value is not None
                ]
                defs.setdefault(node.name, []).append(" ".join(returns) if returns else "")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "download_button":
                arg = node.args[1] if len(node.args) > 1 else next(k.value for k in node.keywords if k.arg == "data")
                text = ast.get_source_segment(src, arg)
                if isinstance(arg, ast.Name) and arg.id in defs:
                    out += [(f"{path.name}:{node.lineno}", body) for body in defs[arg.id]]
                    continue
                if isinstance(arg, ast.Name):
                    text = assigned.get(arg.id, text)
                out.append((f"{path.name}:{node.lineno}", text))
    return out


def test_every_download_button_goes_through_a_neutralising_exporter():
    found = _downloads()
    assert len(found) >= 8
    bad = [(where, text) for where, text in found if not any(a in text for a in ALLOWED)]
    assert not bad, bad


def test_a_carriage_return_inside_a_cell_cannot_start_a_new_csv_row():
    got = export.csv_bytes(pd.DataFrame({"note": ["x\r=1+1", "y\n@SUM(A1)"], "n": [1, 2]}))
    lines = got.decode().split("\r\n")
    assert lines[1] == '"x\r=1+1",1' and lines[2] == '"y\n@SUM(A1)",2'
    assert _csv_cells(got)["note"].tolist() == ["x\r=1+1", "y\n@SUM(A1)"]


def _csv_cells(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype=str)


def _xlsx_cells(data: bytes) -> list[list]:
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return [[c.value for c in row] for row in ws.iter_rows()]


@pytest.mark.parametrize("exporter", ["kpis.export.csv_bytes", "kpis.forecast.windows.csv_bytes"])
def test_csv_exporters_neutralise_every_formula_start_and_keep_numbers(exporter):
    import importlib

    mod, fn = exporter.rsplit(".", 1)
    df = pd.DataFrame({"text": HOSTILE, "n": [-5, 1.5, 0, -0.25, 3, 4, 5]})
    df.columns = ["=cmd|' /C calc'!A0", "n"]
    got = _csv_cells(getattr(importlib.import_module(mod), fn)(df))
    assert got.columns.tolist() == ["'=cmd|' /C calc'!A0", "n"]
    assert got.iloc[:, 0].tolist() == SAFE
    assert got["n"].tolist() == ["-5.0", "1.5", "0.0", "-0.25", "3.0", "4.0", "5.0"] or got["n"].tolist() == [
        "-5",
        "1.5",
        "0",
        "-0.25",
        "3",
        "4",
        "5",
    ]  # numbers: no apostrophe


@pytest.mark.parametrize("which", ["excel_bytes", "to_excel", "portfolio_xlsx"])
def test_excel_exporters_neutralise_every_formula_start_and_keep_numbers(which):
    from kpis.improvement import export as iexport
    from kpis.sponsorship import export as sexport
    from kpis.sponsorship import scorecard as sc

    if which == "portfolio_xlsx":
        frame = pd.DataFrame({"executive": HOSTILE, "title": HOSTILE, **dict.fromkeys(sc.FIGURES, -0.5)})
        statuses = pd.DataFrame({f: ["green"] * len(HOSTILE) for f in sc.FIGURES})
        rows = _xlsx_cells(sexport.portfolio_xlsx(frame, statuses, "2026-Q1"))[1:]
        assert [r[0].replace("\n", "\r") for r in rows] == SAFE and [r[1].replace("\n", "\r") for r in rows] == SAFE
        assert all(r[2] == -0.5 for r in rows)
        return
    df = pd.DataFrame({"text": HOSTILE, "n": [-5, 1.5, 0, -0.25, 3, 4, 5]})
    data = export.excel_bytes(df, "x") if which == "excel_bytes" else iexport.to_excel({"x": df})
    rows = _xlsx_cells(data)
    assert [r[0].replace("\n", "\r") for r in rows[1:]] == SAFE  # XML reads a stored CR back as LF
    assert [r[1] for r in rows[1:]] == [-5, 1.5, 0, -0.25, 3, 4, 5]
    assert all(isinstance(r[1], (int, float)) for r in rows[1:])
