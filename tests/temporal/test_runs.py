"""Runs on the real Temporal dev server through a real worker: the interpreter workflow,
activities, timers, signals, cancellation, child runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError

from engine.actions.api import ActionContext, ActionDefinition, ActionError
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.language.loader import load_workflow
from engine.statuses import ApiStatus
from engine.temporal.activities import SegueActivities, directory_lookup
from engine.temporal.client import query_progress
from engine.temporal.types import (
    INTERPRETER_WORKFLOW,
    QUERY_PROGRESS,
    SIGNAL_DELIVER,
    SIGNAL_PAUSE,
    SIGNAL_RESUME,
    UPDATE_ANSWER,
    InterpreterInput,
    InterpreterResult,
    SignalPayload,
)
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop

pytestmark = pytest.mark.temporal
WORKFLOWS = Path(__file__).parent / "workflows"
CALLS: dict[str, int] = {}


def _healthy_after(data: Any, context: ActionContext) -> dict[str, Any]:
    """Unhealthy (503) for the first `data.after` calls of a run, then healthy (200)."""
    key = f"{context.run_id}:{context.task}"
    CALLS[key] = CALLS.get(key, 0) + 1
    return {"status": 200 if CALLS[key] > int(data["after"]) else 503, "call": CALLS[key]}


def _flaky(data: Any, context: ActionContext) -> str:
    if context.attempt <= int(data["failures"]):
        raise ActionError("flaky", f"attempt {context.attempt} failed")
    return f"ok on attempt {context.attempt}"


async def _slow(data: Any, context: ActionContext) -> str:
    await asyncio.sleep(float(data["seconds"]))
    return "slept"


TEST_ACTIONS = [
    ActionDefinition("test.health", _healthy_after),
    ActionDefinition("test.flaky", _flaky),
    ActionDefinition("test.slow", _slow),
]


@pytest.fixture(scope="module")
def worker(temporal_address: str, background_loop: BackgroundLoop) -> Iterator[tuple[Client, str]]:
    async def start() -> tuple[Client, str, Any]:
        client = await connect(temporal_address)
        queue = f"segue-test-{uuid.uuid4().hex[:8]}"
        catalog = ActionCatalog([*builtin_actions(), *TEST_ACTIONS])
        activities = SegueActivities(catalog, workflow_lookup=directory_lookup(WORKFLOWS))
        running = build_worker(client, activities, task_queue=queue)
        await running.__aenter__()
        return client, queue, running

    client, queue, running = background_loop.run(start())
    try:
        yield client, queue
    finally:
        background_loop.run(running.__aexit__(None, None, None))


def start_run(
    background_loop: BackgroundLoop,
    worker: tuple[Client, str],
    text: str,
    run_input: dict[str, Any] | None = None,
    *,
    retry_defaults: dict[str, dict[str, float]] | None = None,
) -> WorkflowHandle[Any, Any]:
    client, queue = worker
    spec = load_workflow(text, "test.yaml", name="test")
    run_id = f"run-{uuid.uuid4().hex[:10]}"
    params = InterpreterInput(
        run_id,
        "test",
        spec.content_hash[:12],
        text,
        run_input or {},
        queue,
        trace=False,
        action_retry_defaults=retry_defaults,
    )

    async def go() -> WorkflowHandle[Any, Any]:
        return await client.start_workflow(
            INTERPRETER_WORKFLOW, params, id=run_id, task_queue=queue, result_type=InterpreterResult
        )

    return background_loop.run(go())


def outcome(
    background_loop: BackgroundLoop, handle: WorkflowHandle[Any, Any], timeout: float = 60
) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        try:
            result: InterpreterResult = await handle.result()
            return {"status": result.status, "output": result.output, "errors": result.errors}
        except WorkflowFailureError as failure:
            cause = failure.cause
            if isinstance(cause, ApplicationError) and cause.details:
                details: dict[str, Any] = cause.details[0]
                return details
            if isinstance(cause, CancelledError):
                return {"status": "canceled-by-temporal"}
            raise

    return background_loop.run(wait(), timeout)


MONITOR = """
version: 1
vars: {checks: 0}
start: [check]
tasks:
  check:
    action: test.health
    input: {after: 2}
    max_iterations: 5
    next:
      - when: $result.status = 200
        publish: {checks: <% $ctx.checks + 1 %>}
        do: done
      - when: $result.status != 200
        publish: {checks: <% $ctx.checks + 1 %>}
        do: wait
  wait:
    delay: 0.2
    next: [{do: check}]
  done:
    action: core.noop
