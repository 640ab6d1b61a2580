"""The JSON Schema of the format: valid draft 2020-12, documented, strict."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator

from engine.language.schema import workflow_schema


def _object_schemas(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "properties" in node:
            yield node
        for value in node.values():
            yield from _object_schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _object_schemas(value)


def test_schema_is_draft_2020_12_with_identity() -> None:
    schema = workflow_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"]


def test_every_mapping_of_the_format_is_closed_and_documented() -> None:
    for node in _object_schemas(workflow_schema()):
        assert node.get("additionalProperties") is False, sorted(node["properties"])
        for name, prop in node["properties"].items():
            assert "description" in prop, name


def test_top_level_and_task_keys() -> None:
    schema = workflow_schema()
    assert set(schema["properties"]) == {
        "version", "description", "input", "vars", "max_iterations", "timeout",
        "concurrency", "retry", "start", "tasks", "output", "schedules", "concurrency_limits",
    }  # fmt: skip
    assert set(schema["$defs"]["task"]["properties"]) == {
        "action", "workflow", "input", "next", "join", "with", "retry", "timeout", "delay",
        "max_iterations", "run", "concurrency_limits",
    }  # fmt: skip
    assert set(schema["$defs"]["transition"]["properties"]) == {"when", "publish", "do"}
    assert schema["required"] == ["version", "tasks"]


def test_user_values_stay_open() -> None:
    validator = Draft202012Validator(workflow_schema())
    document = {
        "version": 1,
        "input": {"url": {"type": "string", "x-anything": 1}},
        "vars": {"any": {"nested": [1, {"deep": None}]}},
        "tasks": {"a": {"input": {"free": {"form": True}}, "next": [{"publish": {"k": [1]}}]}},
        "output": [1, "two", {"three": 3}],
    }
    assert list(validator.iter_errors(document)) == []
