"""Concurrency limits across runs (issue 16), on the real Temporal dev server and store:
a full key queues the next run (status QUEUED, a WORKFLOW_QUEUED trace event with its
position), the run that ends wakes it by signal, the strategies refuse or supersede as
declared, and no ending — completion, cancellation, termination from Temporal — leaves a
slot taken."""

from __future__ import annotations

import time
from typing import Any

from engine.store.limits import leases_of, limit_usage, release, unwoken_holders
from engine.temporal.limit_reaper import reap_once
from engine.temporal.types import LIMIT_STANDING, SIGNAL_LIMIT, LimitSignal
from engine.temporal.worker import connect
from tests.api.conftest import Harness, unique

# A run holds its slot until someone answers `hold` (or it is cancelled).
HOLDER = """\
version: 1
input:
  host: {type: string}
concurrency_limits:
  {limit}:
    key: <% $ctx.host %>
    limit: {capacity}
    strategy: {strategy}
tasks:
  hold:
    action: core.approval
"""


def _register(harness: Harness, strategy: str = "queue", capacity: int = 1) -> tuple[str, str]:
    name, limit = unique("limited"), unique("per_host")
    text = (
        HOLDER.replace("{limit}", limit)
        .replace("{capacity}", str(capacity))
        .replace("{strategy}", strategy)
    )
    harness.register(name, text)
    return name, limit


def _holding(harness: Harness, run_id: str) -> dict[str, Any]:
    """Wait until the run holds its slot and its first task started."""
    harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED")
    return harness.wait_for(run_id, lambda s: s["status"] == "RUNNING")


def _queued(harness: Harness, run_id: str) -> dict[str, Any]:
    event = harness.wait_for_event(run_id, lambda e: e["type"] == "WORKFLOW_QUEUED")
    harness.wait_for(run_id, lambda s: s["status"] == "QUEUED")
    return event


def _answer(harness: Harness, run_id: str) -> None:
    answer = harness.client.post(f"/runs/{run_id}/signals/hold", json={"payload": {"ok": True}})
    assert answer.status_code == 202, answer.text


def _leases(harness: Harness, *run_ids: str) -> list[Any]:
    async def read() -> list[Any]:
        return [lease for run in run_ids for lease in await leases_of(harness.worker_pool, run)]

    return harness.loop.run(read())


def _in_use(harness: Harness, limit: str) -> tuple[int, int]:
    async def read() -> tuple[int, int]:
        usage = {u.name: u for u in await limit_usage(harness.worker_pool)}
        found = usage.get(limit)
        return (found.holders, found.waiters) if found else (0, 0)

    return harness.loop.run(read())


def _until_in_use(harness: Harness, limit: str, expected: tuple[int, int]) -> None:
    """Until `limit` has `expected` (holders, waiters). A run releases just after it
    records its end (the trace and the release run side by side), so allow a moment."""
    deadline = time.monotonic() + 10
    while _in_use(harness, limit) != expected:
        assert time.monotonic() < deadline, _in_use(harness, limit)
        time.sleep(0.1)


def _all_released(harness: Harness, limit: str) -> None:
    """Every slot and place in line of `limit` is given back."""
    _until_in_use(harness, limit, (0, 0))


def test_a_full_key_queues_the_next_run_and_the_ending_run_wakes_it(harness: Harness) -> None:
    name, limit = _register(harness)
    first = harness.start(name, {"host": "db-1"})
    _holding(harness, first)
    second = harness.start(name, {"host": "db-1"})
    third = harness.start(name, {"host": "db-1"})
    other_host = harness.start(name, {"host": "db-2"})  # another key: not limited by db-1
    _holding(harness, other_host)

    queued = _queued(harness, second)
    assert queued["data"] == {"limit": limit, "key": "db-1", "position": 1}
    assert _queued(harness, third)["data"]["position"] == 2
    assert not [e for e in harness.trace(second) if e["type"] == "STARTED"]  # nothing ran
    assert _in_use(harness, limit) == (2, 2)

    _answer(harness, first)
    assert harness.wait_for(first)["status"] == "COMPLETED"
    _holding(harness, second)  # woken by the first run's release: FIFO
    assert harness.client.get(f"/runs/{third}").json()["status"] == "QUEUED"

    # A queued run that is cancelled leaves the line; the holder's end wakes nobody then.
    assert harness.client.post(f"/runs/{third}/cancel").status_code == 202
    assert harness.wait_for(third)["status"] == "CANCELLED"
    assert harness.client.post(f"/runs/{second}/cancel").status_code == 202
    assert harness.wait_for(second)["status"] == "CANCELLED"
    _answer(harness, other_host)
    assert harness.wait_for(other_host)["status"] == "COMPLETED"
    _all_released(harness, limit)
    assert _leases(harness, first, second, third, other_host) == []


