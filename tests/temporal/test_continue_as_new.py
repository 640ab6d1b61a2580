"""Long loops continue as new with their compact state and complete correctly.

A dev server of its own suggests continue-as-new after 150 history events (instead of
4,096), so a loop of 120 activity iterations continues as new several times; the trace
stays one gapless sequence across the runs.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.client import Client

from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.store import open_pool, trace_page
from engine.store.limits import leases_of
from engine.temporal.activities import SegueActivities
from engine.temporal.store_sink import trace_sink
from engine.temporal.types import INTERPRETER_WORKFLOW, InterpreterResult
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import (
    SUGGEST_CONTINUE_AS_NEW_AFTER,
    BackgroundLoop,
    record_run,
    start_recorded,
)
from tests.temporal.test_runs import TEST_ACTIONS

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

LOOP = """
version: 1
vars: {checks: 0}
start: [check]
tasks:
  check:
    action: test.health
    input: {after: 1000000}
    next:
      - when: $ctx.checks + 1 < 120
        publish: {checks: <% $ctx.checks + 1 %>}
        do: pause
      - when: $ctx.checks + 1 >= 120
        publish: {checks: <% $ctx.checks + 1 %>}
  pause:
    next: [{do: check}]
output: {checks: <% $ctx.checks %>, polls: <% $task_status("check") %>}
"""


def test_long_loop_continues_as_new(
    small_history_server: str, postgres_url: str, background_loop: BackgroundLoop
) -> None:
    async def scenario() -> tuple[InterpreterResult, list[int], list[Any]]:
        pool = await open_pool(postgres_url)
        client: Client = await connect(small_history_server)
        queue = f"segue-can-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(
            ActionCatalog([*builtin_actions(), *TEST_ACTIONS]), trace_sink=trace_sink(pool)
        )
        async with build_worker(client, activities, task_queue=queue):
            run_id = f"loop-{uuid.uuid4().hex[:8]}"
            handle = await start_recorded(client, pool, queue, "loop", LOOP, run_id)
            result: InterpreterResult = await handle.result()
            lengths = []
            async for execution in client.list_workflows(f"WorkflowId = '{run_id}'"):
                described = await client.get_workflow_handle(
                    run_id, run_id=execution.run_id
                ).describe()
                lengths.append(described.history_length)
        trace: list[Any] = []
        while True:
            page = await trace_page(pool, run_id, trace[-1].seq if trace else 0, 1000)
            if not page:
                break
            trace += page
        await pool.close()
        return result, lengths, trace

    result, lengths, trace = background_loop.run(scenario(), timeout=300)
    assert [event.seq for event in trace] == list(range(1, len(trace) + 1))
    assert sum(1 for e in trace if e.type == "STARTED" and e.node_id == "check") == 120
    assert trace[-1].type == "WORKFLOW_COMPLETED"
    assert result.status == "succeeded"
    assert result.output == {"checks": 120, "polls": "succeeded"}
    assert result.continued >= 3
    assert len(lengths) == result.continued + 1
    assert max(lengths) < SUGGEST_CONTINUE_AS_NEW_AFTER + 60, lengths


SECRET_LOOP = """
version: 1
input:
  token: {type: string, secret: true}
vars: {checks: 0}
start: [check]
tasks:
  check:
    action: test.health
    input: {after: 1000000, auth: "<% $secret('loop_key') %>"}
    next:
      - when: $ctx.checks + 1 < 70
        publish: {checks: <% $ctx.checks + 1 %>}
        do: check
      - when: $ctx.checks + 1 >= 70
        publish:
          checks: <% $ctx.checks + 1 %>
          last: <% $secret('loop_key') & '/' & $ctx.token %>
