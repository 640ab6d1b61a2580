"""Concurrency limits on a task (issue 16), on the real Temporal dev server and store: each
attempt of a limited task holds a slot while its action runs, keyed over the task's
context at dispatch; attempts of two runs on one key never overlap, the waiting one is
woken by the other's release; a run cancelled while its task waits gives its place up;
`fail` fails the attempt (`limit_full`), which the task's transitions handle."""

from __future__ import annotations

import time
from typing import Any

import httpx

from engine.store.limits import leases_of, limit_usage
from tests.api.conftest import Harness, unique

# `probe` holds a slot of the limit for its host while its action runs: `test.timed`
# (an activity that says when it ran), or `core.approval` (held until answered).
PROBE = """\
version: 1
input:
  host: {type: string}
  seconds: {type: number, default: 1.5}
vars:
  ran: null
  refused: null
tasks:
  prepare:
    action: core.noop
    next: [{publish: {target: "<% $ctx.host %>"}, do: probe}]
  probe:
    action: {action}
    input: {seconds: <% $ctx.seconds %>}
    concurrency_limits:
      {limit}: {key: <% $ctx.target %>, limit: 1, strategy: {strategy}}
    next:
      - when: $succeeded()
        publish: {ran: <% $result %>}
      - when: $failed()
        publish: {refused: <% $error.type %>}
        do: noop
output:
  ran: <% $ctx.ran %>
  refused: <% $ctx.refused %>
"""


def _register(harness: Harness, action: str, strategy: str = "queue") -> tuple[str, str]:
    name, limit = unique("probed"), unique("per_host")
    text = (
        PROBE.replace("{action}", action).replace("{limit}", limit).replace("{strategy}", strategy)
    )
    harness.register(name, text)
    return name, limit


def _usage(harness: Harness, limit: str) -> tuple[int, int]:
    async def read() -> tuple[int, int]:
        found = {u.name: u for u in await limit_usage(harness.worker_pool)}.get(limit)
        return (found.holders, found.waiters) if found else (0, 0)

    return harness.loop.run(read())


def _until_usage(harness: Harness, limit: str, expected: tuple[int, int]) -> None:
    deadline = time.monotonic() + 20
    while _usage(harness, limit) != expected:
        assert time.monotonic() < deadline, _usage(harness, limit)
        time.sleep(0.1)


def _waits(harness: Harness, run_id: str) -> dict[str, Any]:
    """The PROGRESS event that says the task waits for the limit."""
    return harness.wait_for_event(
        run_id, lambda e: e["type"] == "PROGRESS" and "waits for limit" in (e["message"] or "")
    )


def _leases(harness: Harness, run_id: str) -> list[Any]:
    return harness.loop.run(leases_of(harness.worker_pool, run_id))


def test_two_runs_whose_task_is_limited_to_one_per_host_never_overlap(harness: Harness) -> None:
    name, limit = _register(harness, "test.timed")
    first = harness.start(name, {"host": "db-1"})
    second = harness.start(name, {"host": "db-1"})
    other = harness.start(name, {"host": "db-2"})  # another key: runs beside them
    finals = {run: harness.wait_for(run, timeout=60) for run in (first, second, other)}
    assert {run: final["status"] for run, final in finals.items()} == dict.fromkeys(
        finals, "COMPLETED"
    )
    spans = sorted(
        (finals[run]["output"]["ran"]["started"], finals[run]["output"]["ran"]["ended"])
        for run in (first, second)
    )
    # One host, one slot: the later attempt's action started once the earlier's ended.
    assert spans[1][0] >= spans[0][1], spans
    # Its trace says it waited (the key rendered from the context at dispatch).
    waited = [run for run in (first, second) if "waits for limit" in str(harness.trace(run))]
    assert len(waited) == 1
    assert _waits(harness, waited[0])["data"] | {"position": 1} == {
        "execution": _waits(harness, waited[0])["data"]["execution"],
        "limit": limit,
        "key": "db-1",
        "position": 1,
    }
    # db-2 was never held up by db-1.
    assert "waits for limit" not in str(harness.trace(other))
    ran_other = finals[other]["output"]["ran"]
    assert ran_other["started"] < spans[0][1]
    _until_usage(harness, limit, (0, 0))


