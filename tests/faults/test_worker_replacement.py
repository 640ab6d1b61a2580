"""Upgrading Segue with runs in flight (docs/operations.md): the worker of one release is
replaced by the worker of the next, whose coordinator decides differently behind a
version gate, while one run waits for an approval and another is deep in a loop that has
already continued as new. The old runs finish with the old behaviour, a new run gets the
new one, no workflow task fails, and every history replays on the new code.

The old release is this code giving new runs behaviour 1 (ORIGINAL), as the releases up
to 2026-11 did: its `workflow.patched` answers no to every behaviour marker. Behaviour 1
runs a join reached twice by one source execution twice; 2 and later run it once
(docs/language.md §6). The join task sleeps 1 s, so the durable timers in a run's last
history show which decided: 3 on behaviour 1 (`slow_2` and `meet` twice), else 2.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer

from engine.actions.api import ActionContext, ActionDefinition
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.temporal import versioning
from engine.temporal.activities import SegueActivities
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.interpreter import Interpreter
from engine.temporal.types import SIGNAL_DELIVER, InterpreterResult, SignalPayload
from engine.temporal.worker import build_worker, connect, workflow_runner
from tests.support.temporal import BackgroundLoop, start_interpreter

pytestmark = pytest.mark.temporal

# A barrier reached by two transitions of `quick` (as tests/temporal/histories/joins.yaml):
# behaviour 1 runs `meet` twice.
DIAMOND = """
  fork:
    action: core.noop
    next: [{do: [quick, slow]}]
  quick:
    action: core.noop
    next:
      - {when: $succeeded(), do: meet}
      - {do: meet}
  slow:
    action: core.noop
    next: [{do: slow_2}]
  slow_2:
    action: core.sleep
    input: {seconds: 1}
    next: [{do: meet}]
  meet:
    join: 1
    action: core.sleep
    input: {seconds: 1}
"""

APPROVAL = f"""
version: 1
tasks:
  approve:
    action: core.approval
    input: {{timeout: 600}}
    next: [{{do: fork}}]
{DIAMOND}
"""

LOOP_ROUNDS = 200  # one activity a round: the server suggests continue-as-new every ~25
LOOP = f"""
version: 1
vars: {{round: 0}}
start: [tick]
tasks:
  tick:
    action: test.tick
    next:
      - when: $ctx.round + 1 < {LOOP_ROUNDS}
        publish: {{round: <% $ctx.round + 1 %>}}
        do: tick
      - when: $ctx.round + 1 >= {LOOP_ROUNDS}
        publish: {{round: <% $ctx.round + 1 %>}}
        do: fork
{DIAMOND}
output: {{round: <% $ctx.round %>}}
"""


def _tick(data: Any, context: ActionContext) -> Any:
    return data


CATALOG = ActionCatalog([*builtin_actions(), ActionDefinition("test.tick", _tick)])


class PreviousRelease:
    """`workflow.patched` as a worker that knows no behaviour marker answers it."""

    @staticmethod
    def patched(patch_id: str) -> bool:
        return False


async def _runs_of(client: Client, workflow_id: str) -> list[Any]:
    return [e async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")]


async def _until(check: Any, seconds: float = 60) -> None:
    for _ in range(int(seconds * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting: {check.__doc__}")


def _approval_open(handle: WorkflowHandle[Any, Any]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        """the approval waits"""
        progress = await handle.query("progress")
        return bool(progress["waiting"])

    return check


def _timers(history: Any) -> int:
    return sum(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events)


async def _histories(client: Client, workflow_id: str) -> list[Any]:
    """Every run's history of a workflow id, the latest first."""
    histories = []
    for execution in await _runs_of(client, workflow_id):
        handle = client.get_workflow_handle(workflow_id, run_id=execution.run_id)
        histories.append(await handle.fetch_history())
    return histories


def test_runs_in_flight_survive_a_worker_of_the_next_release(
    small_history_server: str, background_loop: BackgroundLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> dict[str, Any]:
        client = await connect(small_history_server)
        queue = f"segue-upgrade-{uuid.uuid4().hex[:8]}"

        def worker() -> Any:
            return build_worker(client, SegueActivities(CATALOG), task_queue=queue)

        # The old release: runs start on behaviour 1.
        monkeypatch.setattr(versioning, "workflow", PreviousRelease)
        async with worker():
            waiting = await start_interpreter(client, queue, APPROVAL, name="approval")
            looping = await start_interpreter(client, queue, LOOP, name="loop")

            async def loop_continued() -> bool:
                """the loop continues as new"""
                described = await looping.describe()
                return described.run_id != looping.result_run_id or (
                    len(await _runs_of(client, looping.id)) >= 2
                )

            await _until(loop_continued)
            await _until(_approval_open(waiting))
        monkeypatch.undo()  # the next release takes over the task queue
        described = await looping.describe()
        assert described.status is not None and described.status.name == "RUNNING"
        async with worker():
            await waiting.signal(
                SIGNAL_DELIVER, SignalPayload(payload={"approved": True}, task="approve")
            )
            old_approval: InterpreterResult = await waiting.result()
            old_loop: InterpreterResult = await looping.result()
            fresh: WorkflowHandle[Any, InterpreterResult] = await start_interpreter(
                client, queue, APPROVAL, name="approval"
            )
            # From behaviour 2 on, a `deliver` signal no open wait takes is dropped
            # (docs/operations.md, behaviours): answer the fresh run only once its approval
            # is open, as the API does (409 TASK_NOT_WAITING before that).
            await _until(_approval_open(fresh))
            await fresh.signal(
                SIGNAL_DELIVER, SignalPayload(payload={"approved": True}, task="approve")
            )
            new_approval = await fresh.result()
        chains = {
            name: await _histories(client, handle.id)
            for name, handle in (("old approval", waiting), ("old loop", looping), ("new", fresh))
        }
        histories = [history for chain in chains.values() for history in chain]
        replayer = Replayer(
            workflows=[Interpreter],
            workflow_runner=workflow_runner(),
            data_converter=DATA_CONVERTER,
        )
        failures = []
        for history in histories:
            replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            failures.append(replayed.replay_failure)
        failed_tasks = sum(
            event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
            for history in histories
            for event in history.events
        )
        return {
            "old approval": (old_approval.status, _timers(chains["old approval"][0])),
            "old loop": (old_loop.status, old_loop.output, old_loop.continued),
            "old loop's last run": _timers(chains["old loop"][0]),
            "new approval": (new_approval.status, _timers(chains["new"][0])),
            "histories": len(histories),
            "replay failures": [f for f in failures if f is not None],
            "failed workflow tasks": failed_tasks,
        }

    outcome = background_loop.run(scenario(), timeout=400)
    # The approval's own timeout is one timer more.
    assert outcome["old approval"] == ("succeeded", 1 + 3)  # behaviour 1, kept
    status, output, continued = outcome["old loop"]
    assert (status, output) == ("succeeded", {"round": LOOP_ROUNDS}) and continued >= 2
    assert outcome["old loop's last run"] == 3  # behaviour 1, kept across continue-as-new
    assert outcome["new approval"] == ("succeeded", 1 + 2)  # the new behaviour
    assert outcome["histories"] >= 4  # the loop's chain counts one history per run
    assert outcome["replay failures"] == []
    assert outcome["failed workflow tasks"] == 0
