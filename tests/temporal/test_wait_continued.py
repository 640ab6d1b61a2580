"""A wait carried over continue-as-new keeps its deadline, and its timeout message states
the configured timeout, not the time that was left at the continuation (issue 18, 7)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.temporal.activities import SegueActivities
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop, start_interpreter
from tests.temporal.test_runs import TEST_ACTIONS

pytestmark = pytest.mark.temporal

# `wait` waits 6 s while `check` loops through enough activities that the run continues
# as new (the server suggests it after 150 events) before the wait times out.
WAIT_ACROSS_CONTINUATIONS = """
version: 1
vars: {checks: 0}
start: [wait, check]
tasks:
  wait:
    action: core.wait_event
    input: {event: never, timeout: 6}
  check:
    action: test.health
    input: {after: 1000000}
    next:
      - when: $ctx.checks + 1 < 40
        publish: {checks: <% $ctx.checks + 1 %>}
        do: check
"""


def test_a_continued_wait_times_out_with_its_configured_timeout(
    small_history_server: str, background_loop: BackgroundLoop
) -> None:
    async def scenario() -> dict[str, Any]:
        client: Client = await connect(small_history_server)
        queue = f"segue-wait-can-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(ActionCatalog([*builtin_actions(), *TEST_ACTIONS]))
        async with build_worker(client, activities, task_queue=queue):
            handle = await start_interpreter(client, queue, WAIT_ACROSS_CONTINUATIONS)
            with pytest.raises(WorkflowFailureError) as failed:
                await handle.result()
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError) and cause.details
        details: dict[str, Any] = cause.details[0]
        return details

    result = background_loop.run(scenario(), timeout=120)
    assert result["continued"] >= 1, result  # the wait really crossed a continuation
    [error] = [e for e in result["errors"] if e["task"] == "wait"]
    assert error["type"] == "timeout"
    assert error["message"].endswith("no 'never' event within 6 s"), error
