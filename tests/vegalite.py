"""Vega-Lite specs as the browser receives them, checked against the Vega-Lite schema (the one altair ships)."""

import json
from functools import cache
from importlib import resources

import jsonschema


@cache
def _validator():
    schema = json.loads(resources.files("altair.vegalite.v6.schema").joinpath("vega-lite-schema.json").read_text())
    return jsonschema.Draft7Validator(schema)


def valid(spec: dict) -> dict:
    """The spec as the browser receives it (datasets as records) after checking it against the schema."""
    plain = {**spec, "datasets": {k: json.loads(d.to_json(orient="records")) for k, d in spec["datasets"].items()}}
    error = jsonschema.exceptions.best_match(_validator().iter_errors(plain))
    assert error is None, f"{list(error.path)}: {error.message[:400]}"
    return plain
