"""Tests for kpis.periods: parsing the spellings planners use, labels, shifting and numbering."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from kpis import periods


def one(value, cadence):
    """(start date or None, error text) for a single raw value."""
    start, err = periods.normalise([value], cadence)
    s = start.iloc[0]
    return (None if pd.isna(s) else s.date()), err.iloc[0]


# ---------------------------------------------------------------- ISO dates


def test_iso_date_weekly_floors_to_monday():
    # 2025-03-05 is a Wednesday; its ISO week starts Monday 2025-03-03
    assert one("2025-03-05", "week") == (dt.date(2025, 3, 3), "")


def test_iso_date_on_a_monday_stays():
    assert one("2025-03-03", "week") == (dt.date(2025, 3, 3), "")


def test_iso_date_sunday_belongs_to_the_week_before():
    # Sunday 2025-03-09 is the last day of the week starting Monday 2025-03-03
    assert one("2025-03-09", "week") == (dt.date(2025, 3, 3), "")


def test_iso_date_weekly_across_new_year():
    # Wednesday 2025-01-01 is in ISO week 2025-W01, which starts Monday 2024-12-30
    assert one("2025-01-01", "week") == (dt.date(2024, 12, 30), "")


def test_iso_date_monthly_floors_to_first_of_month():
    assert one("2025-03-31", "month") == (dt.date(2025, 3, 1), "")


def test_iso_date_quarterly_floors_to_quarter_start():
    # March is in Q1 (Jan-Mar) -> 2025-01-01
    assert one("2025-03-31", "quarter") == (dt.date(2025, 1, 1), "")


def test_iso_date_quarterly_q4():
    assert one("2025-11-15", "quarter") == (dt.date(2025, 10, 1), "")


def test_invalid_calendar_date_is_an_error():
    start, err = one("2025-02-30", "month")
    assert start is None
    assert err == "not a valid calendar date"


# Regression: the date pattern allows a midnight time, which used to be reported as an invalid date.
def test_iso_date_with_midnight_time_is_accepted():
    assert one("2025-03-05 00:00:00", "month") == (dt.date(2025, 3, 1), "")


# ---------------------------------------------------------------- YYYY-MM


def test_month_spelling_monthly():
    assert one("2025-03", "month") == (dt.date(2025, 3, 1), "")


def test_month_spelling_single_digit_month():
    assert one("2025-3", "month") == (dt.date(2025, 3, 1), "")


def test_month_spelling_quarterly_floors_to_quarter():
    # 2025-05 lies in Q2 -> 2025-04-01
    assert one("2025-05", "quarter") == (dt.date(2025, 4, 1), "")


def test_month_13_is_an_error():
    start, err = one("2025-13", "month")
    assert start is None
    assert err == "month must be 01-12"


def test_month_00_is_an_error():
    start, err = one("2025-00", "month")
    assert start is None
    assert err == "month must be 01-12"


def test_month_given_to_weekly_kpi_is_an_error():
    start, err = one("2025-03", "week")
    assert start is None
    assert err == "is a month, but this KPI is weekly (use a date or YYYY-Www)"


# ---------------------------------------------------------------- YYYY-Qn


def test_quarter_spelling():
    assert one("2025-Q2", "quarter") == (dt.date(2025, 4, 1), "")


def test_quarter_spelling_without_dash_and_lower_case():
    assert one("2025q4", "quarter") == (dt.date(2025, 10, 1), "")


def test_quarter_given_to_monthly_kpi_is_an_error():
    start, err = one("2025-Q1", "month")
    assert start is None
    assert err == "is a quarter, but this KPI is monthly (use a date or YYYY-MM)"


def test_quarter_given_to_weekly_kpi_is_an_error():
    start, err = one("2025-Q1", "week")
    assert start is None
    assert err == "is a quarter, but this KPI is weekly (use a date or YYYY-Www)"


def test_quarter_5_is_not_a_period():
    start, err = one("2025-Q5", "quarter")
    assert start is None
    assert err == "is not a period"


# ---------------------------------------------------------------- YYYY-Www


def test_week_spelling():
    # ISO 2025-W05 starts Monday 2025-01-27 (W01 starts 2024-12-30, + 4 weeks)
    assert one("2025-W05", "week") == (dt.date(2025, 1, 27), "")


def test_week_spelling_single_digit_and_no_dash():
    assert one("2025w5", "week") == (dt.date(2025, 1, 27), "")


def test_week_53_exists_in_2020():
    # 2020 started on a Wednesday and was a leap year -> 53 ISO weeks; W53 starts Monday 2020-12-28
    assert one("2020-W53", "week") == (dt.date(2020, 12, 28), "")


def test_week_53_does_not_exist_in_2025():
    # 2025 starts on a Wednesday but is not a leap year -> 52 ISO weeks
    start, err = one("2025-W53", "week")
    assert start is None
    assert err == "week number does not exist in that year"


def test_week_given_to_monthly_kpi_is_an_error():
    start, err = one("2025-W05", "month")
    assert start is None
    assert err == "is an ISO week, but this KPI is monthly (use a date or YYYY-MM)"


# ---------------------------------------------------------------- empty and junk


@pytest.mark.parametrize("value", ["", "   ", None, float("nan")])
def test_empty_is_an_error(value):
    start, err = one(value, "month")
    assert start is None
    assert err == "is empty"


@pytest.mark.parametrize("value", ["March 2025", "junk", "2025/03", "25-03"])
def test_junk_is_not_a_period(value):
    start, err = one(value, "month")
    assert start is None
    assert err == "is not a period"


def test_unknown_cadence_raises():
    with pytest.raises(ValueError, match="unknown cadence 'year'"):
        periods.normalise(["2025-01"], "year")


def test_normalise_mixed_series_keeps_order_and_index():
    start, err = periods.normalise(pd.Series(["2025-02", "bad", "2025-02-14"], index=[10, 11, 12]), "month")
    assert list(start.index) == [10, 11, 12]
    assert start[10] == pd.Timestamp("2025-02-01")
    assert pd.isna(start[11])
    assert start[12] == pd.Timestamp("2025-02-01")
    assert err.tolist() == ["", "is not a period", ""]


# ---------------------------------------------------------------- Excel datetimes


def test_excel_datetime64_series():
    start, err = periods.normalise(pd.Series(pd.to_datetime(["2025-03-05", "2025-07-31"])), "month")
    assert start.tolist() == [pd.Timestamp("2025-03-01"), pd.Timestamp("2025-07-01")]
    assert err.tolist() == ["", ""]


def test_excel_datetime_objects_mixed_with_text():
    # openpyxl gives datetime.datetime cells beside strings in an object column
    start, err = periods.normalise([dt.datetime(2025, 3, 5, 0, 0), "2025-04", dt.date(2025, 8, 20)], "quarter")
    assert start.tolist() == [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-04-01"), pd.Timestamp("2025-07-01")]
    assert err.tolist() == ["", "", ""]


def test_excel_datetime_weekly():
    # Thursday 2025-03-06 -> Monday 2025-03-03
    start, err = periods.normalise([pd.Timestamp("2025-03-06")], "week")
    assert start.iloc[0] == pd.Timestamp("2025-03-03")
    assert err.iloc[0] == ""


# ---------------------------------------------------------------- parse_one


def test_parse_one_returns_a_date():
    assert periods.parse_one("2025-Q3", "quarter") == dt.date(2025, 7, 1)


def test_parse_one_raises_with_reason_and_hint():
    with pytest.raises(periods.PeriodError) as e:
        periods.parse_one("2025-Q1", "month")
    assert str(e.value) == "'2025-Q1' is a quarter, but this KPI is monthly (use a date or YYYY-MM)"
    with pytest.raises(periods.PeriodError) as e:
        periods.parse_one("March", "month")
    assert str(e.value) == "'March' is not a period; expected an ISO date (2025-03-31), YYYY-MM, YYYY-Qn or YYYY-Www"


# ---------------------------------------------------------------- label / labels


def test_label_week():
    assert periods.label(dt.date(2025, 1, 27), "week") == "2025-W05"


def test_label_week_uses_iso_year():
    # Monday 2024-12-30 starts ISO week 1 of 2025
    assert periods.label(dt.date(2024, 12, 30), "week") == "2025-W01"


def test_label_week_53():
    assert periods.label(dt.date(2020, 12, 28), "week") == "2020-W53"


def test_label_month():
    assert periods.label(dt.date(2025, 3, 1), "month") == "2025-03"


def test_label_quarter():
    assert periods.label(pd.Timestamp("2025-10-01"), "quarter") == "2025-Q4"


def test_labels_week():
    s = pd.Series([dt.date(2024, 12, 30), dt.date(2025, 1, 6), dt.date(2020, 12, 28)])
    assert periods.labels(s, "week").tolist() == ["2025-W01", "2025-W02", "2020-W53"]


def test_labels_month():
    s = pd.Series([dt.date(2025, 1, 1), dt.date(2025, 10, 1)])
    assert periods.labels(s, "month").tolist() == ["2025-01", "2025-10"]


def test_labels_quarter():
    s = pd.Series([dt.date(2025, 1, 1), dt.date(2025, 4, 1), dt.date(2025, 7, 1), dt.date(2025, 10, 1)])
    assert periods.labels(s, "quarter").tolist() == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]


@pytest.mark.parametrize("cadence,raw", [("week", "2025-W05"), ("month", "2025-03"), ("quarter", "2025-Q2")])
def test_label_round_trips_normalise(cadence, raw):
    assert periods.label(periods.parse_one(raw, cadence), cadence) == raw


# ---------------------------------------------------------------- shift


def test_shift_week_forward_across_year():
    assert periods.shift(dt.date(2024, 12, 30), 1, "week") == dt.date(2025, 1, 6)


def test_shift_week_back():
    assert periods.shift(dt.date(2025, 1, 6), -2, "week") == dt.date(2024, 12, 23)


def test_shift_month_across_year():
    assert periods.shift(dt.date(2025, 11, 1), 2, "month") == dt.date(2026, 1, 1)


def test_shift_month_back():
    assert periods.shift(dt.date(2025, 1, 1), -1, "month") == dt.date(2024, 12, 1)


def test_shift_quarter():
    # one quarter = three months
    assert periods.shift(dt.date(2025, 10, 1), 1, "quarter") == dt.date(2026, 1, 1)
    assert periods.shift(dt.date(2025, 1, 1), -1, "quarter") == dt.date(2024, 10, 1)


def test_shift_zero_is_identity():
    assert periods.shift(dt.date(2025, 4, 1), 0, "quarter") == dt.date(2025, 4, 1)


# ---------------------------------------------------------------- period_number


def test_period_number_week_consecutive_across_year():
    # weeks since Monday 1970-01-05: 2024-12-30 is 20087 days later -> 20087 // 7 = 2869
    n = periods.period_number(pd.Series([dt.date(2024, 12, 30), dt.date(2025, 1, 6), dt.date(2025, 1, 13)]), "week")
    assert n.tolist() == [2869, 2870, 2871]


def test_period_number_week_53_then_week_1():
    n = periods.period_number(pd.Series([dt.date(2020, 12, 28), dt.date(2021, 1, 4)]), "week")
    assert np.diff(n).tolist() == [1]


def test_period_number_month_consecutive_across_year():
    # 2024*12 + 11 - 1 = 24298
    n = periods.period_number(pd.Series([dt.date(2024, 11, 1), dt.date(2024, 12, 1), dt.date(2025, 1, 1)]), "month")
    assert n.tolist() == [24298, 24299, 24300]


def test_period_number_quarter_consecutive_across_year():
    # (2024*12 + 6) // 3 = 8098
    n = periods.period_number(pd.Series([dt.date(2024, 7, 1), dt.date(2024, 10, 1), dt.date(2025, 1, 1)]), "quarter")
    assert n.tolist() == [8098, 8099, 8100]


def test_period_number_gap_counts_missing_periods():
    n = periods.period_number(pd.Series([dt.date(2025, 1, 1), dt.date(2025, 4, 1)]), "month")
    assert int(n[1] - n[0]) == 3


def test_target_from_accepts_a_coarser_period():
    # a month names the week containing its first day for a weekly KPI; a quarter its first month
    assert periods.parse_from("2023-11", "week") == dt.date(2023, 10, 30)  # 2023-11-01 is a Wednesday
    assert periods.parse_from("2025-Q3", "month") == dt.date(2025, 7, 1)
    assert periods.parse_from("2025-Q3", "week") == dt.date(2025, 6, 30)  # week containing 2025-07-01
    assert periods.parse_from("2025-W10", "week") == dt.date(2025, 3, 3)
    with pytest.raises(periods.PeriodError, match="'2025-13' month must be 01-12"):  # as typed, not '2025-13-01'
        periods.parse_from("2025-13", "week")


SPELLINGS = [
    "2025-03-31",
    "2025-01-01",
    "2024-12-30",
    "2025-3",
    "2025-03",
    "2025-12",
    "2025-13",
    "2025-00",
    "2025-Q1",
    "2025Q4",
    "2025-q2",
    "2025-W01",
    "2025W9",
    "2026-W53",
    "2020-W53",
    "2025-02-30",
    "2025-03-31 00:00",
    "2025-03-31T00:00:00",
    "march",
    "",
]


@pytest.mark.parametrize("cadence", ["week", "month", "quarter"])
def test_plain_spellings_parse_like_normalise_without_pandas(cadence):
    for text in SPELLINGS:
        quick = periods._parse_simple(text, cadence)
        start, err = periods.normalise([text], cadence)
        if quick is not None:  # the fast path may only answer where normalise accepts, with the same start
            assert not err.iloc[0], (text, cadence, err.iloc[0])
            assert quick == start.iloc[0].date(), (text, cadence)
        elif not err.iloc[0]:  # whatever it leaves to normalise still parses the same through parse_one
            assert periods.parse_one(text, cadence) == start.iloc[0].date()


def test_label_accepts_dates_timestamps_and_datetime64():
    import numpy as np

    assert periods.label(np.datetime64("2025-03-03T00:00:00.000000000"), "week") == "2025-W10"
    assert periods.label(pd.Timestamp("2025-03-01"), "month") == "2025-03"
    assert periods.label(dt.date(2025, 4, 1), "quarter") == "2025-Q2"


# ---------------------------------------------------------------- years outside the supported range (issue 20)

OUTSIDE = "is outside the supported years 1700 to 2199 (config [limits] min_period_year, max_period_year)"


@pytest.mark.parametrize(
    ("value", "cadence"),
    [
        ("9999-12", "month"),
        ("0001-01", "month"),
        ("2263-01", "month"),
        ("1677-09", "month"),
        ("9999-W52", "week"),
        ("9999-Q4", "quarter"),
        ("9999-12-31", "week"),
        ("0001-01-01", "quarter"),
        (dt.date(9999, 12, 31), "month"),
        (dt.datetime(1, 1, 1), "week"),
    ],
)
def test_period_outside_supported_years_is_an_error_not_a_crash(value, cadence):
    assert one(value, cadence) == (None, OUTSIDE)


def test_outside_years_beside_good_periods_keep_order_and_index():
    start, err = periods.normalise(pd.Series(["2025-01", "9999-12", "2025-02"], index=[7, 8, 9]), "month")
    assert start.index.tolist() == [7, 8, 9]
    assert start[7] == pd.Timestamp("2025-01-01") and pd.isna(start[8]) and start[9] == pd.Timestamp("2025-02-01")
    assert err.tolist() == ["", OUTSIDE, ""]


@pytest.mark.parametrize(
    ("value", "cadence", "start"),
    [
        ("1700-01", "month", dt.date(1700, 1, 1)),
        ("1700-01-01", "week", dt.date(1699, 12, 28)),  # the week starts in 1699: its date is what counts
        ("2199-12-31", "week", dt.date(2199, 12, 30)),
        ("2199-Q4", "quarter", dt.date(2199, 10, 1)),
        ("2199-W52", "week", dt.date(2199, 12, 23)),
    ],
)
def test_edges_of_the_supported_years_parse(value, cadence, start):
    assert one(value, cadence) == (start, "")
    assert periods.parse_one(value, cadence) == start


def test_years_can_be_narrowed():
    start, err = periods.normalise(["1999-12", "2000-01"], "month", years=(2000, 2030))
    assert err.tolist() == [
        "is outside the supported years 2000 to 2030 (config [limits] min_period_year, max_period_year)",
        "",
    ]
    with pytest.raises(periods.PeriodError, match="outside the supported years 2000 to 2030"):
        periods.parse_one("2031-01", "month", years=(2000, 2030))


def test_years_beyond_what_pandas_holds_are_refused_as_a_setting():
    with pytest.raises(ValueError, match="must lie within 1678 to 2261"):
        periods.normalise(["2025-01"], "month", years=(1600, 2199))


@pytest.mark.parametrize(("value", "cadence"), [("9999-12", "month"), ("9999-W52", "week"), ("0001-01", "quarter")])
def test_parse_one_refuses_outside_years_without_pandas_error(value, cadence):
    with pytest.raises(periods.PeriodError) as e:
        periods.parse_one(value, cadence)
    assert str(e.value) == f"'{value}' {OUTSIDE}"


def test_parse_from_refuses_outside_years():
    with pytest.raises(periods.PeriodError, match="outside the supported years"):
        periods.parse_from("9999-Q4", "week")


def test_year_problem():
    assert periods.year_problem("9999-12") == OUTSIDE
    assert periods.year_problem(" 2025-W01 ") == "" and periods.year_problem("junk") == ""


ACTUALS_FAR = (
    b"kpi,period,value\n"
    b"otif,2025-01,0.91\n"
    b"otif,9999-12,0.90\n"
    b"stockout_weeks,9999-W52,3\n"
    b"otif,0001-01,0.50\n"
    b"otif,2263-01,0.50\n"
)


def test_actuals_import_refuses_far_periods_with_row_and_range(engine, config, admin):
    from kpis.catalog.load import import_actuals
    from kpis.imports.problems import ImportFailed

    with pytest.raises(ImportFailed) as e:
        import_actuals(engine, ACTUALS_FAR, "far.csv", config=config, user=admin)
    lines = str(e.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"far.csv, row {r}, column 'period'" for r in (3, 4, 5, 6)]
    for line, period in zip(lines, ("9999-12", "9999-W52", "0001-01", "2263-01")):
        assert f"period '{period}' {OUTSIDE}" in line


def test_actuals_wide_header_with_far_period_is_one_problem(engine, config, admin):
    from kpis.catalog.load import import_actuals
    from kpis.imports.problems import ImportFailed

    with pytest.raises(ImportFailed) as e:
        import_actuals(engine, b"kpi,2025-01,9999-12\notif,0.9,0.8\n", "wide.csv", config=config, user=admin)
    assert str(e.value).startswith(f"wide.csv, row 1, column '9999-12': column header period '9999-12' {OUTSIDE}")


def test_cli_import_of_far_periods_exits_2_without_traceback(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    bad = tmp_path / "far.csv"
    bad.write_bytes(b"kpi,period,value\notif,9999-12,0.90\n")
    env = {k: v for k, v in os.environ.items() if k not in ("SOP_PULSE_CONFIG", "DATABASE_URL", "SOP_PULSE_USER")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", SOP_PULSE_USER="tester", PYTHONIOENCODING="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "kpis", *args]
        return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, encoding="utf-8", timeout=300)

    assert run("db", "upgrade").returncode == 0
    r = run("import", "actuals", str(bad))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "import failed, nothing was written (1 problem):",
        f"far.csv, row 2, column 'period': period '9999-12' {OUTSIDE}",
    ]


def test_excel_and_parquet_dates_before_year_1000_keep_four_digits():
    start, err = periods.normalise([dt.date(1, 1, 1), dt.datetime(999, 5, 1), pd.Timestamp("2025-03-05")], "month")
    assert err.tolist() == [OUTSIDE, OUTSIDE, ""]
    s = pd.Series(pd.to_datetime(["0001-01-01", "2025-03-05"], format="%Y-%m-%d").astype("datetime64[s]"))
    start, err = periods.normalise(s, "month")
    assert err.tolist() == [OUTSIDE, ""] and start[1] == pd.Timestamp("2025-03-01")


def test_a_missing_datetime_among_dates_is_empty_not_a_crash():
    start, err = periods.normalise([pd.NaT, dt.date(2025, 3, 5)], "month")
    assert err.tolist() == ["is empty", ""]
