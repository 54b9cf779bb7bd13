"""Tests for kpis.catalog.load: reading long/wide CSV and Excel actuals, row-level problems, all-or-nothing writes.

Every test runs on SQLite and PostgreSQL (the `engine` fixture).
"""

import dataclasses
import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kpis.access.users import NotAllowed, User
from kpis.catalog.load import import_actuals, write_actuals
from kpis.imports.problems import ImportFailed
from kpis.store.models import AuditEvent, ImportBatch, Kpi, KpiValue

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"
HINT = "expected an ISO date (2025-03-31), YYYY-MM, YYYY-Qn or YYYY-Www"

BASE = b"kpi,period,value\notif,2025-01,0.91\notif,2025-02,0.92\nstockout_weeks,2025-03-05,12\n"
BASE_VALUES = [  # what BASE stores (kpi_id, segment, period, value); 2025-03-05 is in the week of Monday 03-03
    ("otif", "", dt.date(2025, 1, 1), 0.91),
    ("otif", "", dt.date(2025, 2, 1), 0.92),
    ("stockout_weeks", "", dt.date(2025, 3, 3), 12.0),
]


# ---------------------------------------------------------------- helpers


def values(engine) -> list[tuple]:
    with engine.connect() as c:
        rows = c.execute(
            select(KpiValue.kpi_id, KpiValue.segment, KpiValue.period, KpiValue.value).order_by(
                KpiValue.kpi_id, KpiValue.segment, KpiValue.period
            )
        ).all()
    return [tuple(r) for r in rows]


def count(engine, model) -> int:
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(model)).scalar_one()


def state(engine) -> tuple:
    """Everything an import may touch: stored values (with stamps and notes), batches, audit events, KPIs."""
    with engine.connect() as c:
        vals = c.execute(
            select(
                KpiValue.id,
                KpiValue.kpi_id,
                KpiValue.segment,
                KpiValue.period,
                KpiValue.value,
                KpiValue.note,
                KpiValue.import_id,
                KpiValue.updated_at,
                KpiValue.updated_by,
            ).order_by(KpiValue.id)
        ).all()
    return [tuple(v) for v in vals], count(engine, ImportBatch), count(engine, AuditEvent), count(engine, Kpi)


def run(engine, data: bytes, name: str, config, user):
    return import_actuals(engine, data, name, config=config, user=user)


def problems(engine, data: bytes, name: str, config, user) -> tuple[list[str], ImportFailed]:
    """Import a bad file: assert it raises and wrote nothing; return the problem lines."""
    before = state(engine)
    with pytest.raises(ImportFailed) as e:
        run(engine, data, name, config, user)
    assert state(engine) == before, "a failed import changed the database"
    return [str(p) for p in e.value.problems], e.value


def with_app(config, **app):
    return dataclasses.replace(config, app=config.app.model_copy(update=app))