def test_a_run_terminated_from_temporal_gives_its_slot_to_the_next_via_the_reaper(
    harness: Harness,
) -> None:
    name, limit = _register(harness)
    holder = harness.start(name, {"host": "h"})
    _holding(harness, holder)
    waiter = harness.start(name, {"host": "h"})
    _queued(harness, waiter)

    async def terminate_and_reap() -> list[str]:
        client = await connect(harness.temporal_address)
        await client.get_workflow_handle(holder).terminate(reason="fault test")
        report = await reap_once(client, harness.worker_pool)
        return report.released

    # The terminated run could not release: the reaper sees it closed and hands over.
    assert holder in harness.loop.run(terminate_and_reap())
    _holding(harness, waiter)
    assert [lease.holding for lease in _leases(harness, holder, waiter)] == [True]
    _answer(harness, waiter)
    assert harness.wait_for(waiter)["status"] == "COMPLETED"
    _all_released(harness, limit)


def test_fail_and_cancel_new_refuse_a_run_when_the_key_is_full(harness: Harness) -> None:
    for strategy, status, error_type in (
        ("fail", "FAILED", "limit_full"),
        ("cancel_new", "CANCELLED", "canceled"),
    ):
        name, limit = _register(harness, strategy)
        holder = harness.start(name, {"host": "h"})
        _holding(harness, holder)
        refused = harness.start(name, {"host": "h"})
        final = harness.wait_for(refused)
        assert final["status"] == status, final
        assert final["errors"][0]["type"] == error_type
        assert "is full for key 'h'" in final["errors"][0]["message"]
        assert not [e for e in harness.trace(refused) if e["type"] == "STARTED"]
        # The list says the same (it reconciles a page with Temporal's visibility).
        listed = harness.client.get("/runs", params={"workflow": name}).json()["runs"]
        assert {r["runId"]: r["status"] for r in listed}[refused] == status
        _answer(harness, holder)
        harness.wait_for(holder)
        _all_released(harness, limit)


def test_debounce_keeps_only_the_newest_waiter(harness: Harness) -> None:
    name, limit = _register(harness, "debounce")
    holder = harness.start(name, {"host": "h"})
    _holding(harness, holder)
    older = harness.start(name, {"host": "h"})
    _queued(harness, older)
    newer = harness.start(name, {"host": "h"})
    _queued(harness, newer)
    superseded = harness.wait_for(older)
    assert superseded["status"] == "CANCELLED"
    assert "superseded" in superseded["errors"][0]["message"]
    _answer(harness, holder)
    _holding(harness, newer)
    _answer(harness, newer)
    assert harness.wait_for(newer)["status"] == "COMPLETED"
    _all_released(harness, limit)


def test_a_key_that_does_not_render_fails_the_run_before_any_task(harness: Harness) -> None:
    name, _ = _register(harness)
    run_id = harness.start(name, {"host": "x" * 300})  # keys are at most 256 characters
    final = harness.wait_for(run_id)
    assert final["status"] == "FAILED"
    assert "must be 1 to 256 characters, got 300" in final["errors"][0]["message"]
    assert _leases(harness, run_id) == []


def test_cancel_oldest_cancels_the_longest_holder_and_takes_its_slot(harness: Harness) -> None:
    name, limit = _register(harness, "cancel_oldest")
    oldest = harness.start(name, {"host": "h"})
    _holding(harness, oldest)
    newest = harness.start(name, {"host": "h"})
    assert harness.wait_for(oldest)["status"] == "CANCELLED"
    _holding(harness, newest)  # the cancelled run's release handed the slot on
    _answer(harness, newest)
    assert harness.wait_for(newest)["status"] == "COMPLETED"
    _all_released(harness, limit)


