"""Concurrency limits across runs: the leases of named limits, in PostgreSQL.

A limit is a name and a key (the key computed from the run's input, e.g. a host); at most
`capacity` runs hold it at once and the rest wait in order (priority, then arrival). Each
change takes a transaction-scoped advisory lock on its (limit, key), so two runs acquiring
or releasing the same key never interleave, and different keys never wait for each other.
A release hands the freed slots to the next waiters in the same transaction: a slot is
never free while someone waits for it. The caller wakes the runs it promoted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

import msgspec

from engine.store._db import StoreConnection, StorePool, fetch_all, fetch_one, fetch_value

# The most waiters one `debounce` acquire supersedes (DROP_WAITERS says why).
MAX_SUPERSEDED: Final = 100


class LimitStrategy(StrEnum):
    """What a run does when the limit's key is full."""

    QUEUE = "queue"  # wait, FIFO within priority
    CANCEL_NEW = "cancel_new"  # the new run ends CANCELLED
    FAIL = "fail"  # the new run ends FAILED (`limit_full`)
    CANCEL_OLDEST = "cancel_oldest"  # the oldest holder is cancelled; the new run waits for it
    DEBOUNCE = "debounce"  # keep only the newest waiter: older waiters are cancelled


class Standing(StrEnum):
    """Where one run stands for one limit's key, as the store says."""

    HOLDING = "holding"
    WAITING = "waiting"
    GONE = "gone"  # no row: never asked, released, or superseded


class Outcome(StrEnum):
    HOLDING = "holding"
    QUEUED = "queued"
    REFUSED = "refused"


class LimitRequest(msgspec.Struct, frozen=True):
    """One limit a run asks for: name, key, capacity, strategy, priority."""

    name: str
    key: str
    capacity: int
    strategy: LimitStrategy = LimitStrategy.QUEUE
    priority: int = 0
    holder: str = ""  # within the run: '' the run itself, else one attempt of a task


class Acquisition(msgspec.Struct, frozen=True):
    """What `acquire` decided. `position` counts from 1 for a waiter. `evict`: holders the
    new run asks to cancel (cancel_oldest); `superseded`: waiters it replaced (debounce),
    already removed here, that the caller tells to end."""

    outcome: Outcome
    position: int | None = None
    evict: list[str] = msgspec.field(default_factory=list)
    superseded: list[str] = msgspec.field(default_factory=list)


class Promotion(msgspec.Struct, frozen=True):
    """A waiter that a release made a holder: the caller wakes `run_id` (`holder` says
    which of its waits: '' the run's own, else a task attempt's)."""

    run_id: str
    name: str
    key: str
    holder: str = ""


class LimitUsage(msgspec.Struct, frozen=True):
    """Slots in use and waiters of one limit, summed over its keys."""

    name: str
    holders: int
    waiters: int


class KeyUsage(msgspec.Struct, frozen=True):
    """One key of one limit: its holders and waiters, and since when the longest waiter
    waits (None: nobody waits)."""

    name: str
    key: str
    holders: int
    waiters: int
    oldest_wait: datetime | None = None


class Lease(msgspec.Struct, frozen=True):
    name: str
    key: str
    run_id: str
    holding: bool
    priority: int
    queued_seq: int
    holder: str = ""


