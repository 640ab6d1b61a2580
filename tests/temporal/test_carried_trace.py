"""The trace events an action's activity request carries (behaviour 4): at most
`CARRIED_TRACE_BYTES` of them as JSON, so that a fan-out of large outputs cannot make the
request larger than Temporal takes; the rest go by the trace pump, and every event is
still written once, in order."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from engine.actions.api import ActionContext, ActionDefinition
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.coordinator.behaviour import Behaviour
from engine.temporal import versioning
from engine.temporal.activities import SegueActivities
from engine.temporal.tracing import CARRIED_TRACE_BYTES, TraceLog
from engine.temporal.types import (
    INTERPRETER_WORKFLOW,
    InterpreterInput,
    InterpreterResult,
    TraceBatch,
    TraceRecord,
)
from tests.support.releases import EarlierRelease
from tests.support.temporal import BackgroundLoop, running_worker

BRANCHES = 12
BLOB = "x" * 60_000  # each branch's output: traced whole (under the 64 KiB a trace keeps)


def _record(seq: int, size: int) -> TraceRecord:
    return TraceRecord(seq, "COMPLETED", "info", 0, "t", output="y" * size, has_output=True)


@pytest.mark.parametrize(
    ("sizes", "limit", "budget", "taken"),
    [
        ([10, 10, 10], 500, None, 3),  # no budget: up to the count
        ([10, 10, 10], 2, None, 2),
        ([100_000, 100_000, 100_000], 500, 256 * 1024, 2),  # the third would pass the budget
        ([400_000, 10], 500, 256 * 1024, 1),  # one alone over the budget still goes
        ([10] * 5, 500, 256 * 1024, 5),
        ([], 500, 256 * 1024, 0),
    ],
    ids=["no-budget", "count", "budget", "one-over-alone", "all-fit", "none"],
)  # fmt: skip
def test_take_stops_at_the_count_or_the_budget(
    sizes: list[int], limit: int, budget: int | None, taken: int
) -> None:
    log = TraceLog()
    log.pending = [_record(seq, size) for seq, size in enumerate(sizes, 1)]
    batch = log.take(limit, budget)
    assert [r.seq for r in batch] == list(range(1, taken + 1))
    assert [r.seq for r in log.pending] == list(range(taken + 1, len(sizes) + 1))


def _passthrough(data: Any, context: ActionContext) -> Any:
    return data


CATALOG = ActionCatalog([*builtin_actions(), ActionDefinition("test.remote", _passthrough)])
WORKFLOW = f"""
version: 1
input:
  blob: {{type: string}}
tasks:
  start:
    action: core.noop
    next: [{{do: [{", ".join(f"b{i}" for i in range(BRANCHES))}]}}]
{
    "".join(
        f'''  b{i}:
    action: core.echo
    input: <% $ctx.blob %>
    next: [{{do: after}}]
'''
        for i in range(BRANCHES)
    )
}  after:
    join: all
    action: test.remote
    input: {{done: true}}
"""


@pytest.fixture(scope="module")
def worker(
    temporal_address: str, background_loop: BackgroundLoop
) -> Iterator[tuple[Client, str, list[TraceBatch]]]:
    written: list[TraceBatch] = []

    async def sink(batch: TraceBatch) -> None:
        written.append(batch)

    activities = SegueActivities(CATALOG, trace_sink=sink)
    with running_worker(background_loop, temporal_address, activities, "segue-carried") as (
        client,
        queue,
    ):
        yield client, queue, written


def _run(loop: BackgroundLoop, worker: tuple[Client, str, list[TraceBatch]]) -> tuple[int, str]:
    """Run the fan-out; (the size of the `after` request's payload, the run id)."""
    client, queue, _ = worker
    run_id = f"carried-{uuid.uuid4().hex[:10]}"
    params = InterpreterInput(run_id, "carried", "1", WORKFLOW, {"blob": BLOB}, queue)

    async def go() -> int:
        handle = await client.start_workflow(
            INTERPRETER_WORKFLOW, params, id=run_id, task_queue=queue, result_type=InterpreterResult
        )
        result = await handle.result()
        assert result.status == "succeeded", result.errors
        sizes = [
            sum(len(p.data) for p in e.activity_task_scheduled_event_attributes.input.payloads)
            async for e in handle.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        assert len(sizes) == 1  # `after`: the only action that runs as an activity
        return sizes[0]

    return loop.run(go()), run_id


def _written_seqs(written: list[TraceBatch], run_id: str) -> list[int]:
    return sorted(r.seq for batch in written if batch.run_id == run_id for r in batch.events)


@pytest.mark.temporal
def test_a_fan_out_of_large_outputs_carries_at_most_the_budget(
    background_loop: BackgroundLoop,
    worker: tuple[Client, str, list[TraceBatch]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    size, run_id = _run(background_loop, worker)
    assert size <= CARRIED_TRACE_BYTES + 4096  # the budget, and the request around it
    seqs = _written_seqs(worker[2], run_id)
    assert seqs == list(range(1, len(seqs) + 1))  # every event once, none missing

    # Control: on behaviour 3 the same request carried every pending event.
    monkeypatch.setattr(versioning, "workflow", EarlierRelease(Behaviour.OBSERVED))
    size, run_id = _run(background_loop, worker)
    assert size > BRANCHES * len(BLOB)
    seqs = _written_seqs(worker[2], run_id)
    assert seqs == list(range(1, len(seqs) + 1))
