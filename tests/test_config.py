"""Tests for kpis.config: the shipped config, validation that lists every problem, database URL."""

import copy
import datetime as dt
import tomllib
from pathlib import Path

import pytest

from kpis import config as cfgmod
from kpis.config import ConfigError, load_config, parse_config, resolve_sqlite_path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "config.toml"

PRACTICE_IDS = {
    "collaboration",
    "alignment",
    "data",
    "technology",
    "process",
    "change",
    "improvement",
    "sponsorship",
    "partners",
    "evaluation",
}  # docs/methodology.md, Integration practices
FUNCTION_IDS = {"sales", "marketing", "finance", "supply", "production", "executive", "partners"}


@pytest.fixture
def raw():
    """The shipped config.toml as a TOML document to break."""
    return tomllib.loads(SHIPPED.read_text(encoding="utf-8"))


def kpi_index(raw: dict, kid: str) -> int:
    return next(i for i, k in enumerate(raw["kpi"]) if k["id"] == kid)


def problems_of(raw: dict, where: str = "broken.toml") -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(raw, where=where)
    return e.value.problems


# ---------------------------------------------------------------- the shipped config


def test_shipped_config_loads_with_at_least_18_kpis(config):
    assert len(config.kpis) >= 18


def test_shipped_config_covers_all_seven_functions(config):
    assert {k.function for k in config.kpis} == FUNCTION_IDS


def test_shipped_config_covers_all_ten_practices(config):
    assert set().union(*(k.practices for k in config.kpis)) == PRACTICE_IDS


def test_practice_ids_match_domain():
    assert set(cfgmod.PRACTICES) == PRACTICE_IDS


def test_shipped_kpi_ids_are_unique(config):
    ids = [k.id for k in config.kpis]
    assert len(ids) == len(set(ids))


def test_shipped_config_has_a_kpi_of_each_cadence(config):
    assert {k.cadence for k in config.kpis} == {"week", "month", "quarter"}


def test_shipped_config_has_every_direction(config):
    assert {k.direction for k in config.kpis} == {"higher", "lower", "band"}


def test_shipped_maturity_targets_cover_every_practice(config):
    assert set(config.maturity.targets) == PRACTICE_IDS


def test_stepping_target_steps_sorted(config):
    k = config.kpi_by_id["forecast_accuracy"]
    assert k.target_steps() == [(dt.date(2023, 11, 1), 0.78), (dt.date(2025, 1, 1), 0.82)]


def test_constant_target_starts_at_date_min(config):
    assert config.kpi_by_id["otif"].target_steps() == [(dt.date.min, 0.95)]


def test_percent_value_range_defaults_to_0_1(config):
    assert config.kpi_by_id["otif"].value_range == (0.0, 1.0)


def test_explicit_min_max_override_unit_range(config):
    assert config.kpi_by_id["forecast_bias"].value_range == (-1.0, 1.0)


# ---------------------------------------------------------------- single problems


def test_wrong_direction(raw):
    raw["kpi"][kpi_index(raw, "otif")]["direction"] = "up"
    assert problems_of(raw) == [
        "broken.toml: KPI 'otif' field 'direction': Input should be 'higher', 'lower' or 'band'"
    ]


def test_band_missing_for_band_direction(raw):
    del raw["kpi"][kpi_index(raw, "forecast_bias")]["band"]
    assert problems_of(raw) == [
        "broken.toml: KPI 'forecast_bias' field 'band': "
        "is required when direction is 'band' (half-width of the green band)"
    ]


def test_band_given_for_higher_direction(raw):
    raw["kpi"][kpi_index(raw, "otif")]["band"] = 0.02
    assert problems_of(raw) == ["broken.toml: KPI 'otif' field 'band': only applies when direction is 'band'"]


def test_unknown_practice(raw):
    raw["kpi"][kpi_index(raw, "otif")]["practices"] = ["process", "magic"]
    (p,) = problems_of(raw)
    assert p.startswith("broken.toml: KPI 'otif' field 'practices': ")
    assert "unknown practice(s) ['magic']" in p


def test_duplicate_id(raw):
    raw["kpi"][kpi_index(raw, "fill_rate")]["id"] = "otif"
    # otif is KPI #3 in the shipped file
    assert problems_of(raw) == ["broken.toml: KPI 'otif' field 'id': duplicate (also KPI #3)"]


def test_unknown_field(raw):
    raw["kpi"][kpi_index(raw, "otif")]["colour"] = "blue"
    assert problems_of(raw) == ["broken.toml: KPI 'otif' field 'colour': is not a known field"]


def test_missing_required_field(raw):
    del raw["kpi"][kpi_index(raw, "otif")]["owner"]
    assert problems_of(raw) == ["broken.toml: KPI 'otif' field 'owner': is required"]


