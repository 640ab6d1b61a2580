"""Correlated events routed to waiting runs by key, and the live trace over SSE on a
real socket: every event in order, the end after the terminal event, resume with
Last-Event-ID, and the polling fallback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.streaming import TraceHub, trace_stream
from engine.store import find_waiting, get_event
from tests.api.conftest import TOKEN, Harness, unique
from tests.api.test_workflows import problem

pytestmark = [pytest.mark.postgres, pytest.mark.temporal]

WAITER = """\
version: 1
input:
  order: {type: string}
tasks:
  wait:
    action: core.wait_event
    input: {event: order.paid, key: <% $ctx.order %>}
    next:
      - publish: {paid: <% $result %>}
output:
  paid: <% $ctx.paid %>
"""

SLOW_CHAIN = """\
version: 1
tasks:
  one:
    action: test.slow
    input: {seconds: 0.3}
    next: [{do: two}]
  two:
    action: test.slow
    input: {seconds: 0.3}
    next: [{do: three}]
  three:
    action: test.slow
    input: {seconds: 0.3}
"""


def sse_messages(response: httpx.Response) -> Iterator[dict[str, str]]:
    """The messages of an SSE response (comments skipped), as {field: value}."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if fields:
                yield fields
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        fields[name] = fields[name] + "\n" + value if name in fields else value
    if fields:
        yield fields


