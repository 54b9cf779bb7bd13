"""Exports of the scorecard: the portfolio as an Excel workbook (cells that a spreadsheet would run as
formulas are neutralised)."""

from __future__ import annotations

import io

import pandas as pd

from kpis.safety import spreadsheet_cell
from kpis.sponsorship import scorecard as sc

FILLS = {"green": "C8E6C9", "amber": "FFE0B2", "red": "FFCDD2"}


def neutralise(value):
    """Text that starts like a formula gets a leading apostrophe so a spreadsheet shows it as text (kpis.safety)."""
    return spreadsheet_cell(value)


def portfolio_xlsx(frame: pd.DataFrame, statuses: pd.DataFrame, quarter: str) -> bytes:
    """The portfolio (executive, title, seven figures) as .xlsx, each figure cell filled with its status colour,
    plus a sheet saying how each figure is computed."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = f"Scorecard {quarter}"
    header = ["Executive", "Title", *(sc.LABELS[f] for f in sc.FIGURES)]
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i, (_, row) in enumerate(frame.iterrows()):
        values = [neutralise(row["executive"]), neutralise(row["title"])]
        values += [None if pd.isna(row[f]) else float(row[f]) for f in sc.FIGURES]
        ws.append(values)
        for j, f in enumerate(sc.FIGURES):
            cell = ws.cell(row=i + 2, column=j + 3)
            cell.number_format = "0%" if f in sc.RATES else ("0" if f in sc.COUNTS else "0.0")
            fill = FILLS.get(statuses.iloc[i][f])
            if fill:
                cell.fill = PatternFill("solid", start_color=fill, end_color=fill)
    for col, width in zip("ABCDEFGHI", (22, 26, 16, 16, 16, 16, 16, 16, 16)):
        ws.column_dimensions[col].width = width
    how = wb.create_sheet("How computed")
    how.append(["Figure", "How it is computed"])
    for f in sc.FIGURES:
        how.append([sc.LABELS[f], sc.HOW[f].replace("{cycle}", "one cycle's")])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