output: {checks: <% $ctx.checks %>}
"""


def test_monitoring_loop_with_delays(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    handle = start_run(background_loop, worker, MONITOR)
    assert outcome(background_loop, handle) == {
        "status": "succeeded",
        "output": {"checks": 3},
        "errors": [],
    }


def test_iteration_cap_stops_the_loop(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    handle = start_run(background_loop, worker, MONITOR.replace("after: 2", "after: 100"))
    result = outcome(background_loop, handle)
    assert result["status"] == "failed"
    assert [e["type"] for e in result["errors"]] == ["iteration_cap"]
    assert result["output"] == {"checks": 5}


def test_fan_out_join_and_with_items(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    text = """
version: 1
tasks:
  split:
    next: [{do: [left, right]}]
  left:
    action: core.echo
    input: {side: left}
    next: [{publish: {l: <% $result.side %>}, do: both}]
  right:
    with: {items: [1, 2, 3, 4, 5, 6, 7], concurrency: 3}
    action: test.slow
    input: {seconds: 0.05}
    next: [{publish: {r: <% $count($result) %>}, do: both}]
  both:
    join: all
    action: core.echo
    input: {l: <% $ctx.l %>, r: <% $ctx.r %>}
    next: [{publish: {both: <% $result %>}}]
output: <% $ctx.both %>
"""
    handle = start_run(background_loop, worker, text)
    assert outcome(background_loop, handle) == {
        "status": "succeeded",
        "output": {"l": "left", "r": 7},
        "errors": [],
    }


def test_retry_with_backoff_then_success(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    text = """
version: 1
tasks:
  flaky:
    action: test.flaky
    input: {failures: 2}
    retry: {count: 3, delay: 0.1, backoff: 2}
    next: [{publish: {said: <% $result %>}}]
output: {said: <% $ctx.said %>, attempt: <% $task_status("flaky") %>}
"""
    started = time.monotonic()
    handle = start_run(background_loop, worker, text)
    result = outcome(background_loop, handle)
    assert result == {
        "status": "succeeded",
        "output": {"said": "ok on attempt 3", "attempt": "succeeded"},
        "errors": [],
    }
    assert time.monotonic() - started >= 0.3  # 0.1 s, then 0.2 s, waited on durable timers


def test_task_timeout_fails_the_attempt(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    text = """
version: 1
tasks:
  slow:
    action: test.slow
    input: {seconds: 10}
    timeout: 0.5
"""
    result = outcome(background_loop, start_run(background_loop, worker, text))
    assert result["status"] == "failed"
    assert result["errors"][0]["type"] == "timeout"


def test_cancel_stops_running_actions(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    text = """
version: 1
tasks:
  slow:
    action: test.slow
    input: {seconds: 30}
"""
    handle = start_run(background_loop, worker, text)
    time.sleep(1.0)
    started = time.monotonic()
    background_loop.run(handle.cancel())
    assert outcome(background_loop, handle) == {"status": "canceled-by-temporal"}
    assert time.monotonic() - started < 10


def test_pause_and_resume(background_loop: BackgroundLoop, worker: tuple[Client, str]) -> None:
    text = """
version: 1
tasks:
  first:
    action: test.slow
    input: {seconds: 1}
    next: [{do: second}]
  second:
    action: core.echo
    input: done
    next: [{publish: {said: <% $result %>}}]
output: <% $ctx.said %>
"""
    handle = start_run(background_loop, worker, text)
    background_loop.run(handle.signal(SIGNAL_PAUSE))
    time.sleep(2.0)
    progress: dict[str, Any] = background_loop.run(handle.query(QUERY_PROGRESS))
    assert progress["paused"] is True
    assert progress["started"] == 1  # `second` did not start while paused
    background_loop.run(handle.signal(SIGNAL_RESUME))
    assert outcome(background_loop, handle) == {
        "status": "succeeded",
        "output": "done",
        "errors": [],
    }


def test_wait_resumed_by_a_signal(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    text = """
version: 1
tasks:
  approval:
    action: core.approval
    input: {timeout: 60}
    next:
      - when: $succeeded()
        publish: {by: <% $result.by %>}
      - when: $failed()
        publish: {by: <% $error.type %>}
        do: noop
output: {by: <% $ctx.by %>}
"""
    handle = start_run(background_loop, worker, text)
    time.sleep(0.5)
    progress: dict[str, Any] = background_loop.run(handle.query(QUERY_PROGRESS))
    assert progress["waiting"][0]["task"] == "approval"
    # The API's reading of the same answer: typed, the approval's attempt and no item.
    typed = background_loop.run(query_progress(worker[0], handle.id))
    assert (typed.status, typed.paused, typed.started) == (ApiStatus.RUNNING, False, 1)
    assert [(w.task, w.item, w.attempt, w.event) for w in typed.waiting] == [
        ("approval", None, 1, progress["waiting"][0]["event"])
    ]
    assert [r.task for r in typed.running] == ["approval"]
    background_loop.run(
        handle.signal(
            SIGNAL_DELIVER, SignalPayload(payload={"approved": True, "by": "ada"}, task="approval")
        )
    )
    assert outcome(background_loop, handle) == {
        "status": "succeeded",
        "output": {"by": "ada"},
        "errors": [],
    }


def test_wait_times_out(background_loop: BackgroundLoop, worker: tuple[Client, str]) -> None:
    text = """
