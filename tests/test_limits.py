"""Tests for kpis.limits: a Parquet "bomb" refused from its footer, a header of a million commas refused in
linear time, too many segments, periods and dates outside the supported ranges (issue 20)."""

import datetime as dt
import io
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kpis import limits
from kpis.config import LimitsSection

ROOT = Path(__file__).resolve().parent.parent
BOMB_ROWS = 20_000_000
DEFAULTS = LimitsSection()


def _table(n: int, *, same: bool) -> pa.Table:
    """Demand rows: item, period, actual; all identical (same) or all different."""
    if same:
        items, values = pa.array(["SKU-000001"] * n), pa.array([1.0] * n)
    else:
        items, values = pa.array([f"SKU-{i:06d}" for i in range(n)]), pa.array([float(i) * 1.37 for i in range(n)])
    return pa.table({"item": items, "period": pa.array([dt.date(2025, 1, 6)] * n, pa.date32()), "actual": values})


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A demand file of about 224 kB holding 20 million identical rows (issue 20's bomb)."""
    path = tmp_path_factory.mktemp("bomb") / "demand.parquet"
    chunk = _table(1_000_000, same=True)
    with pq.ParquetWriter(path, chunk.schema, compression="zstd") as w:
        for _ in range(BOMB_ROWS // len(chunk)):
            w.write_table(chunk, row_group_size=len(chunk))
    return path


def _sensible(n: int = 50_000) -> bytes:
    buf = io.BytesIO()
    pq.write_table(_table(n, same=False), buf)
    return buf.getvalue()


# ---------------------------------------------------------------- Parquet


def test_bomb_is_what_the_issue_describes(bomb):
    assert bomb.stat().st_size < 300_000
    assert pq.read_metadata(bomb).num_rows == BOMB_ROWS


def test_bomb_is_refused_from_its_footer_naming_file_rows_and_limit(bomb):
    t = time.perf_counter()
    problems = limits.check_parquet(bomb, DEFAULTS)
    took = time.perf_counter() - t
    assert took < 0.5
    assert len(problems) == 1
    p = problems[0]
    assert (p.file, p.row, p.column) == ("demand.parquet", None, None)
    assert "20,000,000 rows" in p.message and "limit of 500 times" in p.message and "max_expansion" in p.message
    assert str(p).startswith("demand.parquet: file of ")


def test_bomb_refused_by_row_limit_too(bomb):
    problems = limits.check_parquet(bomb, LimitsSection(max_rows=5_000_000, max_expansion=1e9), "upload.parquet")
    assert [str(p) for p in problems] == [
        "upload.parquet: file holds 20,000,000 rows, over the limit of 5,000,000 rows an import may have "
        "(config [limits] max_rows); split the file"
    ]


def test_bomb_refused_by_decoded_size(bomb):
    problems = limits.check_parquet(bomb, LimitsSection(max_decoded_mb=100, max_expansion=1e9))
    assert len(problems) == 1 and "over the limit of 100 MB (config [limits] max_decoded_mb)" in problems[0].message


def test_bomb_check_keeps_memory_small(bomb):
    """Peak memory of the check, in a fresh process: the footer only (reading the rows takes gigabytes)."""
    code = (
        "import resource, sys\n"
        "import pyarrow.parquet\n"
        "from kpis import limits\n"
        "from kpis.config import LimitsSection\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "problems = limits.check_parquet(sys.argv[1], LimitsSection())\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(len(problems), after - before)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(bomb)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    n, grew_kb = map(int, r.stdout.split())
    assert n == 1
    assert grew_kb < 20_000  # under 20 MB; decoding the 20 M rows takes over 300 MB


def test_sensible_file_passes_as_path_bytes_and_file(tmp_path):
    data = _sensible()
    path = tmp_path / "demand.parquet"
    path.write_bytes(data)
    assert limits.check_parquet(path, DEFAULTS) == []
    assert limits.check_parquet(data, DEFAULTS, "demand.parquet") == []
    assert limits.check_parquet(io.BytesIO(data), DEFAULTS, "demand.parquet") == []
    facts = limits.parquet_facts(data)
    assert (facts.rows, facts.columns, facts.file_bytes) == (50_000, 3, len(data))
    assert facts.decoded_bytes >= 50_000 * 20 and facts.expansion < 50


def test_bench_generator_files_pass(tmp_path):
    """Real-looking forecast data (bench/generate.py) is far from the expansion limit."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from generate import generate
    finally:
        sys.path.remove(str(ROOT / "bench"))
    files = generate(tmp_path, items=300, periods=52, lags=2)
    for path in files.values():
        assert limits.check_parquet(path, DEFAULTS) == []
        assert limits.parquet_facts(path).expansion < DEFAULTS.max_expansion / 10


def test_not_parquet_is_one_clean_problem():
    problems = limits.check_parquet(b"kpi,period,value\n", DEFAULTS, "demand.parquet")
    assert len(problems) == 1 and problems[0].message.startswith("cannot read the file as Parquet: ")


def test_parquet_with_too_many_columns(tmp_path):
    buf = io.BytesIO()
    pq.write_table(pa.table({f"c{i}": [1] for i in range(30)}), buf)
    problems = limits.check_parquet(buf.getvalue(), LimitsSection(max_columns=20), "wide.parquet")
    assert [str(p) for p in problems] == [
        "wide.parquet, row 1: header has 30 columns, more than any import uses (at most 20, config [limits] "
        "max_columns); is this the right file?"
    ]


def test_problem_has_the_fields_of_an_import_problem():
    from kpis.imports.problems import Problem

    p = limits.LimitProblem("a.csv", 3, "period", "is wrong")
    assert str(Problem(*p)) == str(p) == "a.csv, row 3, column 'period': is wrong"


# ---------------------------------------------------------------- CSV header


def test_megabyte_of_commas_refused_in_linear_time():
    data = b"," * 1_048_576 + b"\n1,2\n"
    t = time.perf_counter()
    problems = limits.check_header(data, DEFAULTS, "commas.csv")
    took = time.perf_counter() - t
    assert took < 0.1
    assert [str(p) for p in problems] == [
        "commas.csv, row 1: header has 1,048,577 columns, more than any import uses (at most 5,000, "
        "config [limits] max_columns); is this the right file?"
    ]


def test_quoted_megabyte_header_refused_in_linear_time():
    data = b'"a",' * 262_144 + b"\n"
    t = time.perf_counter()
    problems = limits.check_header(data, DEFAULTS, "quoted.csv")
    assert time.perf_counter() - t < 0.5
    assert len(problems) == 1 and "262,145 columns" in problems[0].message


def test_time_grows_linearly_with_the_header():
    def took(n: int) -> float:
        data = b"," * n
        t = time.perf_counter()
        for _ in range(5):
            limits.check_header(data, DEFAULTS, "x.csv")
        return time.perf_counter() - t

    small, big = took(200_000), took(2_000_000)
    assert big < 0.5 and big < small * 40  # quadratic would be 100 times


@pytest.mark.parametrize(
    ("first_line", "columns"),
    [
        (b"kpi,period,value", 3),
        (b"\xef\xbb\xbfkpi;period;value;segment\r\n", 4),
        (b'kpi,"period, start",value\n', 3),
        (b"kpi,segment,2025-01,2025-02,2025-03", 5),
        (b"", 1),
        (b'kpi,"unbalanced,value', 2),
    ],
)
def test_header_columns(first_line, columns):
    assert limits.header_columns(first_line + b"\notif,2025-01,1\n") == columns


def test_sample_files_pass():
    for path in (ROOT / "data" / "samples").glob("*.csv"):
        assert limits.check_header(path.read_bytes(), DEFAULTS, path.name) == [], path.name


def test_header_exactly_at_the_limit_passes():
    assert limits.check_header(b"," * 4_999, DEFAULTS, "x.csv") == []
    assert len(limits.check_header(b"," * 5_000, DEFAULTS, "x.csv")) == 1


# ---------------------------------------------------------------- segments


def test_segments_over_the_limit_named_per_kpi():
    problems = limits.check_segments({"otif": 3_000_004, "fill_rate": 12}, DEFAULTS, "actuals.csv")
    assert [str(p) for p in problems] == [
        "actuals.csv, column 'segment': KPI 'otif' would have 3,000,004 segments, more than the 10,000 a KPI may "
        "have (config [limits] max_segments_per_kpi); is the segment column holding something else, like an "
        "order number?"
    ]


def test_segments_at_the_limit_pass_and_a_pandas_count_works():
    import pandas as pd

    rows = pd.DataFrame({"kpi_id": ["a"] * 3 + ["b"], "segment": ["x", "y", "z", "x"]})
    counts = rows.groupby("kpi_id")["segment"].nunique()
    assert limits.check_segments(counts, LimitsSection(max_segments_per_kpi=3), "f.csv") == []
    assert [p.message[:28] for p in limits.check_segments(counts, LimitsSection(max_segments_per_kpi=2), "f.csv")] == [
        "KPI 'a' would have 3 segment"
    ]


# ---------------------------------------------------------------- periods and dates


@pytest.mark.parametrize("text", ["9999-12", "0001-01", "2263-01", "9999-W52", "1677-09", "9999-Q4", "2200-01-01"])
def test_period_outside_supported_years(text):
    assert limits.period_problem(text) == (
        f"period '{text}' is outside the supported years 1700 to 2199 (config [limits] min_period_year, "
        "max_period_year)"
    )


@pytest.mark.parametrize("text", ["2025-03", "1700-01", "2199-W52", "2199-12-31", "2025Q1", "junk", "", "2025-13"])
def test_period_inside_or_not_a_period_is_none(text):
    assert limits.period_problem(text) is None


def test_period_range_follows_config():
    narrow = LimitsSection(min_period_year=2000, max_period_year=2030)
    assert limits.period_problem("1999-12", narrow) == (
        "period '1999-12' is outside the supported years 2000 to 2030 (config [limits] min_period_year, "
        "max_period_year)"
    )
    assert limits.period_problem("2030-12", narrow) is None


@pytest.mark.parametrize("day", [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(1899, 12, 31), dt.date(2200, 1, 1)])
def test_date_outside_plausible_range(day):
    assert limits.date_problem(day, DEFAULTS, "due date") == (
        f"due date {day.isoformat()} is outside the plausible range 1900-01-01 to 2199-12-31 "
        "(config [limits] min_date, max_date)"
    )


@pytest.mark.parametrize(
    "day", [dt.date(1900, 1, 1), dt.date(2199, 12, 31), dt.date(2026, 6, 30), dt.datetime(2026, 6, 30, 12)]
)
def test_date_inside_plausible_range(day):
    assert limits.date_problem(day, DEFAULTS) is None


# ---------------------------------------------------------------- a whole CSV


def test_csv_rows_counted_before_reading():
    data = b"kpi,period,value\n" + b"otif,2025-01,0.9\n" * 12
    assert limits.check_csv(data, LimitsSection(max_rows=12), "a.csv") == []
    assert limits.check_csv(data.rstrip(b"\n"), LimitsSection(max_rows=12), "a.csv") == []
    assert [str(p) for p in limits.check_csv(data, LimitsSection(max_rows=11), "a.csv")] == [
        "a.csv: file holds 12 lines of data, over the limit of 11 rows an import may have (config [limits] "
        "max_rows); split the file"
    ]


def test_csv_header_and_rows_both_named():
    data = b"," * 10 + b"\n" + b"1\n" * 5
    problems = limits.check_csv(data, LimitsSection(max_rows=4, max_columns=10), "b.csv")
    assert [p.message.split(",")[0] for p in problems] == ["header has 11 columns", "file holds 5 lines of data"]


def test_csv_without_newline_is_a_header_only():
    assert limits.check_csv(b"kpi,period,value", DEFAULTS, "c.csv") == []
    assert limits.check_csv(b"", DEFAULTS, "c.csv") == []


def test_csv_of_many_megabytes_checked_in_linear_time():
    data = b"kpi,period,value\n" + b"otif,2025-01,0.9\n" * 2_000_000  # 34 MB
    t = time.perf_counter()
    assert limits.check_csv(data, DEFAULTS, "big.csv") == []
    assert time.perf_counter() - t < 0.5
