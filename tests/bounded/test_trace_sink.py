"""Issue 11, case 1: run data nested deeper than anything can recurse into is traced cut
to depth, and a trace that can never be written ends the run with a clear error instead
of retrying for ever."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError

from engine.actions.catalog import ActionCatalog
from engine.store import get_run, open_pool, trace_event_json, trace_page
from engine.temporal.activities import SegueActivities, TraceUnrecordable
from engine.temporal.storable import CUT_MARKER, storable
from engine.temporal.store_sink import trace_sink
from engine.temporal.types import INTERPRETER_WORKFLOW, InterpreterResult, TraceBatch
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop, record_run, start_interpreter

# Deeper than a recursive copy survives (two frames a level), shallow enough for JSON
# encoders. Only a client that skips the API (which refuses past 64) can send it.
DEEP = 600


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


DEEP_INPUT = """
version: 1
input:
  a: {}
tasks:
  look:
    action: core.noop
"""


def test_storable_is_iterative_and_cuts_at_depth() -> None:
    value = {"a": nested(100_000), "nul": "a\x00b"}
    stored = storable(value)
    assert stored["nul"] == "a\\u0000b"
    level, depth = stored["a"], 1
    while isinstance(level, list):
        level, depth = level[0], depth + 1
    assert level == CUT_MARKER and depth == 64  # the dict and 63 lists: 64 levels


@pytest.mark.temporal
@pytest.mark.postgres
def test_a_deep_run_input_is_traced_cut_and_the_run_completes(
    temporal_address: str, postgres_url: str, background_loop: BackgroundLoop
) -> None:
    async def scenario() -> tuple[Any, Any, list[dict[str, Any]], float]:
        pool = await open_pool(postgres_url)
        try:
            client = await connect(temporal_address)
            queue = f"segue-deep-{uuid.uuid4().hex[:8]}"
            activities = SegueActivities(ActionCatalog.builtin(), trace_sink=trace_sink(pool))
            async with build_worker(client, activities, task_queue=queue):
                began = time.monotonic()
                params = await record_run(pool, "deep", DEEP_INPUT, queue)
                params = dataclasses.replace(params, input={"a": nested(DEEP)})
                handle = await client.start_workflow(
                    INTERPRETER_WORKFLOW,
                    params,
                    id=params.run_id,
                    task_queue=queue,
                    result_type=InterpreterResult,
                )
                result = await asyncio.wait_for(handle.result(), 60)
                took = time.monotonic() - began
            events = [trace_event_json(e) for e in await trace_page(pool, handle.id, 0, 100)]
            return result, await get_run(pool, handle.id), events, took
        finally:
            await pool.close()

    result, run, events, took = background_loop.run(scenario())
    assert result.status == "succeeded" and took < 30
    assert run is not None and run.status == "COMPLETED"
    started = [e for e in events if e["type"] == "WORKFLOW_STARTED"]
    assert len(started) == 1 and "nested deeper than 64" in started[0]["outputSummary"]
    assert events[-1]["type"] == "WORKFLOW_COMPLETED"


@pytest.mark.temporal
def test_a_trace_that_cannot_be_written_fails_the_run(
    temporal_address: str, background_loop: BackgroundLoop
) -> None:
    async def refuse(batch: TraceBatch) -> None:
        raise TraceUnrecordable("ValueError: this store refuses everything")

    async def scenario() -> tuple[BaseException | None, float]:
        client = await connect(temporal_address)
        queue = f"segue-untraced-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(ActionCatalog.builtin(), trace_sink=refuse)
        async with build_worker(client, activities, task_queue=queue):
            began = time.monotonic()
            handle = await start_interpreter(client, queue, ECHO, name="untraced", trace=True)
            try:
                await asyncio.wait_for(handle.result(), 60)
            except WorkflowFailureError as failure:
                return failure.cause, time.monotonic() - began
            return None, time.monotonic() - began

    cause, took = background_loop.run(scenario())
    assert cause is not None and took < 30
    assert getattr(cause, "type", None) == "trace_unrecordable"
    assert "this store refuses everything" in str(cause)


ECHO = """
version: 1
tasks:
  say:
    action: core.echo
    input: hello
"""
