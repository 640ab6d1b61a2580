"""Refused answers cannot grow a run's history (issue 18): a run records each refusal once
per wait and reason, at most 20 in a history, and turns the rest away in the Update
validator, which writes nothing. The answer that is right still gets through."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from engine.temporal.refusals import MAX_RECORDED_REFUSALS
from engine.temporal.types import UPDATE_ANSWER, SignalPayload
from engine.temporal.worker import connect
from tests.api.conftest import Harness, unique
from tests.api.test_workflows import problem

pytestmark = [pytest.mark.postgres, pytest.mark.temporal]

WAIT_THEN_NOOP = """\
version: 1
tasks:
  approve:
    action: core.approval
    next:
      - publish: {by: <% $result.by %>}
        do: later
  later:
    action: core.noop
output:
  by: <% $ctx.by %>
"""
REFUSED_ANSWERS = 1000
# Per recorded refusal: the Update accepted and completed, and the workflow task that
# carries them (scheduled, started, completed); plus the trace batch that writes them.
EVENTS_PER_RECORDED = 5
HISTORY_BOUND = MAX_RECORDED_REFUSALS * EVENTS_PER_RECORDED + 20


def refused_answers() -> list[SignalPayload]:
    """Half for a task that does not wait (one reason, one wait: recorded once), half
    pinned to executions that never waited (a new wait each: recorded up to the bound)."""
    half = REFUSED_ANSWERS // 2
    return [SignalPayload(payload={"by": "mallory"}, task="later") for _ in range(half)] + [
        SignalPayload(payload={"by": "mallory"}, task="approve", execution=1000 + n)
        for n in range(half)
    ]


def test_a_thousand_refused_answers_leave_the_history_bounded(harness: Harness) -> None:
    name = unique("refusals")
    harness.register(name, WAIT_THEN_NOOP)
    run_id = harness.start(name)
    harness.wait_for(run_id, lambda s: bool(harness.trace(run_id)) and s["status"] == "RUNNING")
    harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED" and e["nodeId"] == "approve")

    async def flood() -> tuple[int, int, dict[str, int]]:
        client = await connect(harness.temporal_address)
        handle = client.get_workflow_handle(run_id)
        before = (await handle.describe()).history_length
        codes: dict[str, int] = {}

        async def answer(payload: SignalPayload) -> None:
            try:
                await handle.execute_update(UPDATE_ANSWER, payload)
            except WorkflowUpdateFailedError as refused:
                assert isinstance(refused.cause, ApplicationError), refused.cause
                code = str(refused.cause.type)
                codes[code] = codes.get(code, 0) + 1
            else:
                raise AssertionError(f"an answer was taken: {payload}")

        # Eight at a time: Temporal keeps at most 10 accepted Updates in flight per run.
        answers = refused_answers()
        for start in range(0, len(answers), 8):
            await asyncio.gather(*(answer(payload) for payload in answers[start : start + 8]))
        after = (await handle.describe()).history_length
        return before, after, codes

    before, after, codes = harness.loop.run(flood(), timeout=600)
    print(f"history {before} -> {after} events after {REFUSED_ANSWERS} refused answers")
    # Every answer was refused with its usual code, whether recorded or not.
    assert codes == {"TASK_NOT_WAITING": 500, "WAIT_NOT_OPEN": 500}, codes
    assert after - before <= HISTORY_BOUND, (before, after)
    # Through the API too: the same 409 for a refusal recorded before.
    problem(
        harness.client.post(f"/runs/{run_id}/signals/later", json={"payload": {}}),
        409,
        "TASK_NOT_WAITING",
    )
    # The trace says what was refused, once per wait and reason, within the bound.
    warnings = [e for e in harness.trace(run_id) if e["level"] == "warn"]
    refusals = [w for w in warnings if "answer refused" in (w.get("message") or "")]
    assert 2 <= len(refusals) <= MAX_RECORDED_REFUSALS, refusals
    # The wait itself is still answerable, and the run ends with the right answer.
    taken = harness.client.post(f"/runs/{run_id}/signals/approve", json={"payload": {"by": "ada"}})
    assert taken.status_code == 202, taken.text
    final: dict[str, Any] = harness.wait_for(run_id)
    assert (final["status"], final["output"]) == ("COMPLETED", {"by": "ada"})
