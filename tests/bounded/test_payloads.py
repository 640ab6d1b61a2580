"""Issue 11, case 4: what Temporal would refuse as too large (over 2 MiB) fails the task
or the run with a `payload_too_large` error entry, at once, instead of a workflow task
retried for ever while the store says COMPLETED."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from engine.actions.api import ActionContext, ActionDefinition
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.store import RunRecord, get_run, open_pool
from engine.temporal.activities import SegueActivities
from engine.temporal.store_sink import trace_sink
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop, start_recorded

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

BLOB = 200_000  # under the expression result limit (256 KiB)


async def _blob(data: Any, context: ActionContext) -> str:
    return "x" * int(data["bytes"])


def publishing(tasks: int, output: str) -> str:
    """`tasks` tasks in a chain, each publishing a 200 KB string as `b<i>`."""
    lines = ["version: 1", "tasks:"]
    for index in range(tasks):
        lines += [f"  t{index}:", "    action: test.blob", f"    input: {{bytes: {BLOB}}}"]
        step = f"      - publish: {{b{index}: <% $result %>}}"
        lines += ["    next:", step] + ([f"        do: t{index + 1}"] if index + 1 < tasks else [])
    return "\n".join(lines) + "\n" + output


def fields(count: int) -> str:
    """`count` fields, each the one published 200 KB string: a payload built from a context
    under its own cap (512 KiB, behaviour 3)."""
    return "{" + ", ".join(f"f{i}: <% $ctx.b0 %>" for i in range(count)) + "}"


THREE_MB_OUTPUT = publishing(1, f"output: {fields(15)}\n")
# Three published 200 KB strings: a context of 600 KB, over its 512 KiB cap.
LARGE_CONTEXT = publishing(3, "")
HUGE_RESULT = """
version: 1
tasks:
  big:
    action: test.blob
    input: {bytes: 1500000}
"""
# One published 200 KB string handed six times to one action: 1.2 MB of input.
HUGE_INPUT = (
    publishing(1, "").replace(
        "tasks:\n", f"tasks:\n  last:\n    action: core.echo\n    input: {fields(6)}\n", 1
    )
    + "start: [t0]\n"
)
HUGE_INPUT = HUGE_INPUT.replace(
    "      - publish: {b0: <% $result %>}", "      - publish: {b0: <% $result %>}\n        do: last"
)


def run_to_end(
    temporal_address: str, postgres_url: str, loop: BackgroundLoop, text: str
) -> tuple[Any, RunRecord | None, WorkflowExecutionStatus | None, float]:
    async def scenario() -> tuple[Any, RunRecord | None, WorkflowExecutionStatus | None, float]:
        pool = await open_pool(postgres_url)
        try:
            client = await connect(temporal_address)
            queue = f"segue-payload-{uuid.uuid4().hex[:8]}"
            catalog = ActionCatalog([*builtin_actions(), ActionDefinition("test.blob", _blob)])
            activities = SegueActivities(catalog, trace_sink=trace_sink(pool))
            async with build_worker(client, activities, task_queue=queue):
                began = time.monotonic()
                handle = await start_recorded(client, pool, queue, "payload", text)
                try:
                    outcome: Any = await asyncio.wait_for(handle.result(), 90)
                except WorkflowFailureError as failure:
                    outcome = failure.cause
                took = time.monotonic() - began
                described = await handle.describe()
            await asyncio.sleep(0.5)  # the last trace batch
            return outcome, await get_run(pool, handle.id), described.status, took
        finally:
            await pool.close()

    return loop.run(scenario(), timeout=150)


def _error_types(run: RunRecord | None) -> list[str]:
    assert run is not None
    return [entry.get("type") for entry in (run.errors or [])]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param(THREE_MB_OUTPUT, "the run output", id="output-3MB"),
        pytest.param(HUGE_RESULT, "returned 1,500,00", id="result-1.5MB"),
        pytest.param(HUGE_INPUT, "the action input", id="input-1.2MB"),
        pytest.param(LARGE_CONTEXT, "publishing 'b2' makes the run's context", id="context-600KB"),
    ],
)
def test_an_oversized_payload_fails_the_run_with_a_typed_error(
    temporal_address: str,
    postgres_url: str,
    background_loop: BackgroundLoop,
    text: str,
    where: str,
) -> None:
    outcome, run, status, took = run_to_end(temporal_address, postgres_url, background_loop, text)
    assert status == WorkflowExecutionStatus.FAILED, outcome
    assert took < 60
    assert run is not None and run.status == "FAILED", run
    assert "payload_too_large" in _error_types(run), run.errors
    assert where in str(run.errors)
