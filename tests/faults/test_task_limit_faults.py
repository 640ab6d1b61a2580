"""Concurrency limits on a task under faults: `kill -9` the worker while one run's task
holds a slot and another run's task waits for it, and terminate the holding run from
Temporal while no worker is up (it can never release). The next worker's reaper finds the
run closed, releases its task's slot and wakes the waiting task by its holder name; that
task then runs, its run completes, and nothing is left behind."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import pytest

from engine.temporal.types import InterpreterResult
from engine.temporal.worker import connect
from tests.support.limits import leases as leases_of_runs
from tests.support.limits import until, usage
from tests.support.processes import start_worker, stop_process
from tests.support.temporal import BackgroundLoop, start_recorded_run

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


def probe_workflow(limit: str, seconds: int) -> str:
    """Its `work` task holds `limit` for the key `h` while it sleeps `seconds`."""
    return f"""
version: 1
input:
  host: {{type: string, default: h}}
tasks:
  work:
    action: core.sleep
    input: {{seconds: {seconds}}}
    concurrency_limits:
      {limit}: {{limit: 1, key: <% $ctx.host %>}}
"""


def test_the_reaper_frees_the_task_slot_of_a_run_lost_with_its_worker(
    tmp_path: Path, temporal_address: str, postgres_url: str, background_loop: BackgroundLoop
) -> None:
    queue = f"task-limit-kill-{uuid.uuid4().hex[:8]}"
    limit = f"per_host_{uuid.uuid4().hex[:8]}"
    holder, waiter = (f"task-limit-kill-{uuid.uuid4().hex[:8]}" for _ in range(2))
    first = start_worker(temporal_address, queue, postgres_url, tmp_path / "worker-1.log")
    second = None
    try:
        background_loop.run(
            start_recorded_run(
                postgres_url, temporal_address, queue, "holds", probe_workflow(limit, 600), holder
            )
        )
        until(
            lambda: [x.holding for x in background_loop.run(leases_of_runs(postgres_url, holder))],
            "the first run's task holds the slot",
        )
        background_loop.run(
            start_recorded_run(
                postgres_url, temporal_address, queue, "waits", probe_workflow(limit, 1), waiter
            )
        )
        until(
            lambda: background_loop.run(usage(postgres_url, limit)) == (1, 1),
            "one task holds the slot and one waits",
        )
        (held,) = background_loop.run(leases_of_runs(postgres_url, holder))
        assert held.holder.startswith("work/")  # the task's attempt holds, not the run

        first.send_signal(signal.SIGKILL)
        assert first.wait(15) == -signal.SIGKILL

        async def terminate_the_holder() -> None:
            client = await connect(temporal_address)
            await client.get_workflow_handle(holder).terminate(reason="fault test")

        background_loop.run(terminate_the_holder())  # no worker: it cannot release
        assert background_loop.run(usage(postgres_url, limit)) == (1, 1)
        second = start_worker(temporal_address, queue, postgres_url, tmp_path / "worker-2.log")

        async def waiter_result() -> str:
            client = await connect(temporal_address)
            handle = client.get_workflow_handle(waiter, result_type=InterpreterResult)
            return (await handle.result()).status

        assert background_loop.run(waiter_result(), timeout=120) == "succeeded"
        until(
            lambda: background_loop.run(usage(postgres_url, limit)) == (0, 0),
            "the limit is free again",
            30,
        )
        assert background_loop.run(leases_of_runs(postgres_url, holder, waiter)) == []
    finally:
        stop_process(first)
        stop_process(second)