version: 1
tasks:
  wait:
    action: core.wait_event
    input: {event: deploy, timeout: 0.5}
"""
    result = outcome(background_loop, start_run(background_loop, worker, text))
    assert result["status"] == "failed" and result["errors"][0]["type"] == "timeout"


def test_child_workflow(background_loop: BackgroundLoop, worker: tuple[Client, str]) -> None:
    text = """
version: 1
tasks:
  child:
    workflow: child-greeting
    input: {name: Ada}
    next: [{publish: {greeting: <% $result.greeting %>}}]
output: <% $ctx.greeting %>
"""
    result = outcome(background_loop, start_run(background_loop, worker, text))
    assert result == {"status": "succeeded", "output": "Hello Ada", "errors": []}


ATTEMPTS = """
version: 1
tasks:
  boom:
    action: core.fail
    input: {type: boom, message: always}
    next: [{when: $failed(), publish: {attempts: <% $task.attempt %>}, do: noop}]
output: <% $ctx.attempts %>
"""


def test_the_retry_layers_a_run_starts_with_are_the_ones_it_keeps(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    """An action's own retry layer travels in the run's start input (LANGUAGE.md §8):
    the run decides with it whatever the worker's catalog says; without it, the worker's
    catalog applies (core.fail has no retry layer there)."""
    carried = {"core.fail": {"count": 2.0, "delay": 0.0}}
    with_layer = start_run(background_loop, worker, ATTEMPTS, retry_defaults=carried)
    assert outcome(background_loop, with_layer)["output"] == 3
    without = start_run(background_loop, worker, ATTEMPTS)
    assert outcome(background_loop, without)["output"] == 1


def test_a_payload_that_arrives_before_the_wait_answers_nothing(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    """No early-answer buffer: a signal sent before the wait began is dropped (and, with a
    trace, warned about), so it can never answer a wait it was not sent for."""
    text = """
version: 1
tasks:
  first:
    action: test.slow
    input: {seconds: 1}
    next: [{do: wait}]
  wait:
    action: core.wait_event
    input: {event: go, timeout: 30}
    next: [{publish: {got: <% $result %>}}]
output: <% $ctx.got %>
"""
    handle = start_run(background_loop, worker, text)
    background_loop.run(handle.signal(SIGNAL_DELIVER, SignalPayload(payload={"n": 1}, event="go")))
    deadline = time.monotonic() + 20
    while not background_loop.run(handle.query(QUERY_PROGRESS))["waiting"]:
        assert time.monotonic() < deadline, "the task never waited"
        time.sleep(0.1)
    time.sleep(0.3)  # the wait stays open: the early signal was not kept
    assert background_loop.run(handle.query(QUERY_PROGRESS))["waiting"][0]["task"] == "wait"
    taken = background_loop.run(
        handle.execute_update(UPDATE_ANSWER, SignalPayload(payload={"n": 2}, task="wait"))
    )
    assert taken["task"] == "wait" and taken["item"] is None
    assert outcome(background_loop, handle) == {
        "status": "succeeded",
        "output": {"n": 2},
        "errors": [],
    }


# `timeout` applies to every task kind (issue 18, case 4): an action that runs in the
# workflow and would take 30 s fails with `timeout` when its task's 1 s timeout passes.
NATIVE_WAITS = {
    "a core.sleep (a workflow timer)": "action: core.sleep\n    input: {seconds: 30}",
    "a core.wait_event with no timeout of its own": (
        "action: core.wait_event\n    input: {event: never, key: k}"
    ),
}


@pytest.mark.parametrize("kind", list(NATIVE_WAITS))
def test_a_native_action_honours_the_task_timeout(
    kind: str, background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    text = f"""
version: 1
tasks:
  work:
    {NATIVE_WAITS[kind]}
    timeout: 1
    next: [{{when: $failed(), publish: {{error: <% $error.type %>}}, do: noop}}]
output: <% $ctx.error %>
"""
    started = time.monotonic()
    result = outcome(background_loop, start_run(background_loop, worker, text))
    assert result["output"] == "timeout"
    assert time.monotonic() - started < 10


def test_a_task_limit_on_a_worker_without_the_store_fails_the_attempt_at_once(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    """This module's worker has no PostgreSQL: a limited task's attempt fails with the
    precise reason (handled by its transition) instead of running unlimited or hanging."""
    text = """
version: 1
tasks:
  work:
    action: core.noop
    concurrency_limits:
      per_host: {limit: 1, key: db-1}
    next: [{when: $failed(), publish: {error: <% $error.message %>}, do: noop}]
output: <% $ctx.error %>
"""
    started = time.monotonic()
    result = outcome(background_loop, start_run(background_loop, worker, text))
    assert result["status"] == "succeeded", result
    assert "concurrency limits need the PostgreSQL store" in result["output"]
    assert time.monotonic() - started < 15
