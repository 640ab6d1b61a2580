"""A 10,000-iteration monitoring loop on Temporal (minutes: marked slow).

Every iteration is an activity; the run continues as new whenever the server suggests it
(every 4,096 events by default), so no history exceeds 10,000 events.
"""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client

from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.temporal.activities import SegueActivities
from engine.temporal.types import InterpreterResult
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop, history_lengths, start_interpreter
from tests.temporal.test_runs import TEST_ACTIONS

pytestmark = [pytest.mark.temporal, pytest.mark.slow]
ITERATIONS = 10_000

LOOP = f"""
version: 1
vars: {{checks: 0}}
start: [check]
tasks:
  check:
    action: test.health
    input: {{after: {ITERATIONS - 1}}}
    max_iterations: {ITERATIONS}
    next:
      - when: $result.status = 200
        publish: {{checks: <% $ctx.checks + 1 %>}}
      - when: $result.status != 200
        publish: {{checks: <% $ctx.checks + 1 %>}}
        do: check
output: {{checks: <% $ctx.checks %>}}
"""


def test_ten_thousand_iteration_loop(
    temporal_address: str, background_loop: BackgroundLoop
) -> None:
    async def scenario() -> tuple[InterpreterResult, list[int]]:
        client: Client = await connect(temporal_address)
        queue = f"long-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(ActionCatalog([*builtin_actions(), *TEST_ACTIONS]))
        async with build_worker(client, activities, task_queue=queue):
            handle = await start_interpreter(client, queue, LOOP, name="long")
            result = await handle.result()
            return result, await history_lengths(client, handle.id)

    result, lengths = background_loop.run(scenario(), timeout=1800)
    assert result.status == "succeeded" and result.output == {"checks": ITERATIONS}
    assert max(lengths) < 10_000, lengths
    assert result.continued == len(lengths) - 1 >= 5
