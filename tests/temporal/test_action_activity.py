"""The action activity's own duties, outside a workflow (temporalio's ActivityEnvironment):
an action that declared a `heartbeat_timeout` and stops heartbeating fails its attempt
with a `timeout` in about that time; one that keeps heartbeating runs to its end."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from engine.actions.api import ActionContext, ActionDefinition
from engine.actions.catalog import ActionCatalog
from engine.temporal.activities import SegueActivities
from engine.temporal.types import ActionRequest

LIMIT = 0.3  # seconds without a heartbeat before the attempt fails


async def _hang(data: Any, context: ActionContext) -> str:
    context.heartbeat({"started": True})
    await asyncio.sleep(30)
    return "never"


async def _beat(data: Any, context: ActionContext) -> str:
    for step in range(8):  # 0.8 s in all, well past LIMIT, beating every 0.1 s
        await asyncio.sleep(0.1)
        context.heartbeat({"step": step})
    return "done"


def _hang_in_thread(data: Any, context: ActionContext) -> str:
    for _ in range(300):  # a plain handler that stopped heartbeating but polls cancel
        if context.is_cancelled():
            return "cancelled"
        time.sleep(0.01)
    return "never"


CATALOG = ActionCatalog(
    [
        ActionDefinition("test.hang", _hang, heartbeat_timeout=LIMIT),
        ActionDefinition("test.beat", _beat, heartbeat_timeout=LIMIT),
        ActionDefinition("test.hang_thread", _hang_in_thread, heartbeat_timeout=LIMIT),
        ActionDefinition("test.unwatched", _beat),
    ]
)


def _run(action: str) -> tuple[Any, float, list[Any]]:
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details[0] if details else None)
    request = ActionRequest("run", "wf", "t", 1, 0, 1, 1, action, {})
    began = time.monotonic()
    outcome: Any = asyncio.run(env.run(SegueActivities(CATALOG).run_action, request))
    return outcome, time.monotonic() - began, beats


@pytest.mark.parametrize("action", ["test.hang", "test.hang_thread"])
def test_a_handler_that_stops_heartbeating_fails_the_attempt(action: str) -> None:
    began = time.monotonic()
    with pytest.raises(ApplicationError) as failure:
        _run(action)
    spent = time.monotonic() - began
    assert failure.value.type == "timeout" and failure.value.non_retryable
    assert f"no heartbeat for {LIMIT:g} s" in failure.value.message
    assert spent < 10, spent  # found at LIMIT, not at the action's 30 s


def test_a_handler_that_keeps_heartbeating_runs_to_its_end() -> None:
    outcome, spent, beats = _run("test.beat")
    assert (outcome.result, outcome.traced, outcome.secrets) == ("done", False, [])
    assert outcome.queued_ms is not None and outcome.queued_ms >= 0
    assert outcome.ran_ms is not None and 800 <= outcome.ran_ms <= spent * 1000 + 1
    assert spent >= 0.8 and beats[-1] == {"step": 7}


def test_without_a_heartbeat_timeout_nothing_is_watched() -> None:
    outcome, _, _ = _run("test.unwatched")
    assert outcome.result == "done"
