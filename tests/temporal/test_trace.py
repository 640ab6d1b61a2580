"""Trace events reach PostgreSQL from the real worker: each exactly once, in order, with
iteration/route/attempt, and the run projection follows the run to its end."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import pytest

from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.store import (
    get_run,
    open_pool,
    trace_event_json,
    trace_page,
)
from engine.temporal.activities import SegueActivities
from engine.temporal.store_sink import trace_sink
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop, start_recorded
from tests.temporal.test_runs import MONITOR, TEST_ACTIONS

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


def test_trace_of_a_monitoring_loop(
    temporal_address: str, postgres_url: str, background_loop: BackgroundLoop
) -> None:
    async def scenario() -> tuple[list[dict[str, Any]], Any]:
        pool = await open_pool(postgres_url)
        try:
            client = await connect(temporal_address)
            queue = f"segue-trace-{uuid.uuid4().hex[:8]}"
            activities = SegueActivities(
                ActionCatalog([*builtin_actions(), *TEST_ACTIONS]), trace_sink=trace_sink(pool)
            )
            async with build_worker(client, activities, task_queue=queue):
                run_id = f"traced-{uuid.uuid4().hex[:8]}"
                handle = await start_recorded(client, pool, queue, "monitor", MONITOR, run_id)
                await handle.result()
            events = [trace_event_json(e) for e in await trace_page(pool, run_id, 0, 1000)]
            return events, await get_run(pool, run_id)
        finally:
            await pool.close()

    events, run = background_loop.run(scenario())
    types = [e["type"] for e in events]
    assert types[0] == "WORKFLOW_STARTED" and types[-1] == "WORKFLOW_COMPLETED"
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    started = Counter(
        (e["nodeId"], e["data"]["iteration"]) for e in events if e["type"] == "STARTED"
    )
    completed = Counter(
        (e["nodeId"], e["data"]["iteration"]) for e in events if e["type"] == "COMPLETED"
    )
    expected = {
        ("check", 1): 1,
        ("check", 2): 1,
        ("check", 3): 1,
        ("wait", 1): 1,
        ("wait", 2): 1,
        ("done", 1): 1,
    }
    assert started == expected and completed == expected
    assert all(
        {"iteration", "route", "attempt"} <= set(e["data"]) for e in events if e.get("nodeId")
    )
    assert run is not None and run.status == "COMPLETED" and run.output == {"checks": 3}
    assert run.progress_completed == 6 and run.progress_total == 6
    _check_transitions(events)


# Every transition of the monitoring loop, in trace order (behaviour 3): the execution's
# task and iteration, the transition index, its `when` (None: it has none), whether it
# was taken, and where it led. Published values never appear, only names.
MONITOR_TRANSITIONS = [
    ("check", 1, 0, False, False, ["done"]),
    ("check", 1, 1, True, True, ["wait"]),
    ("wait", 1, 0, None, True, ["check"]),
    ("check", 2, 0, False, False, ["done"]),
    ("check", 2, 1, True, True, ["wait"]),
    ("wait", 2, 0, None, True, ["check"]),
    ("check", 3, 0, True, True, ["done"]),
    ("check", 3, 1, False, False, ["wait"]),
]


def _check_transitions(events: list[dict[str, Any]]) -> None:
    """Each TRANSITION follows its source's COMPLETED and precedes what it started."""
    seen = [
        (e["nodeId"], e["data"]["iteration"], e["data"]["transition"], e["data"].get("when"),
         e["data"]["taken"], e["data"]["targets"])
        for e in events if e["type"] == "TRANSITION"
    ]  # fmt: skip
    assert seen == MONITOR_TRANSITIONS
    completed_at = {
        e["data"]["execution"]: index for index, e in enumerate(events) if e["type"] == "COMPLETED"
    }
    for index, event in enumerate(events):
        if event["type"] != "TRANSITION":
            continue
        data = event["data"]
        assert completed_at[data["execution"]] < index
        assert data["published"] == (
            ["checks"] if data["taken"] and event["nodeId"] == "check" else []
        )
        assert data["commands"] == []
        assert ("when" in data) == (event["nodeId"] == "check")  # wait's transition has none
    # check#1's taken transition comes before wait#1 starts.
    taken = [i for i, e in enumerate(events) if e["type"] == "TRANSITION" and e["data"]["taken"]]
    waits = [i for i, e in enumerate(events) if e["type"] == "STARTED" and e["nodeId"] == "wait"]
    assert taken[0] < waits[0]


def test_a_nul_character_in_run_data_does_not_block_the_trace(
    temporal_address: str, postgres_url: str, background_loop: BackgroundLoop
) -> None:
    """PostgreSQL refuses U+0000 in text and jsonb: the trace stores it escaped."""
    text = """
version: 1
tasks:
  nul:
    action: core.echo
    input: <% "a" & $string($ctx.zero) & "b" %>
    next: [{publish: {said: <% $result %>}}]
vars: {zero: "\\u0000"}
output: <% $ctx.said %>
"""

    async def scenario() -> Any:
        pool = await open_pool(postgres_url)
        try:
            client = await connect(temporal_address)
            queue = f"segue-nul-{uuid.uuid4().hex[:8]}"
            activities = SegueActivities(ActionCatalog.builtin(), trace_sink=trace_sink(pool))
            async with build_worker(client, activities, task_queue=queue):
                run_id = f"nul-{uuid.uuid4().hex[:8]}"
                handle = await start_recorded(client, pool, queue, "nul", text, run_id)
                result = await asyncio.wait_for(handle.result(), 60)
            return result, await get_run(pool, run_id)
        finally:
            await pool.close()

    result, run = background_loop.run(scenario())
    assert result.status == "succeeded" and result.output == "a\x00b"
    assert run is not None and run.status == "COMPLETED" and run.output == "a\\u0000b"
