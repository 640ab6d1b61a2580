"""The correlated-ingress log: every event that came in through `POST /events`, with how
many waiting runs it reached (0 for an unmatched one, which is kept, not lost)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from engine.store._db import StorePool, fetch_one, jsonb


class EventRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    event_name: str
    correlation_key: str | None
    payload: Any
    received_at: datetime
    matched_runs: int


EVENT_COLUMNS = "id, event_name, correlation_key, payload, received_at, matched_runs"

INSERT_EVENT = f"""
INSERT INTO events (event_name, correlation_key, payload, matched_runs)
VALUES (%s, %s, COALESCE(%s, 'null'::jsonb), %s)
RETURNING {EVENT_COLUMNS}
"""
SET_MATCHED = f"UPDATE events SET matched_runs = %s WHERE id = %s RETURNING {EVENT_COLUMNS}"
SELECT_EVENT = f"SELECT {EVENT_COLUMNS} FROM events WHERE id = %s"


async def record_event(
    pool: StorePool,
    event_name: str,
    correlation_key: str | None,
    payload: Any,
    matched_runs: int = 0,
) -> EventRecord:
    """Log an incoming event (record it before routing, then `set_event_matches`, so that
    an event is kept even if routing fails half-way)."""
    params = (event_name, correlation_key, jsonb(payload), matched_runs)
    async with pool.connection() as conn:
        record = await fetch_one(conn, EventRecord, INSERT_EVENT, params)
    assert record is not None
    return record


async def set_event_matches(
    pool: StorePool, event_id: int, matched_runs: int
) -> EventRecord | None:
    """Record how many waiting runs the event reached."""
    async with pool.connection() as conn:
        return await fetch_one(conn, EventRecord, SET_MATCHED, (matched_runs, event_id))


async def get_event(pool: StorePool, event_id: int) -> EventRecord | None:
    async with pool.connection() as conn:
        return await fetch_one(conn, EventRecord, SELECT_EVENT, (event_id,))
