"""`POST /events` reports a run in `matchedRuns` only when its workflow took the event for
a live wait (issue 18 cases 5 and 6, issue 11 case 6), on the real stack: racing events,
an event racing the wait's timeout, a retried wait, and waits that events must not
reach (approvals, waits without a declared key)."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from engine.store import find_waiting, get_event
from tests.api.conftest import TOKEN, Harness, unique

pytestmark = [pytest.mark.postgres, pytest.mark.temporal]

RACES = 30

WAITER = """\
version: 1
input:
  order: {type: string}
  timeout: {type: number, default: 60}
tasks:
  wait:
    action: core.wait_event
    input: {event: parcel.sent, key: <% $ctx.order %>, timeout: <% $ctx.timeout %>}
    next:
      - when: <% $succeeded() %>
        publish: {got: <% $result %>}
output:
  got: <% $ctx.got %>
"""


def _indexed(harness: Harness, event: str, key: str, timeout: float = 20) -> None:
    """Until the waits index names a wait for (event, key)."""
    deadline = time.monotonic() + timeout
    while not harness.loop.run(find_waiting(harness.worker_pool, event, key)):
        assert time.monotonic() < deadline, f"no wait for {event} {key} was indexed"
        time.sleep(0.05)


def _post(harness: Harness, body: dict[str, Any], start: threading.Barrier | None = None) -> Any:
    with httpx.Client(
        base_url=harness.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as client:
        if start is not None:
            start.wait()
        answer = client.post("/events", json=body)
    assert answer.status_code == 202, answer.text
    return answer.json()


def _matched_count(harness: Harness, event_id: int) -> int:
    recorded = harness.loop.run(get_event(harness.worker_pool, event_id))
    assert recorded is not None
    return recorded.matched_runs


def test_two_events_racing_for_one_wait_one_is_taken_one_kept_unmatched(
    harness: Harness,
) -> None:
    name = unique("parcel")
    harness.register(name, WAITER)
    orders = [unique("order") for _ in range(RACES)]
    runs = [harness.start(name, {"order": order}) for order in orders]
    for order in orders:
        _indexed(harness, "parcel.sent", order)

    def race(order: str) -> list[Any]:
        start = threading.Barrier(2)
        bodies = [{"event": "parcel.sent", "key": order, "payload": {"n": n}} for n in (1, 2)]
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(lambda body: _post(harness, body, start), bodies))

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(race, orders))
    for run_id, answers in zip(runs, outcomes, strict=True):
        matched = [a for a in answers if a["matchedRuns"] == [run_id]]
        kept = [a for a in answers if a["matchedRuns"] == []]
        assert (len(matched), len(kept)) == (1, 1), answers
        assert _matched_count(harness, matched[0]["eventId"]) == 1
        assert _matched_count(harness, kept[0]["eventId"]) == 0  # kept, as unmatched
        winner = 1 if matched[0] is answers[0] else 2
        final = harness.wait_for(run_id)
        assert final["status"] == "COMPLETED" and final["output"] == {"got": {"n": winner}}


def test_an_event_racing_the_timeout_is_delivered_only_if_the_wait_took_it(
    harness: Harness,
) -> None:
    name = unique("parcel-deadline")
    harness.register(name, WAITER)
    rng = random.Random(18)
    delays = [rng.uniform(1.5, 2.5) for _ in range(RACES)]  # the wait's timeout is 2 s

    def run_one(delay: float) -> tuple[str, str, Any]:
        order = unique("order")
        run_id = harness.start(name, {"order": order, "timeout": 2})
        harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED")
        time.sleep(delay)
        body = {"event": "parcel.sent", "key": order, "payload": {"o": order}}
        return run_id, order, _post(harness, body)

    with ThreadPoolExecutor(10) as pool:
        raced = list(pool.map(run_one, delays))
    outcomes: list[str] = []
    for run_id, order, answer in raced:
        final = harness.wait_for(run_id)
        if answer["matchedRuns"] == [run_id]:
            outcomes.append("delivered")
            assert final["status"] == "COMPLETED", final
            assert final["output"] == {"got": {"o": order}}
        else:
            outcomes.append("timed out")
            assert answer["matchedRuns"] == []
            assert final["status"] == "FAILED" and final["errors"][0]["type"] == "timeout"
            assert _matched_count(harness, answer["eventId"]) == 0
    # Each run is consistent either way; the delays straddle the deadline so that both
    # sides of the race happen (about half each here).
    assert {"delivered", "timed out"} <= set(outcomes), outcomes


RETRIED = """\
version: 1
input:
  order: {type: string}
tasks:
  wait:
    action: core.wait_event
    input: {event: parcel.sent, key: <% $ctx.order %>, timeout: 2}
    retry: {count: 1}
    next:
      - when: <% $succeeded() %>
        publish: {got: <% $result %>, attempt: <% $task.attempt %>}
output:
  got: <% $ctx.got %>
  attempt: <% $ctx.attempt %>
"""


def test_every_attempt_of_a_retried_wait_is_reachable(harness: Harness) -> None:
    name = unique("parcel-retried")
    harness.register(name, RETRIED)
    order = unique("order")
    run_id = harness.start(name, {"order": order})
    harness.wait_for_event(run_id, lambda e: e["level"] == "warn" and e.get("nodeId") == "wait")
    _indexed(harness, "parcel.sent", order)  # attempt 2's wait, under the same execution
    answer = _post(harness, {"event": "parcel.sent", "key": order, "payload": {"late": True}})
    assert answer["matchedRuns"] == [run_id]
    final = harness.wait_for(run_id)
    assert final["status"] == "COMPLETED"
    assert final["output"] == {"got": {"late": True}, "attempt": 2}


ONLY_THROUGH_THE_RUN = """\
version: 1
tasks:
  approve:
    action: core.approval
    next: [{do: listen}]
  listen:
    action: core.wait_event
    input: {event: deploy}
output:
  done: true
"""


def test_approvals_and_waits_without_a_key_are_answered_only_through_their_run(
    harness: Harness,
) -> None:
    name = unique("private-waits")
    harness.register(name, ONLY_THROUGH_THE_RUN)
    run_id = harness.start(name)
    harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED" and e["nodeId"] == "approve")
    for body in (
        {"event": "approval:approve", "payload": {"approved": True}},
        {"event": "approval:approve", "key": "x", "payload": {"approved": True}},
    ):
        answer = _post(harness, body)
        assert answer["matchedRuns"] == [] and _matched_count(harness, answer["eventId"]) == 0
    approved = harness.client.post(f"/runs/{run_id}/signals/approve", json={"payload": {}})
    assert approved.status_code == 202, approved.text
    harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED" and e["nodeId"] == "listen")
    for body in (
        {"event": "deploy", "payload": 1},
        {"event": "deploy", "key": "any", "payload": 1},
    ):
        assert _post(harness, body)["matchedRuns"] == []
    assert harness.client.get(f"/runs/{run_id}").json()["status"] == "RUNNING"
    answered = harness.client.post(f"/runs/{run_id}/signals/listen", json={"payload": 2})
    assert answered.status_code == 202, answered.text
    assert harness.wait_for(run_id)["status"] == "COMPLETED"