LOCK_KEY = "SELECT pg_advisory_xact_lock(hashtextextended('segue-limit:' || %s || ':' || %s, 0))"
# The columns of a `Lease`, by its field names.
LEASE_COLUMNS = (
    "limit_name AS name, limit_key AS key, run_id, holding, priority, queued_seq, holder"
)
OWN = f"""SELECT {LEASE_COLUMNS}
FROM limit_leases WHERE limit_name = %s AND limit_key = %s AND run_id = %s AND holder = %s"""
HOLDERS = "SELECT count(*) FROM limit_leases WHERE limit_name = %s AND limit_key = %s AND holding"
# Waiters served before one of priority p that arrived as queued_seq s.
AHEAD = """SELECT count(*) FROM limit_leases
WHERE limit_name = %(name)s AND limit_key = %(key)s AND NOT holding
AND (priority > %(priority)s OR (priority = %(priority)s AND queued_seq < %(seq)s))"""
WAITERS_AT_LEAST = """SELECT count(*) FROM limit_leases WHERE limit_name = %s AND limit_key = %s
AND NOT holding AND priority >= %s"""
INSERT = """INSERT INTO limit_leases (limit_name, limit_key, run_id, holding, capacity, priority,
    granted_at, holder)
VALUES (%s, %s, %s, %s, %s, %s, CASE WHEN %s THEN now() END, %s)
RETURNING queued_seq"""
# debounce and cancel_oldest act on runs' own places only: a task attempt that shares the
# name waits or holds as it is (it is no run to supersede or cancel).
# One acquire supersedes at most MAX_SUPERSEDED waiters, the latest to arrive: the list
# is kept with its row, returned as the acquire's answer (an activity result, in the
# run's history) and each one signalled by the run, so it must stay small. A longer line
# only arises when runs of another strategy queued on the same key; the earlier arrivals
# keep their places and are served in turn. The previous debounce waiter always arrived
# after them, so it is still the first superseded.
DROP_WAITERS = """DELETE FROM limit_leases WHERE (limit_name, limit_key, run_id, holder) IN (
    SELECT limit_name, limit_key, run_id, holder FROM limit_leases
    WHERE limit_name = %s AND limit_key = %s AND NOT holding AND holder = ''
    ORDER BY queued_seq DESC LIMIT %s)
RETURNING run_id"""
OLDEST_HOLDER = """SELECT run_id FROM limit_leases WHERE limit_name = %s AND limit_key = %s
AND holding AND holder = '' ORDER BY granted_at, queued_seq OFFSET %s LIMIT 1"""
KEYS_OF_RUN = """SELECT DISTINCT limit_name, limit_key FROM limit_leases WHERE run_id = %s
ORDER BY limit_name, limit_key"""
KEYS_OF_HOLDER = """SELECT DISTINCT limit_name, limit_key FROM limit_leases
WHERE run_id = %s AND holder = %s ORDER BY limit_name, limit_key"""
DELETE_OWN = "DELETE FROM limit_leases WHERE limit_name = %s AND limit_key = %s AND run_id = %s"
DELETE_HOLDER = """DELETE FROM limit_leases
WHERE limit_name = %s AND limit_key = %s AND run_id = %s AND holder = %s"""
HEAD_WAITER = """SELECT run_id, capacity, holder FROM limit_leases
WHERE limit_name = %s AND limit_key = %s AND NOT holding
ORDER BY priority DESC, queued_seq LIMIT 1"""
SUPERSEDED_BY = """SELECT superseded FROM limit_leases
WHERE limit_name = %s AND limit_key = %s AND run_id = %s AND holder = %s"""
KEEP_SUPERSEDED = """UPDATE limit_leases SET superseded = %s
WHERE limit_name = %s AND limit_key = %s AND run_id = %s AND holder = %s"""
PROMOTE = """UPDATE limit_leases SET holding = true, granted_at = now(), unwoken = true
WHERE limit_name = %s AND limit_key = %s AND run_id = %s AND holder = %s"""


async def _lock(conn: StoreConnection, name: str, key: str) -> None:
    await conn.execute(LOCK_KEY, (name, key))


async def _position(conn: StoreConnection, lease: Lease) -> int:
    params = {
        "name": lease.name,
        "key": lease.key,
        "priority": lease.priority,
        "seq": lease.queued_seq,
    }
    return 1 + int(await fetch_value(conn, AHEAD, params))


