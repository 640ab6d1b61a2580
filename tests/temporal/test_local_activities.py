"""Local activities on the real Temporal dev server (behaviour OBSERVED, 3): an action
declared `LOCAL_ACTIVITY` with a task `timeout` of at most 10 s runs as a Temporal local
activity (a marker in the history, no activity task), otherwise as an activity; a task's
`run: local|activity` moves it either way; and a local attempt
still gets its retries with backoff and its timeout. A run that decides on behaviour 2
schedules ordinary activities whatever the workflow says."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from engine.actions.api import ActionContext, ActionDefinition, ActionError, Placement
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.coordinator.behaviour import Behaviour
from engine.temporal import versioning
from engine.temporal.activities import SegueActivities
from engine.temporal.types import INTERPRETER_WORKFLOW, InterpreterInput, InterpreterResult
from tests.support.releases import EarlierRelease
from tests.support.temporal import BackgroundLoop, running_worker
from tests.temporal.test_runs import outcome

pytestmark = pytest.mark.temporal

_FAILURES: Counter[str] = Counter()  # per run: attempts of `test.flaky` that failed


def _flaky(data: Any, context: ActionContext) -> dict[str, Any]:
    """Fails the first `fails` attempts of a run, then returns which attempt it was."""
    if _FAILURES[context.run_id] < int(data["fails"]):
        _FAILURES[context.run_id] += 1
        raise ActionError("flaky", f"attempt {context.attempt} fails on purpose")
    return {"attempt": context.attempt}


async def _slow(data: Any, context: ActionContext) -> str:
    await asyncio.sleep(float(data["seconds"]))
    return "slept"


def _quick(data: Any, context: ActionContext) -> Any:
    return data


CATALOG = ActionCatalog(
    [
        *builtin_actions(),
        ActionDefinition("test.quick", _quick, placement=Placement.LOCAL_ACTIVITY),
        ActionDefinition("test.slow", _slow, placement=Placement.LOCAL_ACTIVITY),
        ActionDefinition("test.flaky", _flaky),  # declared an ordinary activity
    ]
)


@pytest.fixture(scope="module")
def worker(temporal_address: str, background_loop: BackgroundLoop) -> Iterator[tuple[Client, str]]:
    activities = SegueActivities(CATALOG)
    with running_worker(background_loop, temporal_address, activities, "segue-local") as worker:
        yield worker


def _start(
    loop: BackgroundLoop, worker: tuple[Client, str], text: str
) -> WorkflowHandle[Any, InterpreterResult]:
    client, queue = worker
    run_id = f"local-{uuid.uuid4().hex[:10]}"
    # As the API starts runs: the starter's catalog says which actions are local.
    params = InterpreterInput(
        run_id, "test", "1", text, {}, queue, trace=False, local_actions=CATALOG.local_actions()
    )
    return loop.run(
        client.start_workflow(
            INTERPRETER_WORKFLOW, params, id=run_id, task_queue=queue, result_type=InterpreterResult
        )
    )


def _events(loop: BackgroundLoop, handle: WorkflowHandle[Any, Any]) -> list[Any]:
    async def fetch() -> list[Any]:
        return list((await handle.fetch_history()).events)

    return loop.run(fetch())


def _where(events: list[Any]) -> tuple[int, int]:
    """(local activity markers, activity tasks scheduled) in a history."""
    local = sum(
        e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
        for e in events
    )
    remote = sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in events)
    return local, remote


def _one_task(action: str, extra: str = "") -> str:
    return f"""
version: 1
tasks:
  call:
    action: {action}
    input: {{seconds: 0, fails: 0}}
{extra}    next:
      - publish: {{result: <% $result %>}}
