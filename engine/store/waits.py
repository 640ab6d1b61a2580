"""The waits index: which run executions wait for which event, so that correlated
ingress (`POST /events`) can find them. Temporal holds the wait itself; this is only
the index to route events by.

Matching: a wait with a correlation key matches events of its name with that key; a
wait without one matches every event of its name. Waits of runs that have ended never
match. A with-items task waits once per item: a wait is (run, execution, item), `item`
None outside with-items."""

from __future__ import annotations

from datetime import datetime

import msgspec

from engine.statuses import TERMINAL_STATUSES
from engine.store._db import StorePool, fetch_all, fetch_one


class Wait(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    task: str
    execution: int
    item: int | None  # the with-items index, None outside with-items
    event_name: str
    correlation_key: str | None
    created_at: datetime
    resolved_at: datetime | None


WAIT_COLUMNS = "run_id, task, execution, item, event_name, correlation_key, created_at, resolved_at"
# `IS NOT DISTINCT FROM`: the item matches when both are NULL too.
_THIS_WAIT = (
    "run_id = %(run_id)s AND execution = %(execution)s AND item IS NOT DISTINCT FROM %(item)s"
)

INSERT_WAIT = f"""
INSERT INTO waits (run_id, task, execution, item, event_name, correlation_key)
VALUES (%(run_id)s, %(task)s, %(execution)s, %(item)s, %(event_name)s, %(correlation_key)s)
ON CONFLICT (run_id, execution, item) DO UPDATE
    SET task = excluded.task, event_name = excluded.event_name,
        correlation_key = excluded.correlation_key, resolved_at = NULL
RETURNING {WAIT_COLUMNS}
"""
RESOLVE_WAIT = f"""
UPDATE waits SET resolved_at = now()
WHERE {_THIS_WAIT} AND resolved_at IS NULL
RETURNING {WAIT_COLUMNS}
"""
FIND_WAITING = """
SELECT w.run_id, w.task, w.execution, w.item, w.event_name, w.correlation_key, w.created_at,
    w.resolved_at
FROM waits AS w JOIN runs AS r USING (run_id)
WHERE w.event_name = %(event_name)s
    AND (w.correlation_key = %(correlation_key)s OR w.correlation_key IS NULL)
    AND w.resolved_at IS NULL
    AND r.status <> ALL (%(terminal)s)
ORDER BY w.created_at, w.run_id, w.execution, w.item
"""


async def add_wait(
    pool: StorePool,
    run_id: str,
    task: str,
    execution: int,
    event_name: str,
    correlation_key: str | None = None,
    item: int | None = None,
) -> Wait:
    """Record that execution `execution` (of `task`; its item `item` in with-items) of the
    run waits for the event. A wait recorded before is open again: a retried action's
    next attempt waits under the same execution and item (and the writer applies a
    batch's changes in order, so a retried batch ends in the same state)."""
    params = {
        "run_id": run_id,
        "task": task,
        "execution": execution,
        "item": item,
        "event_name": event_name,
        "correlation_key": correlation_key,
    }
    async with pool.connection() as conn:
        wait = await fetch_one(conn, Wait, INSERT_WAIT, params)
    assert wait is not None
    return wait


async def resolve_wait(
    pool: StorePool, run_id: str, execution: int, item: int | None = None
) -> Wait | None:
    """Mark the wait resolved; returns it if this call resolved it, None if it was not
    open (unknown or already resolved: at most one resolver wins)."""
    params = {"run_id": run_id, "execution": execution, "item": item}
    async with pool.connection() as conn:
        return await fetch_one(conn, Wait, RESOLVE_WAIT, params)


async def find_waiting(
    pool: StorePool, event_name: str, correlation_key: str | None = None
) -> list[Wait]:
    """Open waits of live runs that an event with this name and key should reach."""
    params = {
        "event_name": event_name,
        "correlation_key": correlation_key,
        "terminal": [str(status) for status in TERMINAL_STATUSES],
    }
    async with pool.connection() as conn:
        return await fetch_all(conn, Wait, FIND_WAITING, params)
