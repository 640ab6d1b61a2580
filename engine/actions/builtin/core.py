"""The `core.*` actions. All are placed in the workflow: the Temporal binding carries
them out without an activity. `noop`, `echo` and `fail` run their handler inline there
(`invoke_inline`); `sleep` and the waits have durable forms of their own (`HOST_FORMS`).
The handlers serve `invoke` everywhere else."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from engine.actions.api import ActionContext, ActionDefinition, ActionError, Placement
from engine.actions.builtin.common import HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT

_OBJECT_OR_NULL: Final = ["object", "null"]
_WORKFLOW: Final = Placement.WORKFLOW

# Workflow-placed actions the host carries out in a durable form of its own instead of
# calling the handler: `core.sleep` is a timer, the waits wait for a signal. Every other
# workflow-placed action runs its handler inline (`invoke_inline`), in the workflow and in
# `segue simulate` alike, so both compute the same result.
HOST_FORMS: Final = frozenset({"core.sleep", "core.wait_event", "core.approval"})
# The host forms that wait for the outside world (a signal or a correlated event).
WAITS: Final = frozenset({"core.wait_event", "core.approval"})
# The error type of an approval answered `approved: false`.
REJECTED: Final = "rejected"


def approval_rejection(answer: Any) -> str | None:
    """The comment of an answer that rejects a `core.approval` (`approved: false`), or
    None: it approves. A rejection fails the task with a REJECTED error whose details
    are the answer, in the workflow and in an exported case alike."""
    if isinstance(answer, dict) and answer.get("approved") is False:
        return str(answer.get("comment") or "approval rejected")
    return None


def noop(input: Any, context: ActionContext) -> None:
    """Do nothing; the result is null."""
    return None


def echo(input: Any, context: ActionContext) -> Any:
    """Return the input unchanged."""
    return input


def fail(input: Any, context: ActionContext) -> None:
    """Fail the attempt with the given error type and message."""
    given = input or {}
    raise ActionError(
        given.get("type", "fail"), given.get("message", "failed by core.fail"), given.get("details")
    )


async def sleep(input: Any, context: ActionContext) -> None:
    """Wait `seconds`, heartbeating every few seconds; the result is null."""
    deadline = time.monotonic() + float(input["seconds"])
    while (remaining := deadline - time.monotonic()) > 0:
        if context.is_cancelled():
            raise ActionError("canceled", "core.sleep was canceled")
        await asyncio.sleep(min(remaining, HEARTBEAT_INTERVAL))
        context.heartbeat({"remaining": max(deadline - time.monotonic(), 0.0)})


def _workflow_only(name: str) -> ActionDefinition:
    def handler(input: Any, context: ActionContext) -> None:
        raise ActionError(
            "native_only",
            f"{name} runs only inside a workflow on the Temporal binding "
            "(it waits for a signal); it cannot run as a plain action",
        )

    return ActionDefinition(
        name,
        handler,
        placement=_WORKFLOW,
        description=(
            "Wait for an event delivered to the run (POST /events or /runs/{id}/signals/{task})"
            if name == "core.wait_event"
            else "Wait until a person approves or rejects (POST /runs/{id}/signals/{task})"
        ),
        input_schema={"type": _OBJECT_OR_NULL},
    )


def core_actions() -> tuple[ActionDefinition, ...]:
    """The `core.*` definitions."""
    return (
        ActionDefinition(
            "core.noop", noop, placement=_WORKFLOW, description="Do nothing; result null"
        ),
        ActionDefinition(
            "core.echo", echo, placement=_WORKFLOW, description="Return the input unchanged"
        ),
        ActionDefinition(
            "core.fail",
            fail,
            placement=_WORKFLOW,
            description="Fail with {type, message, details} from the input",
            input_schema={
                "type": _OBJECT_OR_NULL,
                "properties": {
                    "type": {"type": "string", "minLength": 1},
                    "message": {"type": "string"},
                    "details": {},
                },
                "additionalProperties": False,
            },
        ),
        ActionDefinition(
            "core.sleep",
            sleep,
            placement=_WORKFLOW,
            description="Wait `seconds` (a durable timer when run natively)",
            input_schema={
                "type": "object",
                "properties": {"seconds": {"type": "number", "minimum": 0}},
                "required": ["seconds"],
                "additionalProperties": False,
            },
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
        ),
        _workflow_only("core.wait_event"),
        _workflow_only("core.approval"),
    )
