"""The maturity rubric in config.toml: shipped texts, and validation that names file, section and field."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kpis.config import PRACTICES, ConfigError, parse_config
from kpis.maturity import rubric

SHIPPED = Path(__file__).resolve().parents[2] / "config.toml"


@pytest.fixture
def raw():
    return tomllib.loads(SHIPPED.read_text(encoding="utf-8"))


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_config(raw, where="broken.toml")
    return e.value.problems


def test_shipped_rubric_has_five_levels_and_texts_for_every_practice(config):
    r = rubric.rubric(config)
    assert r.levels == ("Reactive", "Defined", "Integrated", "Collaborative", "Orchestrated")
    assert set(r.texts) == set(PRACTICES) and all(len(t) == 5 for t in r.texts.values())
    assert r.text("sponsorship", 3) == "Executive chairs the meeting and decides"
    assert r.level_name(4) == "4 · Collaborative"
    assert r.target("data") == 3


def test_rubric_problems_are_all_listed_with_section_and_field(raw):
    raw["maturity"]["rubric"]["data"] = raw["maturity"]["rubric"]["data"][:4]
    raw["maturity"]["rubric"]["process"][2] = "  "
    raw["maturity"]["rubric"]["magic"] = ["a", "b", "c", "d", "e"]
    del raw["maturity"]["rubric"]["partners"]
    assert problems_of(raw) == [
        "broken.toml: [maturity.rubric] field 'data': needs 5 level texts (levels 1 to 5), got 4",
        "broken.toml: [maturity.rubric] field 'process': level 3 text is empty",
        "broken.toml: [maturity.rubric] field 'magic': unknown practice; expected any of " + str(list(PRACTICES)),
        "broken.toml: [maturity.rubric] has no level texts for practice(s) ['partners']",
    ]


def test_level_names_must_be_five(raw):
    raw["maturity"]["levels"] = ["Low", "High"]
    (p,) = problems_of(raw)
    assert p.startswith("broken.toml: [maturity] field 'levels': ")


def test_rubric_is_optional(raw):
    del raw["maturity"]["rubric"], raw["maturity"]["levels"]
    cfg = parse_config(raw)
    r = rubric.rubric(cfg)
    assert r.levels[0] == "Reactive" and r.text("data", 1) == ""
