"""What the concurrency-limit fault tests read from the store while they break things,
and `until`, how they wait for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from engine.store import open_pool
from engine.store.limits import Lease, leases_of, limit_usage

T = TypeVar("T")


async def leases(database: str, *run_ids: str) -> list[Lease]:
    """The leases the runs hold or wait for."""
    pool = await open_pool(database)
    try:
        return [lease for run in run_ids for lease in await leases_of(pool, run)]
    finally:
        await pool.close()


async def usage(database: str, limit: str) -> tuple[int, int]:
    """(holders, waiters) of a limit, all keys together."""
    pool = await open_pool(database)
    try:
        found = {u.name: u for u in await limit_usage(pool)}.get(limit)
        return (found.holders, found.waiters) if found else (0, 0)
    finally:
        await pool.close()


def until(check: Callable[[], T], what: str, timeout: float = 60.0) -> T:
    """Wait, polling every 0.2 s, until `check()` is truthy, and return its answer; fail
    after `timeout` s saying `what` never happened."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.2)