output: {checks: <% $ctx.checks %>, last: <% $ctx.last %>}
"""


def test_secrets_outlive_continue_as_new(
    small_history_server: str,
    postgres_url: str,
    background_loop: BackgroundLoop,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run's named secrets and what it masks travel in its carried state: after
    continuing as new, `$secret` still answers (without asking the worker again) and the
    trace still shows `***`."""
    monkeypatch.setenv("SEGUE_SECRET_LOOP_KEY", "loop-key-31415")

    async def scenario() -> tuple[InterpreterResult, list[Any]]:
        pool = await open_pool(postgres_url)
        client: Client = await connect(small_history_server)
        queue = f"segue-can-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(
            ActionCatalog([*builtin_actions(), *TEST_ACTIONS]), trace_sink=trace_sink(pool)
        )
        async with build_worker(client, activities, task_queue=queue):
            run_id = f"secret-loop-{uuid.uuid4().hex[:8]}"
            params = await record_run(pool, "loop", SECRET_LOOP, queue, run_id)
            params.input = {"token": "token-27182"}
            handle = await client.start_workflow(
                INTERPRETER_WORKFLOW, params, id=run_id, task_queue=queue,
                result_type=InterpreterResult,
            )  # fmt: skip
            # Once the run has read it (its first trace events are written after), the
            # worker's environment no longer has the secret at all.
            while not await trace_page(pool, run_id, 0, 1):
                await asyncio.sleep(0.05)
            monkeypatch.delenv("SEGUE_SECRET_LOOP_KEY")
            result: InterpreterResult = await handle.result()
        trace = await trace_page(pool, run_id, 0, 1000)
        await pool.close()
        return result, trace

    result, trace = background_loop.run(scenario(), timeout=300)
    assert result.status == "succeeded" and result.continued >= 1
    assert result.output == {"checks": 70, "last": "loop-key-31415/token-27182"}
    shown = " ".join(f"{e.message} {e.output_summary} {e.error} {e.data}" for e in trace)
    assert "loop-key-31415" not in shown and "token-27182" not in shown
    assert trace[-1].type == "WORKFLOW_COMPLETED" and "***/***" in str(trace[-1].output_summary)


def test_a_run_keeps_its_limit_slot_across_continue_as_new(
    small_history_server: str, postgres_url: str, background_loop: BackgroundLoop
) -> None:
    """The slot is the run's, not one execution's: the holder continues as new still
    holding it (the waiter stays queued), and its last execution releases it."""
    limit = f"can_{uuid.uuid4().hex[:8]}"
    declared = "{checks: 0}\nconcurrency_limits:\n  " + limit + ": {limit: 1}"
    text = LOOP.replace("{checks: 0}", declared)
    text = text.replace("< 120", "< 40").replace(">= 120", ">= 40")

    async def scenario() -> tuple[list[InterpreterResult], list[str], list[Any], bool]:
        pool = await open_pool(postgres_url)
        client: Client = await connect(small_history_server)
        queue = f"segue-can-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(
            ActionCatalog([*builtin_actions(), *TEST_ACTIONS]),
            trace_sink=trace_sink(pool),
            limit_store=pool,
        )
        async with build_worker(client, activities, task_queue=queue):
            holder = await start_recorded(client, pool, queue, "limited_loop", text)
            while not await leases_of(pool, holder.id):
                await asyncio.sleep(0.1)
            waiter = await start_recorded(client, pool, queue, "limited_loop", text)
            results = [await holder.result(), await waiter.result()]
        waiter_events = await trace_page(pool, waiter.id, 0, 3)
        waiter_trace = [str(e.type) for e in waiter_events]
        holder_events = await trace_page(pool, holder.id, 0, 1000)
        # The waiter's first task started only after the holder's last execution ended.
        in_turn = waiter_events[-1].timestamp >= holder_events[-1].timestamp
        await asyncio.sleep(1)  # each run releases just after it records its end
        left = [lease for run in (holder.id, waiter.id) for lease in await leases_of(pool, run)]
        await pool.close()
        return results, waiter_trace, left, in_turn

    results, waiter_trace, left, in_turn = background_loop.run(scenario(), timeout=300)
    assert [r.status for r in results] == ["succeeded", "succeeded"]
    assert results[0].continued >= 1  # the holder continued as new while holding
    assert waiter_trace == ["WORKFLOW_STARTED", "WORKFLOW_QUEUED", "STARTED"]
    assert in_turn
    assert left == []
