"""A cancelled or timed-out run actually stops its actions (issue 18, case 3): the
attempt learns of the cancellation at its next heartbeat (the wrapper beats every
HEARTBEAT_EVERY seconds, and the worker sends beats that often), an `async def` handler
is cancelled there, and a plain handler sees `context.is_cancelled()` turn true. Each
action records its own start and end in a file: the witness of what really ran."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from engine.actions.api import ActionContext, ActionDefinition
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.temporal.activities import HEARTBEAT_EVERY, SegueActivities
from engine.temporal.types import INTERPRETER_WORKFLOW, InterpreterInput, InterpreterResult
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop

pytestmark = pytest.mark.temporal
WITNESS_SECONDS = 15
# The run's end, plus the next beat, plus a round trip and a margin for a loaded machine.
STOPPED_WITHIN = 3 + HEARTBEAT_EVERY + 4


def _note(path: str, event: str, context: ActionContext) -> None:
    with Path(path).open("a") as witness:
        witness.write(json.dumps({"event": event, "run": context.run_id}) + "\n")


async def _async_witness(data: Any, context: ActionContext) -> str:
    _note(data["file"], "start", context)
    try:
        await asyncio.sleep(WITNESS_SECONDS)
    except asyncio.CancelledError:
        _note(data["file"], "cancelled", context)
        raise
    _note(data["file"], "end", context)
    return "done"


def _thread_witness(data: Any, context: ActionContext) -> str:
    _note(data["file"], "start", context)
    deadline = time.monotonic() + WITNESS_SECONDS
    while time.monotonic() < deadline:
        if context.is_cancelled():
            _note(data["file"], "cancelled", context)
            return "stopped"
        time.sleep(0.1)
    _note(data["file"], "end", context)
    return "done"


@pytest.fixture(scope="module")
def worker(temporal_address: str, background_loop: BackgroundLoop) -> Iterator[tuple[Client, str]]:
    async def start() -> tuple[Client, str, Any]:
        client = await connect(temporal_address)
        queue = f"segue-cancel-{uuid.uuid4().hex[:8]}"
        catalog = ActionCatalog(
            [
                *builtin_actions(),
                ActionDefinition("witness.async", _async_witness),
                ActionDefinition("witness.thread", _thread_witness),
            ]
        )
        running = build_worker(client, SegueActivities(catalog), task_queue=queue)
        await running.__aenter__()
        return client, queue, running

    client, queue, running = background_loop.run(start())
    try:
        yield client, queue
    finally:
        background_loop.run(running.__aexit__(None, None, None))


@pytest.mark.parametrize("action", ["witness.async", "witness.thread"])
def test_a_run_timeout_stops_the_action(
    action: str, tmp_path: Path, background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    client, queue = worker
    witness = tmp_path / "witness.jsonl"
    text = f"""
version: 1
timeout: 3
tasks:
  work:
    action: {action}
    input: {{file: "{witness}"}}
    timeout: 60
"""
    run_id = f"cancel-{uuid.uuid4().hex[:8]}"
    params = InterpreterInput(run_id, "cancel", "1", text, {}, queue, trace=False)
    started = time.monotonic()

    async def run() -> None:
        handle = await client.start_workflow(
            INTERPRETER_WORKFLOW, params, id=run_id, task_queue=queue, result_type=InterpreterResult
        )
        # The run fails with `timeout`: what matters here is the witness.
        with contextlib.suppress(Exception):
            await handle.result()

    background_loop.run(run(), 30)
    deadline = started + STOPPED_WITHIN
    while time.monotonic() < deadline:
        events = [json.loads(line)["event"] for line in witness.read_text().splitlines()]
        if "cancelled" in events:
            break
        time.sleep(0.2)
    events = [json.loads(line)["event"] for line in witness.read_text().splitlines()]
    assert events == ["start", "cancelled"], events
    time.sleep(1)
    assert "end" not in witness.read_text()