async def acquire(pool: StorePool, run_id: str, request: LimitRequest) -> Acquisition:
    """Take a slot of `request`'s key for `run_id`, or queue, or refuse, as the strategy
    says. Asking again for what the run already holds or waits for returns that (an
    activity retried after a lost reply changes nothing)."""
    name, key, holder = request.name, request.key, request.holder
    async with pool.connection() as conn, conn.transaction():
        await _lock(conn, name, key)
        own = await fetch_one(conn, Lease, OWN, (name, key, run_id, holder))
        if own is not None:
            if own.holding:
                return Acquisition(Outcome.HOLDING)
            position = await _position(conn, own)
            # A reply that was lost is given again: the holder a cancel_oldest waiter
            # cancels is decided from its place, as the first time, and the waiters a
            # debounce superseded were kept with its row (telling either twice is harmless).
            kept = await fetch_value(conn, SUPERSEDED_BY, (name, key, run_id, holder))
            evict = await _evictions(conn, request, position)
            return Acquisition(Outcome.QUEUED, position, evict, list(kept or []))
        holders = int(await fetch_value(conn, HOLDERS, (name, key)))
        ahead = int(await fetch_value(conn, WAITERS_AT_LEAST, (name, key, request.priority)))
        if holders < request.capacity and ahead == 0:
            await conn.execute(
                INSERT, (name, key, run_id, True, request.capacity, request.priority, True, holder)
            )
            return Acquisition(Outcome.HOLDING)
        strategy = request.strategy
        if strategy in (LimitStrategy.FAIL, LimitStrategy.CANCEL_NEW):
            return Acquisition(Outcome.REFUSED)
        superseded: list[str] = []
        if strategy is LimitStrategy.DEBOUNCE:
            async with conn.cursor() as cursor:
                await cursor.execute(DROP_WAITERS, (name, key, MAX_SUPERSEDED))
                superseded = sorted(str(row[0]) for row in await cursor.fetchall())
        waiting = (name, key, run_id, False, request.capacity, request.priority, False, holder)
        seq = int(await fetch_value(conn, INSERT, waiting))
        if superseded:
            await conn.execute(KEEP_SUPERSEDED, (superseded, name, key, run_id, holder))
        lease = Lease(name, key, run_id, False, request.priority, seq, holder)
        position = await _position(conn, lease)
        evict = await _evictions(conn, request, position)
        return Acquisition(Outcome.QUEUED, position, evict, superseded)


async def _evictions(conn: StoreConnection, request: LimitRequest, position: int) -> list[str]:
    """The holder a cancel_oldest waiter at `position` asks to cancel: each waiter a
    different one, the n-th waiter the n-th oldest holder."""
    if request.strategy is not LimitStrategy.CANCEL_OLDEST:
        return []
    oldest = await fetch_value(conn, OLDEST_HOLDER, (request.name, request.key, position - 1))
    return [] if oldest is None else [str(oldest)]


async def release(pool: StorePool, run_id: str) -> list[Promotion]:
    """Give up everything `run_id` holds or waits for, and hand each freed slot to the
    next waiter (priority, then arrival). Returns the waiters promoted, to be woken.
    Releasing a run that holds nothing does nothing (safe to repeat)."""
    promoted: list[Promotion] = []
    async with pool.connection() as conn, conn.transaction():
        async with conn.cursor() as cursor:
            await cursor.execute(KEYS_OF_RUN, (run_id,))
            keys = [(str(row[0]), str(row[1])) for row in await cursor.fetchall()]
        for name, key in keys:  # in a fixed order: two releases never lock in a cycle
            await _lock(conn, name, key)
            await conn.execute(DELETE_OWN, (name, key, run_id))
            promoted.extend(await _hand_over(conn, name, key))
    return promoted


async def release_holder(pool: StorePool, run_id: str, holder: str) -> list[Promotion]:
    """`release`, for one holder within the run (a task attempt whose action ended)."""
    promoted: list[Promotion] = []
    async with pool.connection() as conn, conn.transaction():
        async with conn.cursor() as cursor:
            await cursor.execute(KEYS_OF_HOLDER, (run_id, holder))
            keys = [(str(row[0]), str(row[1])) for row in await cursor.fetchall()]
        for name, key in keys:
            await _lock(conn, name, key)
            await conn.execute(DELETE_HOLDER, (name, key, run_id, holder))
            promoted.extend(await _hand_over(conn, name, key))
    return promoted


async def _hand_over(conn: StoreConnection, name: str, key: str) -> list[Promotion]:
    """Fill the key's free slots from its waiters, head first (under the key's lock)."""
    promoted: list[Promotion] = []
    holders = int(await fetch_value(conn, HOLDERS, (name, key)))
    while True:
        async with conn.cursor() as cursor:
            await cursor.execute(HEAD_WAITER, (name, key))
            head = await cursor.fetchone()
        # The head waiter's own declaration says how many may hold (it may be a newer
        # version of the workflow than the holders).
        if head is None or holders >= int(head[1]):
            return promoted
        await conn.execute(PROMOTE, (name, key, head[0], head[2]))
        promoted.append(Promotion(str(head[0]), name, key, str(head[2])))
        holders += 1