def xlsx(rows: list[list]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.fixture
def seeded(engine, config, admin):
    """The engine after BASE was imported."""
    run(engine, BASE, "base.csv", config, admin)
    assert values(engine) == BASE_VALUES
    return engine


# ---------------------------------------------------------------- formats that import


def test_long_csv(engine, config, admin):
    res = run(engine, BASE, "base.csv", config, admin)
    assert (res.rows, res.inserted, res.updated, res.unchanged) == (3, 3, 0, 0)
    assert values(engine) == BASE_VALUES


def test_long_csv_columns_in_any_order_and_case(engine, config, admin):
    run(engine, b"Value,KPI,Period\n0.91,otif,2025-01\n", "x.csv", config, admin)
    assert values(engine) == [("otif", "", dt.date(2025, 1, 1), 0.91)]


def test_long_csv_with_segment_and_note(engine, config, admin):
    run(
        engine,
        b"kpi,period,value,segment,note\notif,2025-01,0.91,,total\notif,2025-01,0.88,EMEA,\n",
        "s.csv",
        config,
        admin,
    )
    assert values(engine) == [("otif", "", dt.date(2025, 1, 1), 0.91), ("otif", "EMEA", dt.date(2025, 1, 1), 0.88)]
    with engine.connect() as c:
        note = c.execute(select(KpiValue.note).where(KpiValue.segment == "")).scalar_one()
    assert note == "total"


# Regression: empty notes used to be stored as the text 'NaN' on PostgreSQL.
def test_empty_note_is_stored_as_null(engine, config, admin):
    run(engine, b"kpi,period,value,note\notif,2025-01,0.91,\n", "n.csv", config, admin)
    with engine.connect() as c:
        assert c.execute(select(KpiValue.note)).scalar_one() is None


def test_wide_csv(engine, config, admin):
    # an empty wide cell means "no value for that period"
    res = run(engine, b"kpi,2025-01,2025-02\notif,0.91,\nfill_rate,0.95,0.96\n", "w.csv", config, admin)
    assert res.inserted == 3
    assert values(engine) == [
        ("fill_rate", "", dt.date(2025, 1, 1), 0.95),
        ("fill_rate", "", dt.date(2025, 2, 1), 0.96),
        ("otif", "", dt.date(2025, 1, 1), 0.91),
    ]


def test_wide_csv_with_segment_column(engine, config, admin):
    run(engine, b"kpi,segment,2025-01\notif,,0.91\notif,APAC,0.85\n", "w.csv", config, admin)
    assert values(engine) == [("otif", "", dt.date(2025, 1, 1), 0.91), ("otif", "APAC", dt.date(2025, 1, 1), 0.85)]


def test_wide_xlsx(engine, config, admin, tmp_path):
    path = tmp_path / "wide.xlsx"
    path.write_bytes(
        xlsx(
            [
                ["kpi", "2025-01", "2025-02"],
                ["otif", 0.91, 0.92],
                ["stockout_weeks", None, None],
                ["inventory_turns", 7, 7.5],
            ]
        )
    )
    res = run(engine, path.read_bytes(), path.name, config, admin)
    assert res.inserted == 4
    assert values(engine) == [
        ("inventory_turns", "", dt.date(2025, 1, 1), 7.0),
        ("inventory_turns", "", dt.date(2025, 2, 1), 7.5),
        ("otif", "", dt.date(2025, 1, 1), 0.91),
        ("otif", "", dt.date(2025, 2, 1), 0.92),
    ]


def test_long_xlsx_with_excel_dates(engine, config, admin):
    data = xlsx(
        [
            ["kpi", "period", "value"],
            ["otif", dt.datetime(2025, 1, 15), 0.91],
            ["stockout_weeks", dt.datetime(2025, 3, 6), 4],
        ]
    )
    run(engine, data, "long.xlsx", config, admin)
    # 2025-01-15 -> month 2025-01; Thursday 2025-03-06 -> week of Monday 2025-03-03
    assert values(engine) == [("otif", "", dt.date(2025, 1, 1), 0.91), ("stockout_weeks", "", dt.date(2025, 3, 3), 4.0)]


# Regression: Excel date headers arrive as datetime.datetime and became "2025-01-01 00:00:00".
def test_wide_xlsx_with_date_headers(engine, config, admin):
    data = xlsx([["kpi", dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1)], ["otif", 0.91, 0.92]])
    run(engine, data, "dates.xlsx", config, admin)
    assert values(engine) == [("otif", "", dt.date(2025, 1, 1), 0.91), ("otif", "", dt.date(2025, 2, 1), 0.92)]


def test_semicolon_csv_with_decimal_commas(engine, config, admin):
    run(engine, b"kpi;period;value\notif;2025-01;0,91\ninventory_turns;2025-01;7,25\n", "eu.csv", config, admin)
    assert values(engine) == [
        ("inventory_turns", "", dt.date(2025, 1, 1), 7.25),
        ("otif", "", dt.date(2025, 1, 1), 0.91),
    ]


def test_semicolon_wide_csv_with_decimal_commas(engine, config, admin):
    run(engine, b"kpi;2025-01;2025-02\notif;0,91;0,925\n", "eu.csv", config, admin)
    assert values(engine) == [("otif", "", dt.date(2025, 1, 1), 0.91), ("otif", "", dt.date(2025, 2, 1), 0.925)]


# Regression: "412.345,5" used to be read as 412.3455.
def test_semicolon_csv_european_thousands(engine, config, admin):
    run(engine, b"kpi;period;value\nexcess_obsolete_stock;2025-01;412.345,5\n", "eu.csv", config, admin)
    assert values(engine) == [("excess_obsolete_stock", "", dt.date(2025, 1, 1), 412345.5)]


