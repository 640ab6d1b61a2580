"""`GET /limits`: the concurrency limits in use across runs and tasks — per limit and key,
how many hold a slot, how many wait, and since when the longest waiter waits. Read from
the limiter's table (engine/store/limits.py); a limit nobody holds or waits for is not
listed (limits live in workflow files, not in a catalog)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from api.problems import ApiProblem, documented
from api.runs import iso
from api.services import Services
from api.wire import LimitKeyView, LimitList, LimitView
from engine.store.limits import MAX_KEYS_LISTED, key_usage

ServicesDep = NamedDependency[Services]
LIMIT_NAME_CHARS = 64


class LimitController(Controller):
    path = "/limits"
    tags = ["limits"]

    @get(
        "/",
        summary="Concurrency limits in use: holders and waiters per key",
        responses=documented(400),
    )
    async def listing(self, services: ServicesDep, name: FromQuery[str | None] = None) -> LimitList:
        if name is not None and not 1 <= len(name) <= LIMIT_NAME_CHARS:
            raise ApiProblem(
                400, "NAME_INVALID", f"a limit name has 1 to {LIMIT_NAME_CHARS} characters"
            )
        found = await key_usage(services.pool, name, MAX_KEYS_LISTED + 1)
        truncated = len(found) > MAX_KEYS_LISTED
        limits: dict[str, LimitView] = {}
        for usage in found[:MAX_KEYS_LISTED]:
            view = limits.setdefault(
                usage.name, LimitView(name=usage.name, holders=0, waiters=0, keys=[])
            )
            view.holders += usage.holders
            view.waiters += usage.waiters
            oldest = iso(usage.oldest_wait) if usage.oldest_wait is not None else None
            view.keys.append(
                LimitKeyView(
                    key=usage.key, holders=usage.holders, waiters=usage.waiters, oldest_wait=oldest
                )
            )
        return LimitList(limits=list(limits.values()), truncated=truncated)