def test_a_run_cancelled_while_its_task_waits_gives_its_place_up(harness: Harness) -> None:
    name, limit = _register(harness, "core.approval")
    holder = harness.start(name, {"host": "h"})
    harness.wait_for_event(holder, lambda e: e["type"] == "PROGRESS" and e["nodeId"] == "probe")
    _until_usage(harness, limit, (1, 0))
    waiter = harness.start(name, {"host": "h"})
    later = harness.start(name, {"host": "h"})
    _waits(harness, waiter)
    _waits(harness, later)
    _until_usage(harness, limit, (1, 2))
    assert [lease.holding for lease in _leases(harness, waiter)] == [False]

    # The run goes on RUNNING while its task waits (the run itself is not queued).
    assert harness.client.get(f"/runs/{waiter}").json()["status"] == "RUNNING"
    assert harness.client.post(f"/runs/{waiter}/cancel").status_code == 202
    assert harness.wait_for(waiter)["status"] == "CANCELLED"
    _until_usage(harness, limit, (1, 1))  # its place is gone, the holder untouched
    assert _leases(harness, waiter) == []

    answer = {"payload": {"ok": True}}
    assert harness.client.post(f"/runs/{holder}/signals/probe", json=answer).status_code == 202
    assert harness.wait_for(holder)["status"] == "COMPLETED"
    # The holder's release went to the next in line, past the cancelled one.
    harness.wait_for_event(
        later, lambda e: e["type"] == "PROGRESS" and e["nodeId"] == "probe" and "limit" not in (
            e["message"] or "")
    )  # fmt: skip
    _until_usage(harness, limit, (1, 0))
    assert harness.client.post(f"/runs/{later}/signals/probe", json=answer).status_code == 202
    assert harness.wait_for(later)["status"] == "COMPLETED"
    _until_usage(harness, limit, (0, 0))


def test_fail_fails_the_attempt_and_the_task_handles_it(harness: Harness) -> None:
    name, limit = _register(harness, "core.approval", "fail")
    holder = harness.start(name, {"host": "h"})
    _until_usage(harness, limit, (1, 0))
    refused = harness.start(name, {"host": "h"})
    final = harness.wait_for(refused)
    # Handled by its `$failed()` transition.
    assert final["status"] == "COMPLETED", str(final["errors"])
    assert final["output"] == {"ran": None, "refused": "limit_full"}
    assert final["errors"][0]["handled"] is True
    assert _leases(harness, refused) == []
    answer = {"payload": {"ok": True}}
    assert harness.client.post(f"/runs/{holder}/signals/probe", json=answer).status_code == 202
    assert harness.wait_for(holder)["status"] == "COMPLETED"
    _until_usage(harness, limit, (0, 0))


ITEMS = """\
version: 1
tasks:
  probe:
    with: <% ["db-1", "db-1", "db-2"] %>
    action: test.timed
    input: {seconds: 1}
    concurrency_limits:
      {limit}: {key: <% $item %>, limit: 1}
    next: [{publish: {spans: <% $result %>}}]
output: <% $ctx.spans %>
"""


def test_items_of_one_run_on_one_key_take_turns(harness: Harness) -> None:
    """Two items of the same key in one run: the second waits for the first, whose
    release (in the same run) wakes it; the item of another key runs beside them."""
    name, limit = unique("items"), unique("per_host")
    harness.register(name, ITEMS.replace("{limit}", limit))
    run_id = harness.start(name)
    final = harness.wait_for(run_id, timeout=60)
    assert final["status"] == "COMPLETED", str(final["errors"])
    same, other = sorted(final["output"][:2], key=lambda s: s["started"]), final["output"][2]
    assert same[1]["started"] >= same[0]["ended"], same
    assert other["started"] < same[0]["ended"]
    _until_usage(harness, limit, (0, 0))


def test_get_limits_shows_holders_waiters_and_the_oldest_wait_per_key(harness: Harness) -> None:
    name, limit = _register(harness, "core.approval")
    holder = harness.start(name, {"host": "h"})
    _until_usage(harness, limit, (1, 0))
    waiter = harness.start(name, {"host": "h"})
    elsewhere = harness.start(name, {"host": "g"})
    _waits(harness, waiter)
    _until_usage(harness, limit, (2, 1))

    listed = harness.client.get("/limits", params={"name": limit})
    assert listed.status_code == 200, listed.text
    (found,) = listed.json()["limits"]
    assert (found["name"], found["holders"], found["waiters"]) == (limit, 2, 1)
    keys = {key["key"]: key for key in found["keys"]}
    assert (keys["g"]["holders"], keys["g"]["waiters"]) == (1, 0)
    assert "oldestWait" not in keys["g"]  # nobody waits there
    assert (keys["h"]["holders"], keys["h"]["waiters"]) == (1, 1)
    assert keys["h"]["oldestWait"].endswith("Z")
    assert limit in {x["name"] for x in harness.client.get("/limits").json()["limits"]}
    # Hostile: a name too long is refused; an unknown one lists nothing; no token, 401.
    too_long = harness.client.get("/limits", params={"name": "x" * 65})
    assert (too_long.status_code, too_long.json()["code"]) == (400, "NAME_INVALID")
    assert harness.client.get("/limits", params={"name": "nobody"}).json()["limits"] == []
    assert httpx.get(f"{harness.url}/limits", timeout=10).status_code == 401

    for run_id in (holder, waiter, elsewhere):
        assert harness.client.post(f"/runs/{run_id}/cancel").status_code == 202
    _until_usage(harness, limit, (0, 0))
    assert harness.client.get("/limits", params={"name": limit}).json()["limits"] == []
