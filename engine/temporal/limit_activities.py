"""The activities of concurrency limits: acquire a slot (or queue, or be refused) and
release everything a run holds, over the PostgreSQL limiter (engine/store/limits.py).

Both are safe to repeat: a retried acquire returns what the run already has, a retried
release finds nothing left. The workflow (engine/temporal/limits.py) wakes the runs a
release promoted, by signal, from its own history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from engine.store._db import StorePool
from engine.store.limits import (
    LimitRequest,
    LimitStrategy,
    Promotion,
    acquire,
    release,
    release_holder,
    standing,
)
from engine.temporal.types import (
    ACQUIRE_LIMIT,
    LIMIT_STANDING,
    RELEASE_HOLDER,
    RELEASE_LIMITS,
    LimitAcquire,
    LimitAnswer,
    LimitHolder,
    LimitPromotion,
    LimitStanding,
)

LIMITS_NEED_STORE = "limits_need_store"


class LimitActivities:
    """Bound to the worker's store pool; without one, a run that declares a limit fails
    at once with a precise error instead of running unlimited."""

    def __init__(self, pool: StorePool | None) -> None:
        self.pool = pool

    def _store(self) -> StorePool:
        if self.pool is None:
            raise ApplicationError(
                "concurrency limits need the PostgreSQL store: start the worker with "
                "SEGUE_DATABASE_URL",
                type=LIMITS_NEED_STORE,
                non_retryable=True,
            )
        return self.pool

    @activity.defn(name=ACQUIRE_LIMIT)
    async def acquire_limit(self, request: LimitAcquire) -> LimitAnswer:
        """Hold a slot of the request's key, queue for one, or be refused."""
        wanted = LimitRequest(
            request.name,
            request.key,
            request.capacity,
            LimitStrategy(request.strategy),
            request.priority,
            request.holder,
        )
        got = await acquire(self._store(), request.run_id, wanted)
        return LimitAnswer(str(got.outcome), got.position, got.evict, got.superseded)

    @activity.defn(name=RELEASE_LIMITS)
    async def release_limits(self, run_id: str) -> list[LimitPromotion]:
        """Give up what the run holds or waits for; the waiters promoted, to wake."""
        return _promotions(await release(self._store(), run_id))

    @activity.defn(name=LIMIT_STANDING)
    async def limit_standing(self, asked: LimitStanding) -> str:
        """ "holding", "waiting" or "gone": what the store says of the run's place."""
        found = await standing(self._store(), asked.run_id, asked.name, asked.key, asked.holder)
        return str(found)

    @activity.defn(name=RELEASE_HOLDER)
    async def release_limit_holder(self, holder: LimitHolder) -> list[LimitPromotion]:
        """Give up what one holder of the run (a task attempt) holds or waits for."""
        return _promotions(await release_holder(self._store(), holder.run_id, holder.holder))

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.acquire_limit,
            self.release_limits,
            self.limit_standing,
            self.release_limit_holder,
        ]


def _promotions(promoted: list[Promotion]) -> list[LimitPromotion]:
    return [LimitPromotion(p.run_id, p.name, p.key, p.holder) for p in promoted]