def test_a_run_timeout_still_counts_while_queued(harness: Harness) -> None:
    name, limit = _register(harness)
    holder = harness.start(name, {"host": "h"})
    _holding(harness, holder)
    impatient = unique("impatient")
    text = (
        HOLDER.replace("{limit}", limit)
        .replace("{capacity}", "1")
        .replace("{strategy}", "queue")
        .replace("version: 1\n", "version: 1\ntimeout: 2\n")
    )
    harness.register(impatient, text)
    waiter = harness.start(impatient, {"host": "h"})
    _queued(harness, waiter)
    final = harness.wait_for(waiter)
    assert final["status"] == "TIMED_OUT", final
    assert not [e for e in harness.trace(waiter) if e["type"] == "STARTED"]
    _until_in_use(harness, limit, (1, 0))  # the timed-out waiter left the line
    assert harness.client.get(f"/runs/{holder}").json()["status"] == "RUNNING"  # untouched
    _answer(harness, holder)
    harness.wait_for(holder)
    _all_released(harness, limit)


def test_the_reaper_wakes_a_promoted_waiter_whose_signal_was_lost(harness: Harness) -> None:
    """A releaser terminated between its release and its signal: the waiter holds the
    slot in the store but sleeps. The reaper asks it (a query) and signals it."""
    name, limit = _register(harness)
    holder = harness.start(name, {"host": "h"})
    _holding(harness, holder)
    waiter = harness.start(name, {"host": "h"})
    _queued(harness, waiter)

    async def lose_the_signal_then_reap() -> tuple[list[str], list[str]]:
        pool = harness.worker_pool
        # The release as the holder's activity makes it, but no signal follows.
        promoted = [p.run_id for p in await release(pool, holder)]
        async with pool.connection() as conn:
            await conn.execute(
                "UPDATE limit_leases SET granted_at = now() - interval '1 minute' "
                "WHERE run_id = %s",
                (waiter,),
            )
        client = await connect(harness.temporal_address)
        return promoted, (await reap_once(client, pool)).woken

    promoted, woken = harness.loop.run(lose_the_signal_then_reap())
    assert promoted == woken == [waiter]
    _holding(harness, waiter)
    assert harness.loop.run(unwoken_holders(harness.worker_pool, 0)) == []  # not again
    for run_id in (holder, waiter):
        _answer(harness, run_id)
        assert harness.wait_for(run_id)["status"] == "COMPLETED"
    _all_released(harness, limit)


def _standing_checks(harness: Harness, run_id: str) -> int:
    """How many times the run asked the store where it stands (from its history)."""

    async def count() -> int:
        client = await connect(harness.temporal_address)
        history = await client.get_workflow_handle(run_id).fetch_history()
        return sum(
            event.activity_task_completed_event_attributes.scheduled_event_id > 0
            and _activity_type(history.events, event) == LIMIT_STANDING
            for event in history.events
        )

    return harness.loop.run(count())


def _activity_type(events: Any, completed: Any) -> str:
    scheduled = completed.activity_task_completed_event_attributes.scheduled_event_id
    for event in events:
        if event.event_id == scheduled:
            return str(event.activity_task_scheduled_event_attributes.activity_type.name)
    return ""


def test_a_forged_limit_signal_does_not_admit_a_queued_run(harness: Harness) -> None:
    """Anyone who can reach Temporal can signal `limit`; the queued run asks the store
    and waits on unless a release really promoted it (and a forged end of its wait does
    not cancel it either)."""
    name, limit = _register(harness)
    holder = harness.start(name, {"host": "h"})
    _holding(harness, holder)
    waiter = harness.start(name, {"host": "h"})
    _queued(harness, waiter)

    async def forge(signal: LimitSignal) -> None:
        client = await connect(harness.temporal_address)
        await client.get_workflow_handle(waiter).signal(SIGNAL_LIMIT, signal)

    for checks, forged in enumerate(
        (LimitSignal(limit, "h"), LimitSignal(limit, "h", False, "forged")), start=1
    ):
        harness.loop.run(forge(forged))
        deadline = time.monotonic() + 20
        while _standing_checks(harness, waiter) < checks:  # the store was asked and said no
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert harness.client.get(f"/runs/{waiter}").json()["status"] == "QUEUED"
        assert not [e for e in harness.trace(waiter) if e["type"] == "STARTED"]
        assert [(lease.run_id, lease.holding) for lease in _leases(harness, holder, waiter)] == [
            (holder, True),
            (waiter, False),
        ]

    _answer(harness, holder)  # the real release promotes the waiter: believed
    _holding(harness, waiter)
    _answer(harness, waiter)
    assert harness.wait_for(waiter)["status"] == "COMPLETED"
    _all_released(harness, limit)
