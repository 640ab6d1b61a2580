"""Where actions run, on the real Temporal dev server: `core.fail` in the workflow, and
waits inside with-items, one per item, answered item by item (hostile signals included:
an item that does not exist, a signal without an item, two answers for one item)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from engine.coordinator.behaviour import CURRENT_BEHAVIOUR
from engine.temporal.types import QUERY_PROGRESS, SIGNAL_DELIVER, SignalPayload
from engine.temporal.versioning import patch_id
from tests.support.temporal import BackgroundLoop
from tests.temporal.test_runs import outcome, start_run, worker

pytestmark = pytest.mark.temporal
__all__ = ["worker"]  # the module-scoped worker fixture of test_runs, shared


def _history_types(loop: BackgroundLoop, handle: WorkflowHandle[Any, Any]) -> list[Any]:
    async def fetch() -> list[Any]:
        history = await handle.fetch_history()
        return list(history.events)

    return loop.run(fetch())


def _waiting(loop: BackgroundLoop, handle: WorkflowHandle[Any, Any]) -> list[dict[str, Any]]:
    progress: dict[str, Any] = loop.run(handle.query(QUERY_PROGRESS))
    return list(progress["waiting"])


def _until_waiting(
    loop: BackgroundLoop, handle: WorkflowHandle[Any, Any], count: int
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = _waiting(loop, handle)
        if len(waiting) == count:
            return waiting
        time.sleep(0.1)
    raise AssertionError(f"expected {count} waits, have {_waiting(loop, handle)}")


def _send(loop: BackgroundLoop, handle: WorkflowHandle[Any, Any], signal: SignalPayload) -> None:
    loop.run(handle.signal(SIGNAL_DELIVER, signal))


def test_core_fail_runs_in_the_workflow(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    text = """
version: 1
tasks:
  boom:
    action: core.fail
    input: {type: disk_full, message: no space, details: {free: 0}}
    next:
      - when: $failed()
        publish: {error: <% $error %>}
        do: noop
  bad:
    with: {items: [1, 2]}
    action: core.fail
    input: {typo: <% $item %>}
    next:
      - when: $failed()
        publish: {item_error: <% $error.type %>}
        do: noop
output: {error: <% $ctx.error %>, item_error: <% $ctx.item_error %>}
"""
    handle = start_run(background_loop, worker, text)
    result = outcome(background_loop, handle)
    assert (result["status"], result["output"]) == (
        "succeeded",
        {
            "error": {"type": "disk_full", "message": "no space", "details": {"free": 0}},
            "item_error": "invalid_input",
        },
    )
    assert sorted((e["task"], e["type"], e["handled"]) for e in result["errors"]) == [
        ("bad", "action_failed", True),
        ("boom", "action_failed", True),
    ]
    events = _history_types(background_loop, handle)
    kinds = [event.event_type for event in events]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds  # no activity at all
    markers = [
        event.marker_recorded_event_attributes
        for event in events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    # The behaviour marker: a replay of this history takes the new placement again.
    marker_id = patch_id(CURRENT_BEHAVIOUR).encode()
    assert any(marker_id in marker.SerializeToString() for marker in markers)


ITEM_APPROVALS = """
version: 1
tasks:
  approve:
    with: {items: [ada, bob, cy]}
    action: core.approval
    input: {timeout: 60, who: <% $item %>}
    next:
      - when: $succeeded()
        publish: {decisions: <% $result %>}
      - when: $failed()
        publish: {error: <% $error %>, partial: <% $result %>}
        do: noop
output:
  decisions: '<% $exists($ctx.decisions) ? $ctx.decisions : null %>'
  error: '<% $exists($ctx.error) ? $ctx.error : null %>'
  partial: '<% $exists($ctx.partial) ? $ctx.partial : null %>'
"""


def test_approvals_wait_per_item(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    handle = start_run(background_loop, worker, ITEM_APPROVALS)
    waiting = _until_waiting(background_loop, handle, 3)
    assert [(w["task"], w["item"], w["event"]) for w in waiting] == [
        ("approve", 0, "approval:approve"),
        ("approve", 1, "approval:approve"),
        ("approve", 2, "approval:approve"),
    ]
    execution = waiting[0]["execution"]
    # Hostile first: nobody approves an item by accident.
    _send(background_loop, handle, SignalPayload({"approved": True}, task="approve"))
    _send(background_loop, handle, SignalPayload({"approved": True}, task="approve", item=7))
    _send(
        background_loop,
        handle,
        SignalPayload({"approved": True}, task="approve", item=9, execution=execution),
    )
    assert len(_waiting(background_loop, handle)) == 3
    # Item 1 first, then item 0 twice (pinned, as the API sends it): the first answer wins.
    _send(background_loop, handle, SignalPayload({"by": "bob"}, task="approve", item=1))
    first = SignalPayload({"by": "ada"}, task="approve", item=0, execution=execution)
    again = SignalPayload({"by": "mallory"}, task="approve", item=0, execution=execution)
    _send(background_loop, handle, first)
    _send(background_loop, handle, again)
    assert [w["item"] for w in _until_waiting(background_loop, handle, 1)] == [2]
    _send(background_loop, handle, SignalPayload({"by": "cy"}, task="approve", item=2))
    assert outcome(background_loop, handle) == {
        "status": "succeeded",
        "output": {
            "decisions": [{"by": "ada"}, {"by": "bob"}, {"by": "cy"}],
            "error": None,
            "partial": None,
        },
        "errors": [],
    }


def test_a_rejected_item_fails_the_task_after_the_others(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    handle = start_run(background_loop, worker, ITEM_APPROVALS)
    _until_waiting(background_loop, handle, 3)
    rejection = {"approved": False, "comment": "not bob"}
    _send(background_loop, handle, SignalPayload(rejection, task="approve", item=1))
    _send(background_loop, handle, SignalPayload({"by": "x"}, task="approve", item=0))
    _send(background_loop, handle, SignalPayload({"by": "y"}, task="approve", item=2))
    result = outcome(background_loop, handle)
    assert result["status"] == "succeeded", result
    assert result["output"]["error"] == {
        "type": "rejected",
        "message": "item 1: not bob",
        "details": rejection,
    }
    assert result["output"]["partial"] == [{"by": "x"}, None, {"by": "y"}]


def test_events_reach_the_item_they_are_keyed_for(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    text = """
version: 1
tasks:
  paid:
    with: {items: [o-1, o-2], concurrency: 2}
    action: core.wait_event
    input: {event: payment, key: <% $item %>, timeout: 60}
    next: [{publish: {paid: <% $result %>}}]
output: <% $ctx.paid %>
"""
    handle = start_run(background_loop, worker, text)
    waiting = _until_waiting(background_loop, handle, 2)
    assert [(w["item"], w["key"]) for w in waiting] == [(0, "o-1"), (1, "o-2")]
    for wait in reversed(waiting):  # as POST /events routes them: pinned, keyed
        signal = SignalPayload(
            {"order": wait["key"]},
            task="paid",
            event="payment",
            correlation_key=wait["key"],
            execution=wait["execution"],
            item=wait["item"],
        )
        _send(background_loop, handle, signal)
    assert outcome(background_loop, handle) == {
        "status": "succeeded",
        "output": [{"order": "o-1"}, {"order": "o-2"}],
        "errors": [],
    }
