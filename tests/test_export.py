"""Downloads neutralise spreadsheet formulas in text cells and keep numbers as numbers."""

import io

import pandas as pd

from kpis import export


def test_formula_cells_get_an_apostrophe_and_numbers_stay():
    df = pd.DataFrame({"text": ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain", None],
                       "value": [-1.5, 2, 3, 4, 5, 6, 7, 8]})
    out = export.neutralise(df)
    assert out["text"].tolist()[:7] == ["'=HYPERLINK(\"x\")", "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "plain"]
    assert out["value"].tolist() == df["value"].tolist()
    assert df["text"].iloc[0].startswith("=")   # the input is not changed


def test_csv_and_excel_downloads_are_neutralised():
    df = pd.DataFrame({"comment": ["=1+1"], "n": [3]})
    assert export.csv_bytes(df).decode() == "comment,n\n'=1+1,3\n"
    back = pd.read_excel(io.BytesIO(export.excel_bytes(df, "maturity")), sheet_name="maturity")
    assert back.loc[0, "comment"] == "'=1+1" and back.loc[0, "n"] == 3