async def standing(pool: StorePool, run_id: str, name: str, key: str, holder: str = "") -> Standing:
    """Whether `run_id` holds the key of `name`, waits for it, or has no row (read without
    the key's lock: a holding row only ever goes away by its own run's release or the
    reaper's, so a run that reads HOLDING holds)."""
    async with pool.connection() as conn:
        own = await fetch_one(conn, Lease, OWN, (name, key, run_id, holder))
    if own is None:
        return Standing.GONE
    return Standing.HOLDING if own.holding else Standing.WAITING


async def leases_of(pool: StorePool, run_id: str) -> list[Lease]:
    """What one run holds or waits for."""
    async with pool.connection() as conn:
        return await fetch_all(
            conn,
            Lease,
            f"""SELECT {LEASE_COLUMNS}
            FROM limit_leases WHERE run_id = %s ORDER BY limit_name, limit_key, holder""",
            (run_id,),
        )


async def leased_runs(pool: StorePool, after: str = "", limit: int = 200) -> list[str]:
    """Runs that hold or wait for a slot, by run id after `after` (the reaper walks them
    in pages, so every run is looked at however many there are)."""
    async with pool.connection() as conn, conn.cursor() as cursor:
        await cursor.execute(
            """SELECT DISTINCT run_id FROM limit_leases WHERE run_id > %s
            ORDER BY run_id LIMIT %s""",
            (after, limit),
        )
        return [str(row[0]) for row in await cursor.fetchall()]


async def unwoken_holders(pool: StorePool, older_than_seconds: float) -> list[Promotion]:
    """Promoted waiters whose wake-up nobody confirmed for this long."""
    async with pool.connection() as conn:
        return await fetch_all(
            conn,
            Promotion,
            """SELECT run_id, limit_name AS name, limit_key AS key, holder FROM limit_leases
            WHERE holding AND unwoken AND granted_at < now() - make_interval(secs => %s)
            ORDER BY granted_at LIMIT 500""",
            (older_than_seconds,),
        )


async def mark_woken(pool: StorePool, promotion: Promotion) -> None:
    """The wake-up of a promoted waiter reached Temporal."""
    async with pool.connection() as conn:
        await conn.execute(
            """UPDATE limit_leases SET unwoken = false
            WHERE limit_name = %s AND limit_key = %s AND run_id = %s AND holder = %s""",
            (promotion.name, promotion.key, promotion.run_id, promotion.holder),
        )


async def limit_usage(pool: StorePool) -> list[LimitUsage]:
    """Slots in use and waiters per limit (summed over keys: keys are unbounded)."""
    async with pool.connection() as conn:
        return await fetch_all(
            conn,
            LimitUsage,
            """SELECT limit_name AS name, count(*) FILTER (WHERE holding) AS holders,
            count(*) FILTER (WHERE NOT holding) AS waiters
            FROM limit_leases GROUP BY limit_name ORDER BY limit_name""",
        )


MAX_KEYS_LISTED = 1000  # keys are as many as the inputs: a listing is bounded


async def key_usage(
    pool: StorePool, name: str | None = None, limit: int = MAX_KEYS_LISTED
) -> list[KeyUsage]:
    """Holders and waiters per (limit, key) in use, by name then key (at most `limit`
    keys; one limit's only with `name`)."""
    async with pool.connection() as conn:
        return await fetch_all(
            conn,
            KeyUsage,
            """SELECT limit_name AS name, limit_key AS key,
            count(*) FILTER (WHERE holding) AS holders,
            count(*) FILTER (WHERE NOT holding) AS waiters,
            min(created_at) FILTER (WHERE NOT holding) AS oldest_wait
            FROM limit_leases WHERE %(name)s::text IS NULL OR limit_name = %(name)s
            GROUP BY limit_name, limit_key ORDER BY limit_name, limit_key LIMIT %(limit)s""",
            {"name": name, "limit": limit},
        )
