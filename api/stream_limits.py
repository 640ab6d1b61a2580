"""Bounds on live streams: how many one client and one API process may hold, and one
shared, backing-off "has this run ended?" check instead of one Temporal call per idle
stream every few seconds."""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from api.problems import ApiProblem


class StreamSlot:
    """One admitted stream; `release()` (idempotent) gives the place back."""

    def __init__(self, limits: StreamLimits, client: str) -> None:
        self._limits = limits
        self._client = client
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limits._leave(self._client)

    def tie_to(self, owner: object) -> None:
        """Release also when `owner` is collected (a stream that was never iterated)."""
        weakref.finalize(owner, self.release)


@dataclass
class StreamLimits:
    """Caps per client address and per process (429 / 503 `TOO_MANY_STREAMS`)."""

    per_client: int
    total: int
    _by_client: Counter[str] = field(default_factory=Counter)

    @property
    def open(self) -> int:
        return sum(self._by_client.values())

    def admit(self, client: str) -> StreamSlot:
        """A slot for one more stream of `client`, or the problem saying why not."""
        if self._by_client[client] >= self.per_client:
            raise ApiProblem(
                429,
                "TOO_MANY_STREAMS",
                f"this client holds {self.per_client} live streams already; close one",
                headers={"Retry-After": "5"},
            )
        if self.open >= self.total:
            raise ApiProblem(
                503,
                "TOO_MANY_STREAMS",
                "the server holds as many live streams as it serves; try again later",
                headers={"Retry-After": "5"},
            )
        self._by_client[client] += 1
        return StreamSlot(self, client)

    def _leave(self, client: str) -> None:
        self._by_client[client] -= 1
        if self._by_client[client] <= 0:
            del self._by_client[client]


@dataclass
class EndChecks:
    """One "has the run ended?" answer per run and interval, shared by all its streams:
    a stream asking within `fresh_seconds` of the last check gets that check's answer
    (or waits for the one in flight)."""

    fresh_seconds: float
    _last: dict[str, tuple[float, asyncio.Future[bool]]] = field(default_factory=dict)

    async def ended(self, run_id: str, check: Callable[[], Awaitable[bool]]) -> bool:
        loop = asyncio.get_running_loop()
        now = loop.time()
        cached = self._last.get(run_id)
        if cached is not None and now - cached[0] < self.fresh_seconds:
            return await asyncio.shield(cached[1])
        answer: asyncio.Future[bool] = asyncio.ensure_future(check())
        self._last[run_id] = (now, answer)
        self._forget_stale(now)
        return await asyncio.shield(answer)

    def _forget_stale(self, now: float) -> None:
        if len(self._last) > 1024:  # bounded: only recent runs matter
            for run_id, (checked, _) in list(self._last.items()):
                if now - checked >= self.fresh_seconds:
                    del self._last[run_id]


def next_check_delay(previous: float, first: float, most: float) -> float:
    """The pause before an idle stream's next end check: doubling from `first` up to
    `most` (a run that stays quiet is asked less and less often)."""
    return first if previous <= 0 else min(previous * 2, most)