def test_comma_thousands_with_decimal_point(engine, config, admin):
    run(engine, b'kpi,period,value\nexcess_obsolete_stock,2025-01,"412,345.5"\n', "us.csv", config, admin)
    assert values(engine) == [("excess_obsolete_stock", "", dt.date(2025, 1, 1), 412345.5)]


def test_percent_sign_cells(engine, config, admin):
    # '87 %' -> 0.87, '91%' -> 0.91, '92,5 %' (no-break space) -> 0.925
    data = 'kpi,period,value\notif,2025-01,87 %\notif,2025-02,91%\notif,2025-03,"92,5\u00a0%"\n'.encode()
    run(engine, data, "pct.csv", config, admin)
    assert values(engine) == [
        ("otif", "", dt.date(2025, 1, 1), 0.87),
        ("otif", "", dt.date(2025, 2, 1), 0.91),
        ("otif", "", dt.date(2025, 3, 1), 0.925),
    ]


def test_utf8_bom_is_ignored(engine, config, admin):
    run(engine, b"\xef\xbb\xbfkpi,period,value\notif,2025-01,0.91\n", "bom.csv", config, admin)
    assert values(engine) == [("otif", "", dt.date(2025, 1, 1), 0.91)]


def test_blank_lines_are_skipped(engine, config, admin):
    run(engine, b"kpi,period,value\notif,2025-01,0.91\n\n,,\notif,2025-02,0.92\n", "gaps.csv", config, admin)
    assert len(values(engine)) == 2


def test_quarterly_kpi_periods(engine, config, admin):
    run(
        engine,
        b"kpi,period,value\nnpi_launch_on_time,2025-Q2,0.8\nnpi_launch_on_time,2025-08-15,0.9\n",
        "q.csv",
        config,
        admin,
    )
    assert values(engine) == [
        ("npi_launch_on_time", "", dt.date(2025, 4, 1), 0.8),
        ("npi_launch_on_time", "", dt.date(2025, 7, 1), 0.9),
    ]


def _long_sample_rows() -> int:
    return len((SAMPLES / "actuals_long.csv").read_text().strip().splitlines()) - 1  # minus the header


@pytest.mark.parametrize("sample", ["actuals_long.csv", "actuals_wide.csv", "actuals_wide.xlsx"])
def test_shipped_samples_import(engine, config, admin, sample):
    res = run(engine, (SAMPLES / sample).read_bytes(), sample, config, admin)
    assert res.inserted == _long_sample_rows() > 100  # long rows = wide non-empty cells


def test_wide_sample_holds_the_long_sample_values(engine, config, admin):
    run(engine, (SAMPLES / "actuals_long.csv").read_bytes(), "actuals_long.csv", config, admin)
    res = run(engine, (SAMPLES / "actuals_wide.xlsx").read_bytes(), "actuals_wide.xlsx", config, admin)
    assert (res.inserted, res.updated, res.unchanged) == (0, 0, _long_sample_rows())


# ---------------------------------------------------------------- each problem, located


RECORDS_REFUSAL = {
    "exec_meeting_attendance": "the meeting log (executive S&OP meetings, invited and attended people)",
    "decision_cycle_time": "the decision register (raised and decided dates)",
    "actions_closed_on_time": "the improvement action log (due and completion dates)",
    "sop_cycle_on_schedule": "the meeting log (the steps of the S&OP cycle held each month)",
}


@pytest.mark.parametrize("kpi_id", sorted(RECORDS_REFUSAL))
def test_a_kpi_computed_from_the_records_is_refused_naming_them(seeded, config, admin, kpi_id):
    data = f"kpi,period,value\notif,2025-03,0.9\n{kpi_id},2026-10,0.853\n".encode()
    lines, _ = problems(seeded, data, "f.csv", config, admin)
    assert lines == [
        f"f.csv, row 3, column 'kpi': KPI '{kpi_id}' is computed from the app's records, not imported: "
        f'{RECORDS_REFUSAL[kpi_id]}. Log or import those records instead, or set source = "import" in config.toml'
    ]


