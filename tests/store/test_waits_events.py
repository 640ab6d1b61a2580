"""The waits index and the correlated-event log."""

from __future__ import annotations

import asyncio

import pytest

from engine.store import (
    RunStatus,
    add_wait,
    find_waiting,
    get_event,
    record_event,
    resolve_wait,
    set_event_matches,
    update_run_status,
)
from tests.store.helpers import opened_pool, run, start_run, unique

pytestmark = pytest.mark.postgres


def test_waits_are_found_by_event_and_key_and_resolved_once(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            event = unique("approved")
            keyed = (await start_run(pool)).run_id
            other_key = (await start_run(pool)).run_id
            any_key = (await start_run(pool)).run_id
            wait = await add_wait(pool, keyed, "approve", 3, event, "order-1")
            assert (wait.task, wait.execution, wait.resolved_at) == ("approve", 3, None)
            assert await add_wait(pool, keyed, "approve", 3, event, "order-1") == wait  # retry
            await add_wait(pool, other_key, "approve", 1, event, "order-2")
            await add_wait(pool, any_key, "listen", 2, event, None)

            found = await find_waiting(pool, event, "order-1")
            assert {(w.run_id, w.execution) for w in found} == {(keyed, 3), (any_key, 2)}
            unkeyed = await find_waiting(pool, event, None)
            assert [w.run_id for w in unkeyed] == [any_key]
            assert await find_waiting(pool, unique("other-event"), "order-1") == []

            resolved = await resolve_wait(pool, keyed, 3)
            assert resolved is not None and resolved.resolved_at is not None
            assert await resolve_wait(pool, keyed, 3) is None
            assert await resolve_wait(pool, keyed, 99) is None
            assert [w.run_id for w in await find_waiting(pool, event, "order-1")] == [any_key]

    run(scenario())


def test_only_one_of_concurrent_resolvers_wins(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url, max_size=5) as pool:
            run_id = (await start_run(pool)).run_id
            await add_wait(pool, run_id, "approve", 1, unique("evt"), "k")
            results = await asyncio.gather(*(resolve_wait(pool, run_id, 1) for _ in range(5)))
            assert sum(result is not None for result in results) == 1

    run(scenario())


def test_waits_of_ended_runs_are_not_found(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            event = unique("evt")
            run_id = (await start_run(pool)).run_id
            await add_wait(pool, run_id, "approve", 1, event, "k")
            await update_run_status(pool, run_id, RunStatus.CANCELLED)
            assert await find_waiting(pool, event, "k") == []

    run(scenario())


def test_an_unmatched_event_is_recorded(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            name = unique("evt")
            payload = {"order": "o-9", "approved": True}
            assert await find_waiting(pool, name, "o-9") == []
            recorded = await record_event(pool, name, "o-9", payload)
            assert recorded.matched_runs == 0
            stored = await get_event(pool, recorded.id)
            assert stored == recorded
            assert stored is not None and stored.payload == payload

            later = await record_event(pool, name, None, None)
            assert later.id > recorded.id and later.payload is None
            updated = await set_event_matches(pool, later.id, 2)
            assert updated is not None and updated.matched_runs == 2

    run(scenario())


def test_a_retried_wait_is_open_again(postgres_url: str) -> None:
    """Attempt 2 of a retried `core.wait_event` waits under the same execution: its
    insert reopens the row attempt 1 resolved (it used to be skipped)."""

    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            event = unique("paid")
            run_id = (await start_run(pool)).run_id
            await add_wait(pool, run_id, "pay", 4, event, "k")
            assert await resolve_wait(pool, run_id, 4) is not None  # attempt 1 timed out
            again = await add_wait(pool, run_id, "pay", 4, event, "k2")
            assert (again.resolved_at, again.correlation_key) == (None, "k2")
            assert [w.run_id for w in await find_waiting(pool, event, "k2")] == [run_id]

    run(scenario())


def test_items_of_one_execution_wait_and_resolve_separately(postgres_url: str) -> None:
    async def scenario() -> None:
        async with opened_pool(postgres_url) as pool:
            event = unique("paid")
            run_id = (await start_run(pool)).run_id
            waits = [await add_wait(pool, run_id, "pay", 4, event, None, item) for item in (0, 1)]
            assert [(w.execution, w.item) for w in waits] == [(4, 0), (4, 1)]
            assert await add_wait(pool, run_id, "pay", 4, event, None, 1) == waits[1]  # retry
            found = await find_waiting(pool, event, "any")
            assert [(w.execution, w.item) for w in found] == [(4, 0), (4, 1)]

            assert await resolve_wait(pool, run_id, 4) is None  # no item-less wait there
            resolved = await resolve_wait(pool, run_id, 4, 1)
            assert resolved is not None and resolved.item == 1
            assert await resolve_wait(pool, run_id, 4, 1) is None
            assert [w.item for w in await find_waiting(pool, event, "any")] == [0]

    run(scenario())
