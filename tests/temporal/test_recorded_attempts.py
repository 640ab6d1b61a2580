"""Action attempts read back from a run's Temporal history (engine/temporal/recorded_attempts.py),
across every execution of a continue-as-new chain, or not at all, with the reason.

A dev server of its own suggests continue-as-new after 150 history events, so a
with-items execution of 60 items, every odd one failing once before it succeeds, is
carried out over several executions of the run: its attempts are in several histories."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import Client

from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.simulator.recorded import ExecutionName, RecordedRun
from engine.store import open_pool, trace_page
from engine.temporal import recorded_attempts as reading
from engine.temporal.activities import SegueActivities
from engine.temporal.store_sink import trace_sink
from engine.temporal.types import InterpreterResult
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop, start_recorded
from tests.temporal.test_runs import TEST_ACTIONS

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

ITEMS = 60
EACH = """
version: 1
tasks:
  each:
    with:
      items: <% [0..59] %>
      concurrency: 5
    action: test.flaky
    input: {failures: <% $item % 2 %>}
    retry: {count: 1, delay: 0}
    next: [{publish: {results: <% $count($result) %>}}]
output: {results: <% $ctx.results %>}
"""


@pytest.fixture(scope="module")
def finished_run(
    small_history_server: str, postgres_url: str, background_loop: BackgroundLoop
) -> tuple[str, int, InterpreterResult]:
    """(run id, the with-items execution's id, the run's result)."""

    async def scenario() -> tuple[str, int, InterpreterResult]:
        pool = await open_pool(postgres_url)
        client: Client = await connect(small_history_server)
        queue = f"segue-recorded-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(
            ActionCatalog([*builtin_actions(), *TEST_ACTIONS]), trace_sink=trace_sink(pool)
        )
        async with build_worker(client, activities, task_queue=queue):
            run_id = f"recorded-{uuid.uuid4().hex[:8]}"
            handle = await start_recorded(client, pool, queue, "each", EACH, run_id)
            result: InterpreterResult = await handle.result()
        page = await trace_page(pool, run_id, 0, 1000)
        await pool.close()
        (execution,) = {e.data["execution"] for e in page if e.type == "STARTED"}
        return run_id, execution, result

    return background_loop.run(scenario(), timeout=300)


def read(address: str, loop: BackgroundLoop, run_id: str, execution: int) -> RecordedRun:
    """The attempts of one execution of task `each`."""

    async def scenario() -> RecordedRun:
        client = await connect(address)
        wanted = {execution: ExecutionName("each", 0)}
        return await reading.recorded_attempts(client, run_id, wanted)

    return loop.run(scenario(), timeout=120)


def test_attempts_are_read_across_every_execution_of_the_run(
    small_history_server: str,
    background_loop: BackgroundLoop,
    finished_run: tuple[str, int, Any],
) -> None:
    run_id, execution, result = finished_run
    assert result.status == "succeeded" and result.output == {"results": ITEMS}
    assert result.continued >= 1  # several histories
    recorded = read(small_history_server, background_loop, run_id, execution)
    assert recorded.missing == ""
    attempts = sorted(
        (a.item, a.attempt, a.error["type"] if a.error else a.result)
        for a in recorded.attempts[execution]
    )
    expected: list[tuple[Any, ...]] = []
    for item in range(ITEMS):
        if item % 2:
            expected.append((item, 1, "flaky"))
        expected.append((item, 1 + item % 2, f"ok on attempt {1 + item % 2}"))
    assert attempts == expected


def test_only_the_executions_asked_for_are_kept(
    small_history_server: str,
    background_loop: BackgroundLoop,
    finished_run: tuple[str, int, Any],
) -> None:
    run_id, execution, _ = finished_run
    recorded = read(small_history_server, background_loop, run_id, execution + 1)
    assert recorded == RecordedRun({})


@pytest.mark.parametrize(
    ("bound", "value", "reason"),
    [
        ("MAX_HISTORY_EVENTS", 100, "the run's history has more than 100 events"),
        ("READ_SECONDS", 0.001, "reading the run's history took longer than 0.001 s"),
        ("MAX_RECORDED_BYTES", 100, "the results read add up to "),
    ],
)
def test_a_history_past_the_bounds_gives_nothing_and_says_why(
    small_history_server: str,
    background_loop: BackgroundLoop,
    finished_run: tuple[str, int, Any],
    monkeypatch: pytest.MonkeyPatch,
    bound: str,
    value: float,
    reason: str,
) -> None:
    """Nothing partial: an execution's attempts can span two histories."""
    run_id, execution, _ = finished_run
    monkeypatch.setattr(reading, bound, value)
    recorded = read(small_history_server, background_loop, run_id, execution)
    assert recorded.attempts == {}
    assert recorded.missing.startswith(reason)


def test_a_history_temporal_no_longer_holds_is_said(
    small_history_server: str, background_loop: BackgroundLoop
) -> None:
    recorded = read(small_history_server, background_loop, "no-such-run", 1)
    assert recorded == RecordedRun({}, "Temporal no longer holds the run's history (retention)")
