"""How many runs of each workflow have not ended, for the API's `/metrics`."""

from __future__ import annotations

from typing import Final

import msgspec

from engine.statuses import ApiStatus
from engine.store._db import StorePool, fetch_all

# At most this many workflows are reported (the catalog is far smaller in practice):
# one scrape never turns into an unbounded answer.
MAX_WORKFLOWS: Final = 1000
# Queued, running, paused: every status a run has not ended in (engine/statuses.py).
_LIVE: Final = [str(status) for status in ApiStatus if not status.is_terminal]

SELECT_ACTIVE: Final = """
SELECT workflow_name AS workflow,
       count(*) AS active,
       extract(epoch FROM now() - min(updated_at))::float8 AS oldest_idle_seconds
FROM runs
WHERE status = ANY(%(live)s)
GROUP BY workflow_name
ORDER BY workflow_name
LIMIT %(limit)s
"""


class ActiveRuns(msgspec.Struct, frozen=True):
    """The runs of one workflow that have not ended, and how long the stillest of them
    has gone without a change (its last trace event or status change)."""

    workflow: str
    active: int
    oldest_idle_seconds: float


async def active_runs(pool: StorePool) -> list[ActiveRuns]:
    """Runs queued, running or paused, per workflow (workflows with none are left out)."""
    async with pool.connection() as conn:
        return await fetch_all(
            conn, ActiveRuns, SELECT_ACTIVE, {"live": _LIVE, "limit": MAX_WORKFLOWS}
        )
