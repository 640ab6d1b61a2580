"""An example Segue action pack: one plain (sync) action and one async action.

Registered by the entry point `example = "segue_example_actions:ACTIONS"` in group
`segue.actions`, so the workflow names are `example.greet` and `example.count`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine.actions import ActionContext, ActionDefinition, ActionError


def greet(input: dict[str, Any], context: ActionContext) -> dict[str, Any]:
    """Return a greeting for `name`."""
    # A plain function runs in a worker thread: blocking calls are fine here.
    greeting = input.get("greeting", "Hello")
    return {"message": f"{greeting}, {input['name']}!", "task": context.task}


async def count(input: dict[str, Any], context: ActionContext) -> dict[str, Any]:
    """Count from 1 to `n`, reporting each step; `delay` seconds between steps."""
    n: int = input["n"]
    for step in range(1, n + 1):
        if context.is_cancelled():
            raise ActionError("canceled", f"stopped counting at {step - 1} of {n}")
        context.heartbeat({"step": step})  # resumable position, kept by the host
        context.progress(step, n, f"counted {step} of {n}")
        await asyncio.sleep(input.get("delay", 0))
    return {"counted": n}


ACTIONS = {
    "greet": ActionDefinition(
        "example.greet",  # a pack renames members to <entry point>.<key> anyway
        greet,
        description="Return a greeting for `name`",
        input_schema={
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "greeting": {"type": "string"},
            },
            "required": ["name"],
            "additionalProperties": False,
        },
        retry_defaults={"count": 2, "delay": 1},
    ),
    "count": ActionDefinition(
        "example.count",
        count,
        description="Count to `n` with a heartbeat and a progress message per step",
        input_schema={
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 0, "maximum": 100000},
                "delay": {"type": "number", "minimum": 0},
            },
            "required": ["n"],
            "additionalProperties": False,
        },
        heartbeat_timeout=30,
    ),
}
