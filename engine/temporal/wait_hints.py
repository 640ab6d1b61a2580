"""What a person reads in the progress when a task starts to wait: how to answer it.

A waiting approval used to show only "approve #1 started" (issue 13, point 9). The hint
is a trace event of its own, so the CLI's live progress, SSE and `segue trace` all show
it; it is written only for runs on behaviour 2 and later, since a trace event shifts the
sequence numbers of every event after it and a replayed older run must write the same
events it wrote before.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.coordinator import DispatchAction


def wait_hint(command: DispatchAction, run_id: str) -> str:
    """One line: what the task waits for and the command that answers it."""
    data: dict[str, Any] = command.input if isinstance(command.input, dict) else {}
    task = command.execution.task
    item = "" if command.item is None else f" --item {command.item}"
    if command.action == "core.approval":
        approve = json.dumps({"approved": True, "by": "you"})
        return (
            f"waiting for approval: segue signal {run_id} {task}{item} --payload '{approve}'"
            ' (reject with {"approved": false})'
        )
    event, key = data.get("event"), data.get("key", data.get("correlation_key"))
    if event is not None and key is not None:
        return f"waiting for event {event!r}: segue events send {event} --key {key} --payload JSON"
    return f"waiting for an answer: segue signal {run_id} {task}{item} --payload JSON"