def test_bad_target_period(raw):
    raw["kpi"][kpi_index(raw, "inventory_turns")]["target"] = [{"from": "2025-13", "value": 7.0}]
    (p,) = problems_of(raw)
    assert p.startswith("broken.toml: KPI 'inventory_turns' field 'target.0.from': '2025-13' month must be 01-12")


def test_target_period_at_wrong_cadence(raw):
    raw["kpi"][kpi_index(raw, "otif")]["target"] = [{"from": "2025-W05", "value": 0.9}]
    (p,) = problems_of(raw)
    assert p.startswith("broken.toml: KPI 'otif' field 'target.0.from': '2025-W05' is an ISO week")


def test_two_targets_from_same_period(raw):
    raw["kpi"][kpi_index(raw, "otif")]["target"] = [
        {"from": "2025-01", "value": 0.9},
        {"from": "2025-01-15", "value": 0.95},
    ]
    assert problems_of(raw) == ["broken.toml: KPI 'otif' field 'target.1.from': two targets start in 2025-01-15"]


def test_amber_greater_than_red(raw):
    k = raw["kpi"][kpi_index(raw, "otif")]
    k["amber"], k["red"] = 0.1, 0.05
    assert problems_of(raw) == ["broken.toml: KPI 'otif' field 'amber': 0.1 must not exceed red (0.05)"]


def test_negative_red(raw):
    raw["kpi"][kpi_index(raw, "otif")]["red"] = -0.01
    (p,) = problems_of(raw)
    assert p.startswith("broken.toml: KPI 'otif' field 'red': ")


def test_min_not_below_max(raw):
    k = raw["kpi"][kpi_index(raw, "days_of_supply")]
    k["min"], k["max"] = 10, 5
    assert problems_of(raw) == ["broken.toml: KPI 'days_of_supply' field 'min': 10.0 must be below max (5.0)"]


def test_practice_listed_twice(raw):
    raw["kpi"][kpi_index(raw, "otif")]["practices"] = ["process", "process"]
    assert problems_of(raw) == ["broken.toml: KPI 'otif' field 'practices': lists a practice twice"]


def test_unknown_section(raw):
    raw["extras"] = {"a": 1}
    (p,) = problems_of(raw)
    assert p.startswith("broken.toml: unknown section [extras]")


def test_unknown_key_in_section(raw):
    raw["app"]["colour"] = "blue"
    assert problems_of(raw) == ["broken.toml: [app] field 'colour': Extra inputs are not permitted"]


def test_section_value_out_of_range(raw):
    raw["app"]["max_upload_mb"] = 0
    (p,) = problems_of(raw)
    assert p.startswith("broken.toml: [app] field 'max_upload_mb': ")


def test_unknown_role(raw):
    raw["roles"]["users"]["bob"] = "superuser"
    (p,) = problems_of(raw)
    assert p.startswith("broken.toml: [roles] field 'users.bob': ")


def test_maturity_target_out_of_range(raw):
    raw["maturity"]["targets"]["data"] = 6
    (p,) = problems_of(raw)
    assert p.startswith("broken.toml: [maturity] field 'targets': ") and "levels must be 1-5" in p


def test_duplicate_stage(raw):
    raw["forecast"]["stages"] = ["naive", "sales", "naive"]
    assert problems_of(raw) == ["broken.toml: [forecast] field 'stages': lists a stage twice"]


def test_no_kpis(raw):
    raw["kpi"] = []
    assert problems_of(raw) == ["broken.toml: no [[kpi]] entries; the catalog needs at least one KPI"]


def test_kpi_without_id_is_named_by_position(raw):
    del raw["kpi"][0]["id"]
    assert problems_of(raw) == ["broken.toml: KPI '#1' field 'id': is required"]


# ---------------------------------------------------------------- all problems at once


def test_all_problems_reported_at_once(raw):
    r = copy.deepcopy(raw)
    r["kpi"][kpi_index(raw, "forecast_accuracy")]["direction"] = "up"
    del r["kpi"][kpi_index(raw, "forecast_bias")]["band"]
    r["kpi"][kpi_index(raw, "otif")]["practices"] = ["process", "magic"]
    r["kpi"][kpi_index(raw, "fill_rate")]["id"] = "otif"
    r["kpi"][kpi_index(raw, "days_of_supply")]["colour"] = "blue"
    r["kpi"][kpi_index(raw, "inventory_turns")]["target"] = [{"from": "2025-13", "value": 7.0}]
    pa = r["kpi"][kpi_index(raw, "production_plan_adherence")]
    pa["amber"], pa["red"] = 0.1, 0.05
    r["extras"] = {"a": 1}
    problems = problems_of(r, where="broken.toml")
    assert len(problems) == 8
    expected = [  # (KPI or section, field) each problem must name
        ("KPI 'forecast_accuracy'", "field 'direction'"),
        ("KPI 'forecast_bias'", "field 'band'"),
        ("KPI 'otif'", "field 'practices'"),
        ("KPI 'otif'", "field 'id'"),
        ("KPI 'days_of_supply'", "field 'colour'"),
        ("KPI 'inventory_turns'", "field 'target.0.from'"),
        ("KPI 'production_plan_adherence'", "field 'amber'"),
        ("unknown section [extras]", ""),
    ]
    for who, field in expected:
        assert any(p.startswith("broken.toml: ") and who in p and field in p for p in problems), (who, field)