def stream(
    harness: Harness, run_id: str, *, stop_after: int | None = None, **kw: Any
) -> list[dict[str, str]]:
    """Read the run's SSE stream to its end (or `stop_after` messages, then hang up)."""
    received: list[dict[str, str]] = []
    with (
        httpx.Client(
            base_url=harness.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20
        ) as client,
        client.stream("GET", f"/runs/{run_id}/stream", **kw) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for message in sse_messages(response):
            received.append(message)
            if stop_after is not None and len(received) == stop_after:
                break
    return received


def events_of(messages: list[dict[str, str]]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for message in messages:
        envelope = json.loads(message["data"])
        [event] = envelope["events"]
        assert message["id"] == event["id"] and envelope["runId"] == event["runId"]
        assert envelope["cursor"]
        events.append(event)
    return events


def listening_connections(harness: Harness) -> int:
    """Database sessions whose last statement was the trace hub's LISTEN."""

    async def count() -> int:
        async with harness.worker_pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query ILIKE 'LISTEN%segue_trace%'"
            )
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    return harness.loop.run(count())


def wait_for_waits(harness: Harness, key: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waits = harness.loop.run(find_waiting(harness.worker_pool, "order.paid", key))
        if len(waits) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"never {count} runs waiting for key {key}")


def test_events_reach_every_run_waiting_with_the_key(harness: Harness) -> None:
    name = unique("waiter")
    harness.register(name, WAITER)
    order = unique("order")
    first, second = harness.start(name, {"order": order}), harness.start(name, {"order": order})
    other = harness.start(name, {"order": order + "-other"})
    wait_for_waits(harness, order, 2)
    wait_for_waits(harness, order + "-other", 1)

    payload = {"order": {"id": order}, "amount": 12}
    answer = harness.client.post("/events", json={"event": "order.paid", "payload": payload})
    assert answer.status_code == 202, answer.text
    routed = answer.json()
    assert sorted(routed["matchedRuns"]) == sorted([first, second])
    assert routed["correlationKey"] == order
    for run_id in (first, second):
        final = harness.wait_for(run_id)
        assert final["status"] == "COMPLETED" and final["output"] == {"paid": payload}
    assert harness.client.get(f"/runs/{other}").json()["status"] == "RUNNING"
    recorded = harness.loop.run(get_event(harness.worker_pool, routed["eventId"]))
    assert recorded is not None and recorded.matched_runs == 2

    explicit = harness.client.post(
        "/events", json={"event": "order.paid", "key": order + "-other", "payload": {"n": 1}}
    ).json()
    assert explicit["matchedRuns"] == [other]
    assert harness.wait_for(other)["output"] == {"paid": {"n": 1}}


ITEM_WAITER = """\
version: 1
input:
  orders: {type: array}
tasks:
  wait:
    with: {items: <% $ctx.orders %>}
    action: core.wait_event
    input: {event: order.paid, key: <% $item %>}
    next:
      - publish: {paid: <% $result %>}
output:
  paid: <% $ctx.paid %>
"""


def test_an_event_reaches_only_the_item_waiting_with_its_key(harness: Harness) -> None:
    name = unique("item-waiter")
    harness.register(name, ITEM_WAITER)
    orders = [unique("order"), unique("order")]
    run_id = harness.start(name, {"orders": orders})
    for order in orders:
        wait_for_waits(harness, order, 1)
    for order in reversed(orders):
        answer = harness.client.post(
            "/events", json={"event": "order.paid", "key": order, "payload": {"id": order}}
        )
        assert answer.status_code == 202 and answer.json()["matchedRuns"] == [run_id]
    final = harness.wait_for(run_id)
    assert final["status"] == "COMPLETED"
    assert final["output"] == {"paid": [{"id": order} for order in orders]}


def test_an_unmatched_event_is_recorded(harness: Harness) -> None:
    answer = harness.client.post(
        "/events", json={"event": "order.paid", "key": unique("nobody"), "payload": [1, 2]}
    )
    assert answer.status_code == 202 and answer.json()["matchedRuns"] == []
    recorded = harness.loop.run(get_event(harness.worker_pool, answer.json()["eventId"]))
    assert recorded is not None and recorded.matched_runs == 0 and recorded.payload == [1, 2]
    other_name = harness.client.post("/events", json={"event": "shipped", "payload": {}})
    assert other_name.status_code == 202 and other_name.json()["matchedRuns"] == []
    no_key = harness.client.post("/events", json={"event": "order.paid", "payload": {"x": 1}})
    problem(no_key, 422, "EVENT_KEY_UNRESOLVED")
    problem(harness.client.post("/events", json={"payload": {}}), 400, "INVALID_REQUEST")


def test_sse_delivers_every_event_in_order_and_ends(harness: Harness) -> None:
    name = unique("chain")
    harness.register(name, SLOW_CHAIN)
    run_id = harness.start(name)
    received = events_of(stream(harness, run_id))
    assert received == harness.trace(run_id)
    assert listening_connections(harness) >= 1  # delivered through LISTEN/NOTIFY
    assert received[0]["type"] == "WORKFLOW_STARTED"
    # 2 run events, STARTED and COMPLETED of each of 3 tasks, a TRANSITION of one and two.
    assert received[-1]["type"] == "WORKFLOW_COMPLETED" and len(received) == 10


def test_sse_resume_with_last_event_id_misses_nothing(harness: Harness) -> None:
    name = unique("resumed")
    harness.register(name, SLOW_CHAIN)
    run_id = harness.start(name)
    head = stream(harness, run_id, stop_after=2)
    tail = stream(harness, run_id, headers={"Last-Event-ID": head[-1]["id"]})
    combined = events_of(head + tail)
    assert combined == harness.trace(run_id)
    assert combined[-1]["type"] == "WORKFLOW_COMPLETED"

    # A cursor works the same; from the end of a finished run the stream simply ends.
    cursor = json.loads(head[0]["data"])["cursor"]
    assert events_of(stream(harness, run_id, params={"cursor": cursor})) == combined[1:]
    last = json.loads(tail[-1]["data"])["cursor"]
    assert stream(harness, run_id, params={"cursor": last}) == []


def test_polling_fallback_without_listen(harness: Harness) -> None:
    name = unique("polled")
    harness.register(name, SLOW_CHAIN)
    run_id = harness.start(name)

    async def collect() -> list[str]:
        ready = asyncio.Event()
        ready.set()
        hub = TraceHub(harness.database_url, ready, poll_seconds=0.1)  # never listening
        ended = asyncio.Event()

        async def has_ended() -> bool:
            return ended.is_set()

        ids = []
        async for message in trace_stream(
            harness.worker_pool, hub, run_id, 0, run_has_ended=has_ended
        ):
            ids.append(str(message.id))
        return ids

    ids = harness.loop.run(collect(), timeout=30)
    assert ids == [event["id"] for event in harness.trace(run_id)]
