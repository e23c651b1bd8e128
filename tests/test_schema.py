"""The JSON Schema is generated from the spec models, committed fresh, and accepts every example."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from sloengine.specs.schema import json_schema, schema_text

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "schema" / "sloengine-v1.schema.json"


def test_committed_schema_is_what_the_models_generate():
    assert COMMITTED.read_text() == schema_text(), "run `make schema` to regenerate schema/sloengine-v1.schema.json"


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_validates_against_the_schema(example):
    jsonschema.Draft202012Validator(json_schema()).validate(yaml.safe_load(example.read_text()))


def test_schema_rejects_an_unknown_key_and_an_out_of_range_objective():
    validator = jsonschema.Draft202012Validator(json.loads(COMMITTED.read_text()))
    base = yaml.safe_load((REPO / "examples" / "homepage-probe.yaml").read_text())
    typo = json.loads(json.dumps(base))
    typo["slos"][0]["objetive"] = 99
    assert not validator.is_valid(typo)
    too_high = json.loads(json.dumps(base))
    too_high["slos"][0]["objective"] = 100
    assert not validator.is_valid(too_high)


def test_committed_report_schema_is_what_the_report_module_defines():
    from sloengine.reports.report import schema_text as report_schema_text

    committed = REPO / "schema" / "sloengine-report-v1.schema.json"
    assert committed.read_text() == report_schema_text(), "run `make schema` to regenerate the report schema"