output: <% $ctx.result %>
"""


# (what the case shows, action, task lines, (local activity markers, activity tasks))
PLACEMENTS = [
    ("declared local, short timeout: local", "test.quick", "    timeout: 5\n", (1, 0)),
    ("declared local, at the limit: local", "test.quick", "    timeout: 10\n", (1, 0)),
    ("declared local, longer: activity", "test.quick", "    timeout: 11\n", (0, 1)),
    ("declared local, no timeout: activity", "test.quick", "", (0, 1)),
    ("declared activity runs as one", "test.flaky", "", (0, 1)),
    ("run: local moves an activity", "test.flaky", "    run: local\n", (1, 0)),
    (
        "run: activity moves a local one",
        "test.quick",
        "    run: activity\n    timeout: 5\n",
        (0, 1),
    ),
    ("core.* stays in the workflow", "core.echo", "", (0, 0)),
]


@pytest.mark.parametrize(
    ("action", "lines", "expected"),
    [case[1:] for case in PLACEMENTS],
    ids=[case[0] for case in PLACEMENTS],
)
def test_where_an_action_runs(
    action: str,
    lines: str,
    expected: tuple[int, int],
    background_loop: BackgroundLoop,
    worker: tuple[Client, str],
) -> None:
    handle = _start(background_loop, worker, _one_task(action, lines))
    result = outcome(background_loop, handle)
    assert result["status"] == "succeeded", result
    assert _where(_events(background_loop, handle)) == expected


def test_a_local_attempt_is_retried_with_backoff(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    text = _one_task("test.flaky", "    run: local\n    retry: {count: 3, delay: 1, backoff: 2}\n")
    text = text.replace("fails: 0", "fails: 2")
    began = time.monotonic()
    handle = _start(background_loop, worker, text)
    result = outcome(background_loop, handle)
    spent = time.monotonic() - began
    assert (result["status"], result["output"]) == ("succeeded", {"attempt": 3})
    events = _events(background_loop, handle)
    assert _where(events) == (3, 0)  # three local attempts, no activity task
    # The coordinator's backoff between them: durable timers of 1 s, then 2 s.
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToSeconds()
        for e in events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert timers == [1, 2]
    assert spent >= 3


def test_a_local_attempt_gets_its_timeout(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    text = _one_task("test.slow", "    timeout: 1\n").replace("seconds: 0", "seconds: 30")
    text = text.replace(
        "      - publish: {result: <% $result %>}",
        "      - when: $failed()\n        publish: {result: <% $error %>}\n        do: noop",
    )
    began = time.monotonic()
    handle = _start(background_loop, worker, text)
    result = outcome(background_loop, handle)
    spent = time.monotonic() - began
    assert result["status"] == "succeeded", result
    assert result["output"]["type"] == "timeout"
    assert "within 1 s" in result["output"]["message"]
    assert spent < 15  # the task's 1 s, not the action's 30 s
    assert _where(_events(background_loop, handle)) == (1, 0)


def test_a_native_action_named_at_run_time_cannot_be_moved(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    """Validation refuses `run` on a literal `core.*` name; a computed one fails its task."""
    text = _one_task("<% 'core.' & 'echo' %>", "    run: local\n")
    handle = _start(background_loop, worker, text)
    result = outcome(background_loop, handle)
    assert result["status"] == "failed"
    assert "core.echo runs in the workflow; `run: local` cannot move it" in str(result["errors"])


def test_a_run_on_behaviour_2_schedules_ordinary_activities(
    background_loop: BackgroundLoop, worker: tuple[Client, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that decides behaviour 2 (as the previous release did, or as a replay of
    a run it started) ignores `run: local` and the declared placement."""

    # A release before behaviour 3 knew no newer marker.
    monkeypatch.setattr(versioning, "workflow", EarlierRelease(Behaviour.CLARIFIED))
    for lines in ("    run: local\n", "    timeout: 5\n"):  # each local on behaviour 3
        text = _one_task("test.flaky" if "run" in lines else "test.quick", lines)
        handle = _start(background_loop, worker, text)
        assert outcome(background_loop, handle)["status"] == "succeeded"
        assert _where(_events(background_loop, handle)) == (0, 1)


def test_while_a_local_attempt_runs_the_run_takes_in_nothing_else(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    """The trade-off docs/actions.md states: the run's 2 s timeout is taken in only when
    the 6 s local attempt has ended (as an activity it would be taken in at 2 s)."""
    text = _one_task("test.slow", "    run: local\n    timeout: 8\n")
    text = text.replace("seconds: 0", "seconds: 6").replace("version: 1", "version: 1\ntimeout: 2")
    began = time.monotonic()
    handle = _start(background_loop, worker, text)
    outcome(background_loop, handle)
    assert time.monotonic() - began >= 5.5
    assert _where(_events(background_loop, handle)) == (1, 0)