def test_unknown_kpi_with_did_you_mean(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,period,value\notif,2025-03,0.9\notiff,2025-01,0.91\n", "f.csv", config, admin)
    assert lines == ["f.csv, row 3, column 'kpi': unknown KPI 'otiff' (did you mean 'otif'?)"]


def test_unknown_kpi_without_a_close_match(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,period,value\nzzz,2025-01,0.91\n", "f.csv", config, admin)
    assert lines == ["f.csv, row 2, column 'kpi': unknown KPI 'zzz'; see the KPI catalog for valid ids"]


def test_empty_kpi(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,period,value\n,2025-01,0.91\n", "f.csv", config, admin)
    assert lines == ["f.csv, row 2, column 'kpi': KPI is empty; see the KPI catalog for valid ids"]


def test_bad_period(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,period,value\notif,2025-13,0.91\n", "f.csv", config, admin)
    assert lines == [f"f.csv, row 2, column 'period': period '2025-13' month must be 01-12; {HINT}"]


def test_period_at_wrong_cadence(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,period,value\notif,2025-Q1,0.91\n", "f.csv", config, admin)
    assert lines == [
        "f.csv, row 2, column 'period': period '2025-Q1' is a quarter, but this KPI is monthly (use a date or YYYY-MM)"
    ]  # one explanation, no general hint that contradicts it


def test_bad_period_header_in_wide_file(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,2025-01,March\notif,0.91,0.92\n", "w.csv", config, admin)
    assert lines == [f"w.csv, row 1, column 'March': column header period 'March' is not a period; {HINT}"]


def test_non_numeric_value(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,period,value\notif,2025-01,n/a\n", "f.csv", config, admin)
    assert lines == ["f.csv, row 2, column 'value': value 'n/a' is not a number"]


def test_non_numeric_value_in_wide_file_names_the_period_column(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,2025-01,2025-02\notif,0.91,0.92\nfill_rate,0.95,abc\n", "w.csv", config, admin)
    assert lines == ["w.csv, row 3, column '2025-02': value 'abc' is not a number"]


def test_empty_value_in_long_format(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,period,value\notif,2025-01,\n", "f.csv", config, admin)
    assert lines == ["f.csv, row 2, column 'value': value is empty; expected a number"]


def test_duplicate_key_names_first_row(seeded, config, admin):
    # 2025-01 and 2025-01-15 are the same month for a monthly KPI
    data = b"kpi,period,value\notif,2025-01,0.91\nfill_rate,2025-01,0.9\notif,2025-01-15,0.92\n"
    lines, _ = problems(seeded, data, "f.csv", config, admin)
    assert lines == ["f.csv, row 4, column 'period': duplicate: row 2 already has KPI 'otif' for period 2025-01"]


def test_duplicate_key_with_segment(seeded, config, admin):
    data = b"kpi,period,value,segment\notif,2025-01,0.91,EMEA\notif,2025-01,0.92,EMEA\n"
    lines, _ = problems(seeded, data, "f.csv", config, admin)
    assert lines == [
        "f.csv, row 3, column 'period': duplicate: row 2 already has KPI 'otif' segment 'EMEA' for period 2025-01"
    ]


def test_segment_name_too_long(seeded, config, admin):
    data = b"kpi,period,value,segment\notif,2025-01,0.91," + b"S" * 81 + b"\n"  # the column holds 80 characters
    lines, _ = problems(seeded, data, "f.csv", config, admin)
    assert lines == [
        "f.csv, row 2, column 'segment': segment name is 81 characters long; at most 80 characters are allowed"
    ]


def test_ragged_csv_is_reported_not_raised(seeded, config, admin):
    lines, _ = problems(
        seeded, b"kpi,period,value\notif,2025-01,0.91\notif,2025-02,0.92,extra,more\n", "f.csv", config, admin
    )
    assert len(lines) == 1 and lines[0].startswith("f.csv: cannot read the file: ")


def test_same_period_in_two_segments_is_not_a_duplicate(engine, config, admin):
    res = run(engine, b"kpi,period,value,segment\notif,2025-01,0.91,EMEA\notif,2025-01,0.92,\n", "f.csv", config, admin)
    assert res.inserted == 2


def test_missing_kpi_column(seeded, config, admin):
    lines, _ = problems(seeded, b"name,period,value\notif,2025-01,0.91\n", "f.csv", config, admin)
    assert lines == [
        "f.csv, row 1: missing column(s) 'kpi'; expected the long layout kpi,period,value[,segment,note] "
        "or the wide layout kpi[,segment],<period>,<period>,…"
    ]


# Regression: a long file without its value column used to be read as a wide file.
def test_missing_value_column(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,period\notif,2025-01\n", "f.csv", config, admin)
    assert lines[0].startswith("f.csv, row 1: missing column(s) 'value'")


def test_empty_file(seeded, config, admin):
    lines, _ = problems(seeded, b"", "f.csv", config, admin)
    assert lines == ["f.csv: file is empty; expected a header row and at least one data row"]


def test_whitespace_only_file_is_empty(seeded, config, admin):
    lines, _ = problems(seeded, b"\n  \n", "f.csv", config, admin)
    assert lines == ["f.csv: file is empty; expected a header row and at least one data row"]


def test_header_only_file(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,period,value\n", "f.csv", config, admin)
    assert lines == ["f.csv: file has a header but no data rows"]


def test_wide_file_with_only_empty_cells(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,2025-01\notif,\n", "w.csv", config, admin)
    assert lines == ["w.csv: every period cell is empty; nothing to import"]


def test_file_over_size_limit(seeded, config, admin):
    small = with_app(config, max_upload_mb=0.5)
    data = b"kpi,period,value\n" + b"otif,2025-01,0.91\n" * 35000  # 17 + 18 * 35000 = 630,017 bytes = 0.60 MB
    lines, _ = problems(seeded, data, "big.csv", small, admin)
    assert lines == ["big.csv: file is 0.6 MB, over the 0.5 MB limit (config [app] max_upload_mb)"]


def test_file_at_size_limit_is_read(engine, config, admin):
    data = b"kpi,period,value\notif,2025-01,0.91\n"  # 35 bytes
    limit = with_app(config, max_upload_mb=35 / 1048576)  # exactly 35 bytes
    assert run(engine, data, "f.csv", limit, admin).inserted == 1


def test_wrong_scale_for_percent_kpi(seeded, config, admin):
    lines, _ = problems(seeded, b"kpi,period,value\notif,2025-01,87\n", "f.csv", config, admin)
    assert lines == [
        "f.csv, row 2, column 'value': value 87 is outside 0–1 for KPI 'otif' (unit %): "
        "percentages are stored as fractions, so 87 % is 0.87"
    ]


def test_value_outside_configured_range(seeded, config, admin):
    # days_of_supply has max = 365
    lines, _ = problems(seeded, b"kpi,period,value\ndays_of_supply,2025-01,400\n", "f.csv", config, admin)
    assert lines == [
        "f.csv, row 2, column 'value': value 400 is outside the plausible range 0–365 for KPI "
        "'days_of_supply' (unit days)"
    ]


def test_unsupported_extension(seeded, config, admin):
    lines, _ = problems(seeded, BASE, "actuals.json", config, admin)
    assert lines == ["actuals.json: unsupported file type '.json'; expected .csv or .xlsx"]


def test_not_utf8(seeded, config, admin):
    lines, _ = problems(
        seeded, "kpi,period,value,note\notif,2025-01,0.91,Qualität\n".encode("latin-1"), "f.csv", config, admin
    )
    assert lines == ["f.csv: file is not UTF-8 text; save the CSV as UTF-8"]


def test_broken_xlsx(seeded, config, admin):
    lines, _ = problems(seeded, b"not a zip file", "f.xlsx", config, admin)
    assert len(lines) == 1 and lines[0].startswith("f.xlsx: is not an Excel workbook")


# ---------------------------------------------------------------- many problems, and the cap


SIX_PROBLEMS = (
    b"kpi,period,value\n"
    b"otiff,2025-01,0.91\n"  # row 2: unknown KPI
    b"otif,2025-13,0.9\n"  # row 3: bad period
    b"otif,2025-03,abc\n"  # row 4: not a number
    b"otif,2025-04,\n"  # row 5: empty value
    b"otif,2025-05,87\n"  # row 6: wrong scale
    b"otif,2025-06,0.9\n"  # row 7: fine
    b"otif,2025-6,0.8\n"  # row 8: duplicate of row 7
)


def test_all_problems_reported_in_row_order(seeded, config, admin):
    lines, err = problems(seeded, SIX_PROBLEMS, "f.csv", config, admin)
    assert err.total == 6
    assert [line.split(":")[0] for line in lines] == [
        "f.csv, row 2, column 'kpi'",
        "f.csv, row 3, column 'period'",
        "f.csv, row 4, column 'value'",
        "f.csv, row 5, column 'value'",
        "f.csv, row 6, column 'value'",
        "f.csv, row 8, column 'period'",
    ]


def test_problem_cap(seeded, config, admin):
    lines, err = problems(seeded, SIX_PROBLEMS, "f.csv", with_app(config, max_import_errors=3), admin)
    assert len(lines) == 3
    assert err.total == 6
    assert str(err).endswith("\n… and 3 more")


def test_problem_cap_on_many_rows(seeded, config, admin):
    data = b"kpi,period,value\n" + b"".join(b"otif,2025-%02d,x\n" % m for m in range(1, 13))  # 12 bad values
    lines, err = problems(seeded, data, "f.csv", with_app(config, max_import_errors=5), admin)
    assert (len(lines), err.total) == (5, 12)


# ---------------------------------------------------------------- failed imports write nothing


def test_failed_import_keeps_earlier_data_exactly(seeded, config, admin):
    batches, events = count(seeded, ImportBatch), count(seeded, AuditEvent)
    # one good update (otif 2025-01 -> 0.5) and one bad row: nothing may be written
    problems(seeded, b"kpi,period,value\notif,2025-01,0.5\notif,2025-02,bad\n", "f.csv", config, admin)
    assert values(seeded) == BASE_VALUES
    assert count(seeded, ImportBatch) == batches == 1
    assert count(seeded, AuditEvent) == events


def test_failed_import_on_empty_database_writes_nothing(engine, config, admin):
    problems(engine, b"kpi,period,value\notif,2025-01,bad\n", "f.csv", config, admin)
    assert (count(engine, KpiValue), count(engine, ImportBatch), count(engine, AuditEvent), count(engine, Kpi)) == (
        0,
        0,
        0,
        0,
    )


# ---------------------------------------------------------------- idempotence and updates


def test_reimport_same_file_changes_nothing(seeded, config, admin):
    before = state(seeded)
    res = run(seeded, BASE, "base.csv", config, admin)
    assert (res.inserted, res.updated, res.unchanged) == (0, 0, 3)
    assert res.batch_id is None
    assert state(seeded) == before  # no values, batches or audit events added or changed


def test_reimport_summary_mentions_earlier_import(seeded, config, admin):
    res = run(seeded, BASE, "base.csv", config, admin)
    assert res.previous["who"] == "tester"
    assert res.summary().startswith("base.csv: no changes — all 3 values already stored (same content imported ")


def test_reimport_in_other_layout_changes_nothing(seeded, config, admin):
    events = count(seeded, AuditEvent)
    res = run(seeded, b"kpi,2025-01,2025-02\notif,0.91,0.92\n", "wide.csv", config, admin)
    assert (res.inserted, res.updated, res.unchanged) == (0, 0, 2)
    assert count(seeded, AuditEvent) == events


def test_changing_one_value_updates_exactly_that_row(seeded, config):
    editor = User(name="eddie", role="editor")
    before = {(r[1], r[3]): r for r in state(seeded)[0]}  # (kpi, period) -> stored row
    events = count(seeded, AuditEvent)
    changed = BASE.replace(b"otif,2025-02,0.92", b"otif,2025-02,0.93")
    res = run(seeded, changed, "base-v2.csv", config, editor)
    assert (res.inserted, res.updated, res.unchanged) == (0, 1, 2)
    assert values(seeded) == [BASE_VALUES[0], ("otif", "", dt.date(2025, 2, 1), 0.93), BASE_VALUES[2]]
    after = {(r[1], r[3]): r for r in state(seeded)[0]}
    row = after[("otif", dt.date(2025, 2, 1))]
    assert row[0] == before[("otif", dt.date(2025, 2, 1))][0]  # same id: updated in place
    assert row[8] == "eddie" and row[7] is not None  # updated_by, updated_at
    assert row[6] == res.batch_id  # import_id points at the new batch
    for key in [("otif", dt.date(2025, 1, 1)), ("stockout_weeks", dt.date(2025, 3, 3))]:
        assert after[key] == before[key]  # untouched rows keep their stamps
    # one 'update' event for the value and one 'import' event
    assert count(seeded, AuditEvent) == events + 2
    with Session(seeded) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "update", AuditEvent.entity == "kpi_value")).one()
    assert ev.actor == "eddie"
    assert ev.entity_id == str(row[0])
    assert ev.details == {
        "kpi": "otif",
        "segment": "",
        "period": "2025-02-01",
        "old": 0.92,
        "new": 0.93,
        "import": res.batch_id,
    }


def test_changed_import_writes_one_batch_and_import_event(seeded, config, admin):
    changed = BASE.replace(b"otif,2025-02,0.92", b"otif,2025-02,0.93") + b"otif,2025-03,0.94\n"
    res = run(seeded, changed, "v2.csv", config, admin)
    assert (res.inserted, res.updated, res.unchanged) == (1, 1, 2)
    assert count(seeded, ImportBatch) == 2
    with Session(seeded) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "import").order_by(AuditEvent.id.desc())).first()
    assert ev.entity == "import_batch" and ev.entity_id == str(res.batch_id)
    assert (ev.details["inserted"], ev.details["updated"], ev.details["unchanged"]) == (1, 1, 2)


# Regression: a file without notes used to erase the stored note on update.
def test_update_without_note_keeps_stored_note(engine, config, admin):
    run(engine, b"kpi,period,value,note\notif,2025-01,0.91,Strike at the port\n", "a.csv", config, admin)
    run(engine, b"kpi,period,value\notif,2025-01,0.95\n", "b.csv", config, admin)
    with engine.connect() as c:
        assert c.execute(select(KpiValue.note)).scalar_one() == "Strike at the port"


# ---------------------------------------------------------------- permissions


def test_viewer_may_not_import(engine, config, viewer):
    with pytest.raises(NotAllowed):
        run(engine, BASE, "base.csv", config, viewer)
    # nothing written but the refusal itself, which the audit log keeps
    assert (count(engine, KpiValue), count(engine, ImportBatch), count(engine, AuditEvent), count(engine, Kpi)) == (
        0,
        0,
        1,
        0,
    )
    with engine.connect() as c:
        assert c.execute(select(AuditEvent.action, AuditEvent.actor)).one() == ("denied", viewer.name)


def test_viewer_may_not_import_into_existing_data(seeded, config, viewer):
    before = state(seeded)
    with pytest.raises(NotAllowed):
        run(seeded, BASE.replace(b"0.91", b"0.5"), "base.csv", config, viewer)
    after = state(seeded)
    assert after[:2] == before[:2] and after[3] == before[3]  # values, batches, KPIs untouched
    assert after[2] == before[2] + 1  # one audit event: the refusal


def test_contributor_may_not_call_write_actuals(engine, config):
    import pandas as pd

    rows = pd.DataFrame(
        {"kpi_id": ["otif"], "segment": [""], "period": [dt.date(2025, 1, 1)], "value": [0.9], "note": [None]}
    )
    with pytest.raises(NotAllowed):
        write_actuals(engine, rows, filename="x", sha256="0" * 64, user=User(name="c", role="contributor"))
    assert count(engine, KpiValue) == 0


def test_ambiguous_thousands_separator_is_refused(config):
    from kpis.catalog.load import parse_actuals

    with pytest.raises(ImportFailed) as e:
        parse_actuals(b'kpi,period,value\nexcess_obsolete_stock,2025-01,"450,000"\n', "f.csv", config)
    assert "ambiguous" in str(e.value) and "row 2" in str(e.value)
    ok = parse_actuals(b"kpi;period;value\notif;2025-01;0,875\n", "f.csv", config)
    assert ok["value"].tolist() == [0.875]


# ---------------------------------------------------------------- issue 7: friendlier messages
def test_kpi_ids_match_regardless_of_case(config):
    from kpis.catalog.load import parse_actuals

    rows = parse_actuals(b"kpi,period,value\nOTIF,2025-01,0.91\nOtif,2025-02,0.92\n", "a.csv", config)
    assert rows["kpi_id"].tolist() == ["otif", "otif"]
    with pytest.raises(ImportFailed, match="did you mean 'otif'"):
        parse_actuals(b"kpi,period,value\notiff,2025-01,0.91\n", "a.csv", config)


def test_bad_period_in_a_wide_header_is_reported_once(config):
    from kpis.catalog.load import parse_actuals

    data = b"kpi,segment,2025-01,2025-13\notif,EMEA,0.9,0.91\notif,APAC,0.9,0.92\notif,US,0.9,0.93\n"
    with pytest.raises(ImportFailed) as exc:
        parse_actuals(data, "wide.csv", config)
    assert exc.value.total == 1
    p = exc.value.problems[0]
    assert p.row == 1 and p.column == "2025-13" and "column header" in p.message
