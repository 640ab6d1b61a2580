"""An execution's COMPLETED event says how long its attempt waited for a worker and then
ran (behaviour 5, `data.queuedMs` and `data.ranMs`): two branches of a 1 s action on a
worker that runs one activity at a time, so one of them waits about 1 s in the task
queue."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import Client

from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.store import open_pool, trace_page
from engine.temporal.activities import SegueActivities
from engine.temporal.store_sink import trace_sink
from engine.temporal.tracing import TraceLog
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop, start_recorded
from tests.temporal.test_runs import TEST_ACTIONS

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

BRANCHES = """
version: 1
tasks:
  split:
    next: [{do: [left, right]}]
  left:
    action: test.slow
    input: {seconds: 1}
  right:
    action: test.slow
    input: {seconds: 1}
"""


def test_the_wait_for_a_worker_is_in_the_completed_event(
    temporal_address: str, postgres_url: str, background_loop: BackgroundLoop
) -> None:
    async def scenario() -> list[Any]:
        pool = await open_pool(postgres_url)
        client: Client = await connect(temporal_address)
        queue = f"segue-wait-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(
            ActionCatalog([*builtin_actions(), *TEST_ACTIONS]), trace_sink=trace_sink(pool)
        )
        async with build_worker(client, activities, task_queue=queue, max_concurrent_activities=1):
            handle = await start_recorded(client, pool, queue, "branches", BRANCHES)
            await handle.result()
        page = await trace_page(pool, handle.id, 0, 1000)
        await pool.close()
        return [e.data for e in page if e.type == "COMPLETED" and e.node_id != "split"]

    completed = background_loop.run(scenario(), timeout=120)
    timings = sorted((data["queuedMs"], data["ranMs"]) for data in completed)
    assert len(timings) == 2, completed
    (first_queued, first_ran), (second_queued, second_ran) = timings
    assert first_queued < 500 and second_queued >= 800, timings  # behind the other's 1 s
    assert 1000 <= first_ran < 5000 and 1000 <= second_ran < 5000, timings


def test_only_figures_a_worker_could_report_are_kept() -> None:
    """An outcome without them (an older worker) or with a negative one (completed
    through Temporal's API by someone else) leaves the COMPLETED event as it was."""
    log = TraceLog()
    log.timed(1, None, 10)
    log.timed(2, -5, 10)
    log.timed(3, 4, -1)
    log.timed(4, 4, 5)
    assert log.timings == {4: {"queuedMs": 4, "ranMs": 5}}
