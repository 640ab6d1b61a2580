"""What the API's background reconciler (api/run_sweep.py) reads: pages of runs whose
Temporal execution may have closed without the store knowing, and the lock that lets
one API process sweep at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Final

import msgspec

from engine.statuses import ApiStatus
from engine.store._db import EPOCH, StorePool, fetch_all, fetch_value
from engine.store.runs import RUN_COLUMNS, RunRecord

# Queued, running, paused: every status a run has not ended in (engine/statuses.py).
LIVE: Final = [str(status) for status in ApiStatus if not status.is_terminal]
# Two ints, "sweep" as bytes: a key of its own beside the migrations' and schedules'.
SWEEP_LOCK: Final = (0x5345, 0x7377)
MAX_SWEEP_PAGE: Final = 1000

# Runs not ended, and runs that ended within the window, oldest first; a page starts
# after the (created_at, run_id) the previous one ended on. The two halves of the OR
# are the indexes `runs_by_status` and `runs_by_completion` (migration 0015).
SELECT_PAGE: Final = f"""
SELECT {RUN_COLUMNS} FROM runs
WHERE (status = ANY(%(live)s) OR completed_at > now() - %(window)s)
  AND (created_at, run_id) > (%(after_time)s, %(after_id)s)
ORDER BY created_at, run_id
LIMIT %(limit)s
"""


class SweepPosition(msgspec.Struct, frozen=True):
    """Where a page of the sweep ended: the next one starts after this run."""

    created_at: datetime
    run_id: str


async def runs_to_reconcile(
    pool: StorePool, after: SweepPosition | None, limit: int, ended_within: timedelta
) -> list[RunRecord]:
    """The next `limit` runs (oldest first, after `after`) that have not ended or ended
    within `ended_within`."""
    if not 1 <= limit <= MAX_SWEEP_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_SWEEP_PAGE}, got {limit}")
    params = {
        "live": LIVE,
        "window": ended_within,
        "after_time": after.created_at if after else EPOCH,
        "after_id": after.run_id if after else "",
        "limit": limit,
    }
    async with pool.connection() as conn:
        return await fetch_all(conn, RunRecord, SELECT_PAGE, params)


@asynccontextmanager
async def sweep_lock(pool: StorePool) -> AsyncIterator[bool]:
    """Whether this process holds the sweep's lock for the block (never waits for it:
    another process sweeping now is reason enough to skip a turn). A transaction-level
    lock: it goes with the transaction, whatever ends the block or the connection."""
    async with pool.connection() as conn, conn.transaction():
        held = await fetch_value(conn, "SELECT pg_try_advisory_xact_lock(%s, %s)", SWEEP_LOCK)
        yield bool(held)
