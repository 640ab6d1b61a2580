"""The `core.*` actions. All are native: the Temporal binding runs them inside the
workflow without an activity; the handlers here serve `invoke` everywhere else."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

from engine.actions.api import ActionContext, ActionDefinition, ActionError
from engine.actions.builtin.common import HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT

_OBJECT_OR_NULL: Final = ["object", "null"]


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


def _native_only(name: str) -> ActionDefinition:
    def handler(input: Any, context: ActionContext) -> None:
        raise ActionError(
            "native_only",
            f"{name} runs only inside a workflow on the Temporal binding "
            "(it waits for a signal); it cannot run as a plain action",
        )

    return ActionDefinition(
        name,
        handler,
        native=True,
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
        ActionDefinition("core.noop", noop, native=True, description="Do nothing; result null"),
        ActionDefinition("core.echo", echo, native=True, description="Return the input unchanged"),
        ActionDefinition(
            "core.fail",
            fail,
            native=True,
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
            native=True,
            description="Wait `seconds` (a durable timer when run natively)",
            input_schema={
                "type": "object",
                "properties": {"seconds": {"type": "number", "minimum": 0}},
                "required": ["seconds"],
                "additionalProperties": False,
            },
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
        ),
        _native_only("core.wait_event"),
        _native_only("core.approval"),
    )
