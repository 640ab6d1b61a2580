"""What `ActionDefinition` accepts, and `ActionError` as data."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from engine.actions import ActionContext, ActionDefinition, ActionError, Placement


def handler(input: Any, context: ActionContext) -> None:
    return None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retry_defaults": {"count": 1, "tries": 3}}, "unknown keys ['tries']"),
        ({"retry_defaults": {"count": -1}}, "retry_defaults.count must be a number >= 0"),
        ({"retry_defaults": {"count": 1.5}}, "retry_defaults.count must be a whole number"),
        ({"retry_defaults": {"delay": True}}, "retry_defaults.delay must be a number >= 0"),
        ({"retry_defaults": {"delay": "1"}}, "retry_defaults.delay must be a number >= 0"),
        ({"retry_defaults": {"backoff": 0.5}}, "retry_defaults.backoff must be >= 1"),
        ({"heartbeat_timeout": 0}, "heartbeat_timeout must be a positive number"),
        ({"input_schema": {"type": "nonsense"}}, "input_schema is not a valid JSON Schema"),
    ],
)
def test_bad_metadata_is_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ActionDefinition("t.bad", handler, **options)


def test_placement_must_be_a_placement() -> None:
    with pytest.raises(TypeError, match="placement must be a Placement, got 'workflow'"):
        ActionDefinition("t.bad", handler, placement="workflow")  # type: ignore[arg-type]
    assert ActionDefinition("t.good", handler).placement is Placement.ACTIVITY


def test_handlers_must_take_input_and_context() -> None:
    with pytest.raises(TypeError, match="must accept two positional arguments"):
        ActionDefinition("t.bad", lambda input: input)  # type: ignore[arg-type, misc]
    with pytest.raises(TypeError, match="must be callable"):
        ActionDefinition("t.bad", "handler")  # type: ignore[arg-type]
    ActionDefinition("t.varargs", lambda *args: None)  # anything that binds two arguments


def test_retry_defaults_are_frozen() -> None:
    definition = ActionDefinition("t.ok", handler, retry_defaults={"count": 2.0, "delay": 0.5})
    assert dict(definition.retry_defaults or {}) == {"count": 2, "delay": 0.5}
    with pytest.raises(TypeError):
        definition.retry_defaults["count"] = 5  # type: ignore[index]


def test_schema_draft_and_formats() -> None:
    definition = ActionDefinition(
        "t.ok",
        handler,
        input_schema={"type": "object", "properties": {"when": {"format": "date"}}},
    )
    assert definition.input_violations({"when": "2026-01-31"}) == []
    assert definition.input_violations({"when": "yesterday"}) == [
        "input.when: 'yesterday' is not a 'date'"
    ]
    assert ActionDefinition("t.free", handler).input_violations(object()) == []


def test_action_error_as_data() -> None:
    error = ActionError("quota", "over quota", {"limit": 3})
    assert str(error) == "quota: over quota"
    assert error.to_json() == {"type": "quota", "message": "over quota", "details": {"limit": 3}}
    assert ActionError("x", "y").to_json() == {"type": "x", "message": "y"}
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.type, copy.message, copy.details) == ("quota", "over quota", {"limit": 3})


def test_context_defaults() -> None:
    context = ActionContext(run_id="r", workflow="w", task="t")
    assert (context.iteration, context.route, context.attempt, context.item) == (1, 0, 1, None)
    context.heartbeat({"x": 1})
    context.progress(1)
    context.log("info", "nowhere")
    assert context.is_cancelled() is False
