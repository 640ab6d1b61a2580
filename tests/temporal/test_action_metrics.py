"""A worker's action-level metrics match the attempts a run made — counted by the worker
that ran each attempt, once — after a worker restart in the middle of the run (the new
worker replays the history to go on) and after one more replay of the whole history
(engine/temporal/action_metrics.py)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Replayer

from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.store import open_pool
from engine.temporal.activities import SegueActivities
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.interpreter import Interpreter
from engine.temporal.metrics import prometheus_runtime
from engine.temporal.store_sink import trace_sink
from engine.temporal.worker import build_worker, connect, workflow_runner
from tests.support.temporal import BackgroundLoop, start_recorded, wait_for_event
from tests.temporal.test_metrics import _by, _free_port, _samples
from tests.temporal.test_runs import TEST_ACTIONS

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

# Two failed attempts and a success, a timer to restart the worker in, one more success.
WORKFLOW = """
version: 1
start: [first]
tasks:
  first:
    action: test.flaky
    input: {failures: 2}
    retry: {count: 3, delay: 0.1}
    next: [{do: hold}]
  hold:
    delay: 2
    next: [{do: second}]
  second:
    action: test.flaky
    input: {failures: 0}
"""

# (metric, label picked out) -> the values the run's attempts give.
EXPECTED = {
    ("segue_task_attempts_total", "error_type"): {"flaky": 2, "none": 2},
    ("segue_task_duration_seconds_count", "status"): {"failed": 2, "succeeded": 2},
    ("segue_task_queue_wait_seconds_count", "action"): {"test.flaky": 4},
}


def _ours(text: str, name: str) -> dict[str, float]:
    """`{labels: value}` of the samples of `name` for the test action."""
    return _samples(text, name, 'action="test.flaky"')


def test_attempts_are_counted_once_across_a_worker_restart_and_a_replay(
    temporal_address: str, postgres_url: str, background_loop: BackgroundLoop
) -> None:
    address = f"127.0.0.1:{_free_port()}"
    runtime = prometheus_runtime(address)
    queue = f"action-metrics-{uuid.uuid4().hex[:8]}"
    catalog = ActionCatalog([*builtin_actions(), *TEST_ACTIONS])

    async def run() -> Any:
        pool = await open_pool(postgres_url)
        try:
            client: Client = await connect(temporal_address, runtime=runtime)

            def worker() -> Any:
                activities = SegueActivities(
                    catalog, trace_sink=trace_sink(pool), meter=runtime.metric_meter
                )
                return build_worker(client, activities, task_queue=queue)

            async with worker():
                handle = await start_recorded(client, pool, queue, "metered", WORKFLOW)
                await wait_for_event(handle, EventType.EVENT_TYPE_TIMER_STARTED)
            # A new worker: empty cache, so it replays the history before going on.
            async with worker():
                await handle.result()
            return await handle.fetch_history()
        finally:
            await pool.close()

    history = background_loop.run(run(), 120)
    scraped = httpx.get(f"http://{address}/metrics", timeout=10).text
    for (name, label), expected in EXPECTED.items():
        assert _by(_ours(scraped, name), label) == expected, name
    assert "segue_trace_sink_lag_seconds{" in scraped
    lag = [
        float(line.rsplit(" ", 1)[1])
        for line in scraped.splitlines()
        if line.startswith("segue_trace_sink_lag_seconds{")
    ]
    assert lag and all(0 <= value < 60 for value in lag)

    replayer = Replayer(
        workflows=[Interpreter],
        workflow_runner=workflow_runner(),
        data_converter=DATA_CONVERTER,
        runtime=runtime,
    )
    assert background_loop.run(replayer.replay_workflow(history)).replay_failure is None
    again = httpx.get(f"http://{address}/metrics", timeout=10).text
    for name, _label in EXPECTED:
        assert _ours(again, name) == _ours(scraped, name), name
    # The workflow's own counters stayed at one run through the restart's replay too.
    runs = [line for line in again.splitlines() if line.startswith("segue_runs_started_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in runs if "metered" in line) == 1
