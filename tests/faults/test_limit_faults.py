"""Concurrency limits under faults: `kill -9` the worker while one run holds a limit's slot
and another waits for it; a new worker takes both runs over, the holder finishes and its
release wakes the waiter, and no slot or place in line is left behind. (Terminating a
holding run from Temporal is tests/api/test_concurrency_limits.py: the reaper.)"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest

from engine.store import open_pool, trace_page
from engine.temporal.types import InterpreterResult
from engine.temporal.worker import connect
from tests.support.limits import leases as leases_of_runs
from tests.support.limits import until, usage
from tests.support.processes import start_worker, stop_process
from tests.support.temporal import BackgroundLoop, start_recorded_run

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


def limited_workflow(limit: str) -> str:
    """Holds `limit` for the key `h` for four seconds (a durable timer)."""
    return f"""
version: 1
input:
  host: {{type: string, default: h}}
concurrency_limits:
  {limit}: {{limit: 1, key: <% $ctx.host %>}}
tasks:
  work:
    action: core.sleep
    input: {{seconds: 4}}
"""


async def _trace_types(database: str, run_id: str) -> list[str]:
    pool = await open_pool(database)
    try:
        return [str(event.type) for event in await trace_page(pool, run_id, 0, 100)]
    finally:
        await pool.close()


def test_a_worker_killed_while_a_run_holds_a_slot_leaks_nothing(
    tmp_path: Path, temporal_address: str, postgres_url: str, background_loop: BackgroundLoop
) -> None:
    queue = f"limit-kill-{uuid.uuid4().hex[:8]}"
    limit = f"per_host_{uuid.uuid4().hex[:8]}"
    text = limited_workflow(limit)
    holder, waiter = (f"limit-kill-{uuid.uuid4().hex[:8]}" for _ in range(2))
    first = start_worker(temporal_address, queue, postgres_url, tmp_path / "worker-1.log")
    second = None
    try:
        background_loop.run(
            start_recorded_run(postgres_url, temporal_address, queue, "limited", text, holder)
        )
        until(
            lambda: [x.holding for x in background_loop.run(leases_of_runs(postgres_url, holder))],
            "the first run holds the slot",
        )
        background_loop.run(
            start_recorded_run(postgres_url, temporal_address, queue, "limited", text, waiter)
        )
        until(
            lambda: background_loop.run(usage(postgres_url, limit)) == (1, 1),
            "one run holds the slot and one waits",
        )

        first.send_signal(signal.SIGKILL)
        assert first.wait(15) == -signal.SIGKILL
        second = start_worker(temporal_address, queue, postgres_url, tmp_path / "worker-2.log")

        async def results() -> list[str]:
            client = await connect(temporal_address)
            statuses = []
            for run_id in (holder, waiter):
                handle = client.get_workflow_handle(run_id, result_type=InterpreterResult)
                statuses.append((await handle.result()).status)
            return statuses

        assert background_loop.run(results(), timeout=180) == ["succeeded", "succeeded"]
        until(
            lambda: background_loop.run(usage(postgres_url, limit)) == (0, 0),
            "the limit is free again",
            30,
        )
        # The waiter queued first and ran its task only once woken.
        types = background_loop.run(_trace_types(postgres_url, waiter))
        assert types[:3] == ["WORKFLOW_STARTED", "WORKFLOW_QUEUED", "STARTED"], types
        assert background_loop.run(leases_of_runs(postgres_url, holder, waiter)) == []
    finally:
        stop_process(first)
        stop_process(second)


def test_the_workers_reaper_frees_the_slot_of_a_run_terminated_from_temporal(
    tmp_path: Path, temporal_address: str, postgres_url: str, background_loop: BackgroundLoop
) -> None:
    """No test calls the reaper here: `segue worker` runs it, every 5 s."""
    queue = f"limit-reap-{uuid.uuid4().hex[:8]}"
    limit = f"per_host_{uuid.uuid4().hex[:8]}"
    text = limited_workflow(limit).replace("seconds: 4", "seconds: 600")
    holder, waiter = (f"limit-reap-{uuid.uuid4().hex[:8]}" for _ in range(2))
    worker = start_worker(temporal_address, queue, postgres_url, tmp_path / "worker.log")
    try:
        for run_id in (holder, waiter):
            background_loop.run(
                start_recorded_run(postgres_url, temporal_address, queue, "limited", text, run_id)
            )
        until(
            lambda: background_loop.run(usage(postgres_url, limit)) == (1, 1),
            "one run holds the slot and one waits",
        )
        leases = background_loop.run(leases_of_runs(postgres_url, holder, waiter))
        (first,) = [lease for lease in leases if lease.holding]  # whichever acquired first
        queued = waiter if first.run_id == holder else holder

        async def terminate_the_holder() -> float:
            client = await connect(temporal_address)
            await client.get_workflow_handle(first.run_id).terminate(reason="fault test")
            return time.monotonic()

        terminated_at = background_loop.run(terminate_the_holder())
        until(
            lambda: "STARTED" in background_loop.run(_trace_types(postgres_url, queued)),
            "the queued run starts its task",
            30,
        )
        freed_after = time.monotonic() - terminated_at
        print(f"slot freed {freed_after:.1f} s after the terminate")  # docs/operations.md
        assert freed_after < 15, freed_after  # one reaper pass (5 s) and the wake-up
        (lease,) = background_loop.run(leases_of_runs(postgres_url, first.run_id, queued))
        assert (lease.run_id, lease.holding) == (queued, True)

        async def cancel_the_other() -> None:
            client = await connect(temporal_address)
            await client.get_workflow_handle(queued).cancel()

        background_loop.run(cancel_the_other())
        until(
            lambda: background_loop.run(usage(postgres_url, limit)) == (0, 0),
            "the limit is free again",
            30,
        )
    finally:
        stop_process(worker)
