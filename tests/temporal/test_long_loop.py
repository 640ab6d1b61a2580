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
from engine.temporal.types import INTERPRETER_WORKFLOW, InterpreterInput, InterpreterResult
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop
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
            run_id = f"long-{uuid.uuid4().hex[:8]}"
            params = InterpreterInput(run_id, "long", "1", LOOP, {}, queue, trace=False)
            handle = await client.start_workflow(
                INTERPRETER_WORKFLOW,
                params,
                id=run_id,
                task_queue=queue,
                result_type=InterpreterResult,
            )
            result: InterpreterResult = await handle.result()
            lengths = []
            async for execution in client.list_workflows(f"WorkflowId = '{run_id}'"):
                described = await client.get_workflow_handle(
                    run_id, run_id=execution.run_id
                ).describe()
                lengths.append(described.history_length)
            return result, lengths

    result, lengths = background_loop.run(scenario(), timeout=1800)
    assert result.status == "succeeded" and result.output == {"checks": ITERATIONS}
    assert max(lengths) < 10_000, lengths
    assert result.continued == len(lengths) - 1 >= 5
