"""Download buttons: a table as CSV (with the forecast view it was cut by), or as CSV and Excel."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

if TYPE_CHECKING:
    from kpis.forecast.filters import ForecastFilters


def csv_button(df: pd.DataFrame, name: str, key: str, view: ForecastFilters | None = None) -> None:
    """A CSV download of a table (fractions stay fractions, no float noise, cells that a spreadsheet would run as
    formulas neutralised); with `view` (a forecast page's filters) the window, stage, lag and filters become
    leading columns and part of the file name."""
    from kpis.forecast import windows

    if view is not None:
        stage = view.stage if "stage" not in df.columns else None
        lag = view.lag if "lag" not in df.columns else ""
        window, filters = view.window, view.attribute_filters()
        name = windows.file_name(name, window=window, stage=stage, lag=lag, filters=filters)

        def data() -> bytes:
            return windows.csv_bytes(windows.with_filters(df, window=window, stage=stage, lag=lag, filters=filters))
    else:
        name = f"{name}.csv"

        def data() -> bytes:
            return windows.csv_bytes(df)

    # The file is made when the button is clicked (a callable), not on every run of the page, and the click
    # does not rerun the page.
    st.download_button(
        "Download CSV",
        data,
        file_name=name,
        on_click="ignore",
        mime="text/csv",
        key=key,
        icon=":material/download:",
        type="tertiary",
    )


def download_buttons(df: pd.DataFrame, name: str, key: str) -> None:
    """CSV and Excel downloads of a table, spreadsheet formulas neutralised (kpis.export)."""
    from kpis import export

    c1, c2, _ = st.columns([1, 1, 4])
    # Files are made when a button is clicked, not on every run of the page.
    c1.download_button(
        "CSV",
        lambda: export.csv_bytes(df),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        icon=":material/download:",
        type="tertiary",
        on_click="ignore",
    )
    c2.download_button(
        "Excel",
        lambda: export.excel_bytes(df, name),
        file_name=f"{name}.xlsx",
        key=f"{key}_xlsx",
        on_click="ignore",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:",
        type="tertiary",
    )
