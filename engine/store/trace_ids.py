"""A run's OpenTelemetry trace id, as its WORKFLOW_STARTED trace event recorded it."""

from __future__ import annotations

import re
from typing import Final

from engine.store._db import StorePool, fetch_value

SELECT_TRACE_ID: Final = """
SELECT data->>'traceId' FROM trace_events
WHERE run_id = %s AND type = 'WORKFLOW_STARTED'
ORDER BY seq LIMIT 1
"""
_TRACE_ID: Final = re.compile(r"[0-9a-f]{32}")


async def run_trace_id(pool: StorePool, run_id: str) -> str | None:
    """32 lower-case hex digits, or None for a run that was not traced (or not yet)."""
    async with pool.connection() as conn:
        found = await fetch_value(conn, SELECT_TRACE_ID, (run_id,))
    return found if isinstance(found, str) and _TRACE_ID.fullmatch(found) else None
