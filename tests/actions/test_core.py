"""The `core.*` actions as plain actions (outside the workflow's native handling)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from engine.actions import (
    ActionCatalog,
    ActionContext,
    ActionError,
    Placement,
    invoke,
    invoke_inline,
)
from engine.actions.builtin import HOST_FORMS, workflow_actions
from tests.actions.conftest import Recorder

CATALOG = ActionCatalog.builtin()


def call(name: str, input: Any, context: ActionContext) -> Any:
    return asyncio.run(invoke(CATALOG, name, input, context))


def failure(name: str, input: Any, context: ActionContext) -> ActionError:
    with pytest.raises(ActionError) as caught:
        call(name, input, context)
    return caught.value


def test_noop_and_echo(context: ActionContext) -> None:
    assert call("core.noop", {"anything": 1}, context) is None
    value = {"message": "hi", "list": [1, None, {"x": True}]}
    assert call("core.echo", value, context) == value
    assert call("core.echo", None, context) is None


def test_fail(context: ActionContext) -> None:
    error = failure("core.fail", None, context)
    assert (error.type, error.message, error.details) == ("fail", "failed by core.fail", None)
    error = failure(
        "core.fail", {"type": "disk_full", "message": "no space", "details": [1]}, context
    )
    assert error.to_json() == {"type": "disk_full", "message": "no space", "details": [1]}
    assert failure("core.fail", {"typo": 1}, context).type == "invalid_input"


def test_sleep_waits_and_heartbeats(recorder: Recorder) -> None:
    started = time.monotonic()
    assert call("core.sleep", {"seconds": 0.1}, recorder.context()) is None
    assert 0.09 <= time.monotonic() - started < 1
    assert recorder.heartbeats and recorder.heartbeats[-1] == {"remaining": 0.0}
    assert failure("core.sleep", {"seconds": -1}, recorder.context()).type == "invalid_input"


def test_sleep_stops_when_cancelled(recorder: Recorder) -> None:
    recorder.cancelled = True
    error = failure("core.sleep", {"seconds": 10}, recorder.context())
    assert error.type == "canceled"


@pytest.mark.parametrize("name", ["core.wait_event", "core.approval"])
def test_waits_are_native_only(context: ActionContext, name: str) -> None:
    error = failure(name, {}, context)
    assert error.type == "native_only"
    assert name in error.message
    definition = CATALOG.get(name)
    assert definition is not None and definition.placement is Placement.WORKFLOW


INLINE_CASES = [
    ("core.noop", {"anything": 1}),
    ("core.echo", {"message": "hi", "n": [1, 2]}),
    ("core.fail", None),
    ("core.fail", {"type": "disk_full", "message": "no space", "details": [1]}),
    ("core.fail", {"typo": 1}),
]


@pytest.mark.parametrize(("name", "data"), INLINE_CASES)
def test_inline_runs_as_invoke_does(context: ActionContext, name: str, data: Any) -> None:
    """In the workflow and in `segue simulate` these run inline: same result, same error."""
    definition = workflow_actions()[name]

    def outcome(run: Any) -> Any:
        try:
            return ("result", run())
        except ActionError as error:
            return ("error", error.to_json())

    inline = outcome(lambda: invoke_inline(definition, data, context))
    invoked = outcome(lambda: asyncio.run(invoke(CATALOG, name, data, context)))
    assert inline == invoked


def test_every_workflow_action_runs_inline_or_has_a_host_form() -> None:
    for name, definition in workflow_actions().items():
        assert definition.placement is Placement.WORKFLOW
        assert name in HOST_FORMS or not definition.is_async, name
    assert set(workflow_actions()) >= HOST_FORMS
    assert {d.name for d in CATALOG if d.placement is Placement.WORKFLOW} == set(workflow_actions())