def test_config_error_message_lists_every_problem(raw):
    raw["kpi"][kpi_index(raw, "otif")]["direction"] = "up"
    raw["kpi"][kpi_index(raw, "fill_rate")]["colour"] = "red"
    with pytest.raises(ConfigError) as e:
        parse_config(raw, where="broken.toml")
    assert str(e.value).splitlines() == e.value.problems
    assert len(e.value.problems) == 2


def test_load_config_names_the_file(tmp_path, raw):
    text = SHIPPED.read_text(encoding="utf-8").replace('direction = "higher"', 'direction = "upwards"', 1)
    p = tmp_path / "mine.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    # the first higher-is-better KPI is forecast_accuracy
    assert e.value.problems == [
        "mine.toml: KPI 'forecast_accuracy' field 'direction': Input should be 'higher', 'lower' or 'band'"
    ]


def test_load_config_invalid_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[app\ncompany = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.problems[0].startswith("bad.toml: not valid TOML: ")


def test_load_config_missing_file(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "nope.toml")
    assert e.value.problems == [f"{(tmp_path / 'nope.toml').resolve()}: file not found"]


# ---------------------------------------------------------------- database URL


def test_database_url_env_overrides(config, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@db.example/sop")
    assert config.database_url() == "postgresql+psycopg://u@db.example/sop"


def test_relative_sqlite_path_resolved_against_config_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "config.toml").write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # not the config folder
    cfg = load_config(folder / "config.toml")
    assert cfg.database_url() == f"sqlite:///{(folder / 'data' / 'sop_pulse.db').resolve()}"


def test_shipped_default_url_points_into_project_data(config, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert config.database_url() == f"sqlite:///{ROOT / 'data' / 'sop_pulse.db'}"


def test_relative_sqlite_env_url_also_resolved(config, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:///other.db")
    assert config.database_url() == f"sqlite:///{ROOT / 'other.db'}"


def test_absolute_sqlite_path_unchanged(tmp_path):
    url = f"sqlite:///{tmp_path}/x.db"  # absolute path: four slashes
    assert resolve_sqlite_path(url, Path("/elsewhere")) == url


def test_relative_sqlite_path_with_driver_resolved():
    # Regression: only the exact prefix 'sqlite:///' used to be recognised.
    assert resolve_sqlite_path("sqlite+pysqlite:///data/x.db", Path("/cfg")) == "sqlite+pysqlite:////cfg/data/x.db"


def test_relative_sqlite_path_keeps_query():
    assert resolve_sqlite_path("sqlite:///data/x.db?timeout=5", Path("/cfg")) == "sqlite:////cfg/data/x.db?timeout=5"


def test_memory_sqlite_unchanged():
    assert resolve_sqlite_path("sqlite:///:memory:", Path("/elsewhere")) == "sqlite:///:memory:"


def test_weekly_kpi_target_may_start_from_a_month(config):
    raw = tomllib.loads((ROOT / "config.toml").read_text())
    for k in raw["kpi"]:
        if k["id"] == "stockout_weeks":
            k["target"] = [{"from": "2023-11", "value": 16}, {"from": "2025-07", "value": 12}]
    cfg = parse_config(raw)
    steps = cfg.kpi_by_id["stockout_weeks"].target_steps()
    assert [d.isoformat() for d, _ in steps] == ["2023-10-30", "2025-06-30"]


# ---------------------------------------------------------------- [limits] (issue 20)


def test_limits_defaults_when_the_section_is_left_out(raw):
    raw.pop("limits", None)
    lim = parse_config(raw).limits
    assert (lim.max_rows, lim.max_decoded_mb, lim.max_expansion, lim.max_columns, lim.max_segments_per_kpi) == (
        25_000_000,
        4096,
        500,
        5_000,
        10_000,
    )
    assert lim.period_years == (1700, 2199)
    assert (lim.min_date, lim.max_date) == (dt.date(1900, 1, 1), dt.date(2199, 12, 31))


def test_shipped_limits_are_the_defaults(config):
    assert config.limits == cfgmod.LimitsSection()


def test_commented_limits_in_config_toml_are_the_defaults():
    """Every `# key = value` line of the shipped [limits] section is the default, and every key is there."""
    text = SHIPPED.read_text(encoding="utf-8").split("[limits]", 1)[1].split("\n[", 1)[0]
    commented = {}
    for line in text.splitlines():
        if line.startswith("# ") and " = " in line.split("#")[1]:
            key, value = line[2:].split("#", 1)[0].split(" = ", 1)
            commented[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
    assert commented == {k: getattr(cfgmod.LimitsSection(), k) for k in cfgmod.LimitsSection.model_fields}


def test_limits_read_from_toml_with_dates(raw):
    raw["limits"] = tomllib.loads(
        "max_rows = 1000\nmin_period_year = 2000\nmax_period_year = 2030\nmin_date = 2020-01-01\nmax_date = 2030-12-31"
    )
    lim = parse_config(raw).limits
    assert lim.max_rows == 1000 and lim.period_years == (2000, 2030)
    assert (lim.min_date, lim.max_date) == (dt.date(2020, 1, 1), dt.date(2030, 12, 31))


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({"min_period_year": 1600}, "[limits] field 'min_period_year': Input should be greater than or equal to 1678"),
        ({"max_period_year": 9999}, "[limits] field 'max_period_year': Input should be less than or equal to 2261"),
        (
            {"min_period_year": 2100, "max_period_year": 2000},
            "[limits] field 'max_period_year': Value error, 2000 is before min_period_year (2100)",
        ),
        ({"max_date": dt.date(9999, 12, 31)}, "[limits] field 'max_date': Value error, must lie between 1678-01-01"),
        ({"min_date": dt.date(1, 1, 1)}, "[limits] field 'min_date': Value error, must lie between 1678-01-01"),
        ({"min_date": dt.date(2030, 1, 1), "max_date": dt.date(2020, 1, 1)}, "[limits] field 'max_date': Value error"),
        ({"max_rows": 0}, "[limits] field 'max_rows': Input should be greater than or equal to 1"),
        ({"max_expansion": 1}, "[limits] field 'max_expansion': Input should be greater than 1"),
        ({"max_colums": 10}, "[limits] field 'max_colums': Extra inputs are not permitted"),
    ],
)
def test_limits_refused_with_field(raw, limits, problem):
    raw["limits"] = limits
    found = problems_of(raw)
    assert any(p.startswith(f"broken.toml: {problem}") for p in found), found


def test_target_from_outside_the_supported_years_is_a_problem(raw):
    raw["kpi"][kpi_index(raw, "otif")]["target"] = [{"from": "9999-01", "value": 0.9}]
    assert problems_of(raw) == [
        "broken.toml: KPI 'otif' field 'target.0.from': '9999-01' is outside the supported years 1700 to 2199 "
        "(config [limits] min_period_year, max_period_year)"
    ]


# ---------------------------------------------------------------- late data: due_days and data_owner


def test_shipped_config_has_a_catalog_due_days_and_a_weekly_kpi_of_its_own(config):
    assert config.catalog.due_days == 10
    assert config.kpi_by_id["stockout_weeks"].due_days == 3 and config.kpi_by_id["otif"].due_days is None


@pytest.mark.parametrize("bad", [-1, 2.5, "5", True, 367])
def test_due_days_must_be_a_whole_number_of_days(raw, bad):
    raw["kpi"][kpi_index(raw, "otif")]["due_days"] = bad
    raw["catalog"]["due_days"] = bad
    assert problems_of(raw) == [
        f"broken.toml: [catalog] field 'due_days': Value error, {bad!r} is not a whole number of days from 0 to 366 "
        "(days after the period ends)",
        f"broken.toml: KPI 'otif' field 'due_days': Value error, {bad!r} is not a whole number of days from 0 to 366 "
        "(days after the period ends)",
    ]


def test_due_days_zero_and_no_default_are_fine(raw):
    raw["kpi"][kpi_index(raw, "otif")]["due_days"] = 0
    del raw["catalog"]
    cfg = parse_config(raw)
    assert cfg.kpi_by_id["otif"].due_days == 0 and cfg.catalog.due_days is None


def test_data_owner_is_a_name(raw):
    raw["kpi"][kpi_index(raw, "otif")]["data_owner"] = ""
    assert problems_of(raw) == ["broken.toml: KPI 'otif' field 'data_owner': String should have at least 1 character"]
    raw["kpi"][kpi_index(raw, "otif")]["data_owner"] = "Logistics Desk"
    assert parse_config(raw).kpi_by_id["otif"].data_owner == "Logistics Desk"


def test_unknown_key_in_the_catalog_section(raw):
    raw["catalog"]["due"] = 5
    assert problems_of(raw) == ["broken.toml: [catalog] field 'due': Extra inputs are not permitted"]
