"""The JSON Schema of the native format, generated from :mod:`sloengine.specs.spec`.

Generated rather than hand-kept so it can never drift from what ``validate``
accepts; a test checks the committed copy is fresh and that every example
validates against it.
"""

from __future__ import annotations

import json
from typing import Any

from .spec import ServiceLevelsSpec

SCHEMA_ID = "https://sloengine.dev/schema/sloengine-v1.schema.json"


def json_schema() -> dict[str, Any]:
    schema = ServiceLevelsSpec.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
