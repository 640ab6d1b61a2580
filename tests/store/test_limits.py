"""The limiter over PostgreSQL against a pure model: random sequences of runs that start,
finish, are cancelled while waiting or vanish (the reaper releases them) never put more
than N runs in a key's slots, serve waiters in priority then arrival order, leave no slot
free while someone waits, and leave nothing behind once every run has ended."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.store import open_pool
from engine.store._db import StorePool
from engine.store.limits import (
    MAX_SUPERSEDED,
    LimitRequest,
    LimitStrategy,
    Outcome,
    Promotion,
    Standing,
    acquire,
    leased_runs,
    leases_of,
    limit_usage,
    release,
    release_holder,
    standing,
)
from tests.store.helpers import unique

pytestmark = pytest.mark.postgres


@dataclass
class KeyModel:
    """One limit key as the spec says it behaves."""

    capacity: int
    holders: set[str] = field(default_factory=set)
    waiters: list[tuple[int, int, str]] = field(default_factory=list)  # (-priority, seq, run)

    def acquire(
        self, run: str, priority: int, seq: int, strategy: LimitStrategy
    ) -> tuple[Outcome, list[str]]:
        """The outcome, and the waiters a debounce superseded."""
        if len(self.holders) < self.capacity and not self.waiters:
            self.holders.add(run)
            return Outcome.HOLDING, []
        if strategy in (LimitStrategy.FAIL, LimitStrategy.CANCEL_NEW):
            return Outcome.REFUSED, []
        superseded = []
        if strategy is LimitStrategy.DEBOUNCE:
            # The MAX_SUPERSEDED latest arrivals; earlier ones keep their places.
            latest = sorted(self.waiters, key=lambda waiter: waiter[1])[-MAX_SUPERSEDED:]
            self.waiters = [waiter for waiter in self.waiters if waiter not in latest]
            superseded = sorted(waiter[2] for waiter in latest)
        self.waiters.append((-priority, seq, run))
        self.waiters.sort()
        return Outcome.QUEUED, superseded

    def release(self, run: str) -> list[str]:
        self.holders.discard(run)
        self.waiters = [w for w in self.waiters if w[2] != run]
        promoted = []
        while self.waiters and len(self.holders) < self.capacity:
            _, _, head = self.waiters.pop(0)
            self.holders.add(head)
            promoted.append(head)
        return promoted


# start: a new run on key k with priority p and a strategy; end: the i-th live run ends
# (finishes, is cancelled while waiting, or vanishes and is reaped: all release alike).
STRATEGIES = (LimitStrategy.QUEUE, LimitStrategy.QUEUE, LimitStrategy.FAIL, LimitStrategy.DEBOUNCE)
Step = tuple[str, int, int, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.integers(0, 1), st.integers(0, 2), st.integers(0, 3)),
        st.tuples(st.just("end"), st.integers(0, 30), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=40,
)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def pool(postgres_url: str, loop: asyncio.AbstractEventLoop) -> Iterator[StorePool]:
    opened = loop.run_until_complete(open_pool(postgres_url, min_size=1, max_size=4))
    yield opened
    loop.run_until_complete(opened.close())


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(capacity=st.integers(1, 3), script=steps)
def test_the_limiter_behaves_as_the_model(
    pool: StorePool, loop: asyncio.AbstractEventLoop, capacity: int, script: list[Step]
) -> None:
    loop.run_until_complete(_play(pool, capacity, script))


async def _play(pool: StorePool, capacity: int, script: list[Step]) -> None:
    name = unique("lim").replace("-", "_")
    models = {key: KeyModel(capacity) for key in ("a", "b")}
    live: list[tuple[str, str]] = []  # (run, key) in start order
    counter = itertools.count()
    for kind, number, priority, strategy_index in script:
        if kind == "start":
            key = "ab"[number]
            run = f"{name}-r{next(counter)}"
            seq = next(counter)
            strategy = STRATEGIES[strategy_index]
            request = LimitRequest(name, key, capacity, strategy, priority)
            got = await acquire(pool, run, request)
            outcome, superseded = models[key].acquire(run, priority, seq, strategy)
            assert (got.outcome, got.superseded) == (outcome, superseded)
            live = [entry for entry in live if entry[0] not in superseded]  # they end
            if outcome is not Outcome.REFUSED:
                live.append((run, key))
            else:
                assert await leases_of(pool, run) == []  # a refused run holds nothing
        elif live:
            run, key = live.pop(number % len(live))
            promoted = await release(pool, run)
            assert [p.run_id for p in promoted] == models[key].release(run)  # FIFO in priority
            assert await release(pool, run) == []  # releasing twice changes nothing
        for key, model in models.items():
            usage = {u.name: u for u in await limit_usage(pool)}.get(name)
            holders = sum(1 for r, k in live if k == key and r in model.holders)
            assert holders == len(model.holders) <= capacity
            # No slot is free while someone waits for it.
            assert not (model.waiters and len(model.holders) < capacity)
            for run, live_key in live:
                if live_key == key:
                    (lease,) = await leases_of(pool, run)
                    assert lease.holding == (run in model.holders)
            if usage is not None:
                total = sum(len(m.holders) for m in models.values())
                waiting = sum(len(m.waiters) for m in models.values())
                assert (usage.holders, usage.waiters) == (total, waiting)
    # No waiter starves: while holders end one by one, every waiter comes to hold.
    served = {run for run, key in live if run in models[key].holders}
    everyone = {run for run, _ in live}
    while live:
        run, key = next(entry for entry in live if entry[0] in models[entry[1]].holders)
        live.remove((run, key))
        promoted = [p.run_id for p in await release(pool, run)]
        assert promoted == models[key].release(run)
        served.update(promoted)
    assert everyone == served
    # No slot leaks: nothing of this limit is left once every run has ended.
    assert name not in {u.name for u in await limit_usage(pool)}
    assert not [run for run in await leased_runs(pool, name, 10_000) if run.startswith(name)]


def test_a_full_key_refuses_fails_supersedes_or_evicts_as_its_strategy_says(
    pool: StorePool, loop: asyncio.AbstractEventLoop
) -> None:
    async def scenario() -> None:
        def request(strategy: LimitStrategy) -> LimitRequest:
            return LimitRequest(name, "host-1", 1, strategy)

        name = unique("lim").replace("-", "_")
        assert (await acquire(pool, "r1", request(LimitStrategy.QUEUE))).outcome == "holding"
        for strategy in (LimitStrategy.FAIL, LimitStrategy.CANCEL_NEW):
            refused = await acquire(pool, f"r-{strategy}", request(strategy))
            assert refused.outcome == Outcome.REFUSED
            assert await leases_of(pool, f"r-{strategy}") == []  # a refused run holds nothing

        first = await acquire(pool, "d1", request(LimitStrategy.DEBOUNCE))
        second = await acquire(pool, "d2", request(LimitStrategy.DEBOUNCE))
        assert (first.outcome, first.position, first.superseded) == ("queued", 1, [])
        assert (second.position, second.superseded) == (1, ["d1"])
        assert await leases_of(pool, "d1") == []
        # Asking again (a retried activity) returns what the run has, changing nothing,
        # and the waiters it superseded again: a lost reply still lets it tell them.
        again = await acquire(pool, "d2", request(LimitStrategy.DEBOUNCE))
        assert (again.outcome, again.position, again.superseded) == ("queued", 1, ["d1"])

        assert [p.run_id for p in await release(pool, "r1")] == ["d2"]
        # cancel_oldest: each waiter evicts a different holder, the oldest first.
        evicting = LimitRequest(name, "host-2", 1, LimitStrategy.CANCEL_OLDEST)
        await acquire(pool, "h1", evicting)
        first_evict = await acquire(pool, "e1", evicting)
        assert (first_evict.outcome, first_evict.position, first_evict.evict) == (
            "queued",
            1,
            ["h1"],
        )
        # The reply was lost and the activity asks again: the same eviction, not a wait
        # for a holder nobody cancels.
        assert (await acquire(pool, "e1", evicting)).evict == ["h1"]
        assert (await acquire(pool, "e2", evicting)).evict == []  # h1 is already going
        assert [p.run_id for p in await release(pool, "h1")] == ["e1"]
        for run in ("d2", "e1", "e2"):
            await release(pool, run)
        assert name not in {u.name for u in await limit_usage(pool)}

    loop.run_until_complete(scenario())


def test_concurrent_acquirers_never_overfill_a_key(
    pool: StorePool, loop: asyncio.AbstractEventLoop
) -> None:
    async def scenario() -> None:
        name = unique("lim").replace("-", "_")
        runs = [f"{name}-{index}" for index in range(24)]
        got = await asyncio.gather(
            *(acquire(pool, run, LimitRequest(name, "k", 3)) for run in runs)
        )
        assert sum(1 for g in got if g.outcome == Outcome.HOLDING) == 3
        assert sorted(g.position for g in got if g.position is not None) == list(range(1, 22))
        await asyncio.gather(*(release(pool, run) for run in runs))
        assert name not in {u.name for u in await limit_usage(pool)}

    loop.run_until_complete(scenario())


def test_the_reaper_walks_every_leased_run_in_pages(
    pool: StorePool, loop: asyncio.AbstractEventLoop
) -> None:
    async def scenario() -> tuple[list[list[str]], list[str]]:
        name = unique("lim").replace("-", "_")
        runs = [f"{name}-{index}" for index in range(5)]
        for run in runs:
            await acquire(pool, run, LimitRequest(name, "k", 2))  # 2 hold, 3 wait
        pages: list[list[str]] = []
        after = name  # below every run id of this test
        while page := [run for run in await leased_runs(pool, after, 2) if run in runs]:
            pages.append(page)
            after = page[-1]
        for run in runs:
            await release(pool, run)
        return pages, runs

    pages, runs = loop.run_until_complete(scenario())
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [run for page in pages for run in page] == runs  # holders and waiters alike


def test_task_attempts_hold_and_wait_apart_within_one_run(
    pool: StorePool, loop: asyncio.AbstractEventLoop
) -> None:
    """Attempts of limited tasks are holders within their run: two attempts of one run
    take two slots (or one waits behind the other); an attempt's release hands its slot
    to the next holder, whichever run it is in; the run's release ends them all; and
    debounce or cancel_oldest of a run sharing the name never supersede or evict an
    attempt."""

    async def scenario() -> None:
        name = unique("lim").replace("-", "_")

        def attempt(holder: str, strategy: LimitStrategy = LimitStrategy.QUEUE) -> LimitRequest:
            return LimitRequest(name, "db-1", 1, strategy, holder=holder)

        assert (await acquire(pool, "r1", attempt("probe/1/-/1"))).outcome == "holding"
        second = await acquire(pool, "r1", attempt("probe/2/-/1"))
        assert (second.outcome, second.position) == ("queued", 1)
        other = await acquire(pool, "r2", attempt("probe/1/-/1"))
        assert (other.outcome, other.position) == ("queued", 2)
        assert await standing(pool, "r1", name, "db-1", "probe/2/-/1") == Standing.WAITING
        # A run-level debounce on the same name supersedes no attempt, evicts none.
        debounced = await acquire(pool, "r3", attempt("", LimitStrategy.DEBOUNCE))
        assert (debounced.superseded, debounced.position) == ([], 3)
        evicting = await acquire(pool, "r4", attempt("", LimitStrategy.CANCEL_OLDEST))
        assert evicting.evict == []

        promoted = await release_holder(pool, "r1", "probe/1/-/1")
        assert promoted == [Promotion("r1", name, "db-1", "probe/2/-/1")]
        assert await standing(pool, "r1", name, "db-1", "probe/2/-/1") == Standing.HOLDING
        assert await standing(pool, "r1", name, "db-1", "probe/1/-/1") == Standing.GONE
        assert await release_holder(pool, "r1", "probe/1/-/1") == []  # again: nothing
        # The run's end releases every attempt of it at once.
        assert await release(pool, "r1") == [Promotion("r2", name, "db-1", "probe/1/-/1")]
        for run in ("r2", "r3", "r4"):
            await release(pool, run)
        assert name not in {u.name for u in await limit_usage(pool)}

    loop.run_until_complete(scenario())


WAITERS_IN_A_LONG_LINE = 2_000
# As `acquire` queues a run: waiting, capacity 1, priority 0, the run's own place.
QUEUE_WAITERS = """INSERT INTO limit_leases (limit_name, limit_key, run_id, holding, capacity)
SELECT %s, 'k', %s || '-' || lpad(n::text, 4, '0'), false, 1
FROM generate_series(0, %s - 1) AS n ORDER BY n"""
SUPERSEDED_SIZE = """SELECT pg_column_size(superseded), cardinality(superseded) FROM limit_leases
WHERE limit_name = %s AND run_id = %s"""


def test_a_debounce_behind_a_long_line_supersedes_a_bounded_number_of_waiters(
    pool: StorePool, loop: asyncio.AbstractEventLoop
) -> None:
    """2,000 runs of another strategy queue on a key; a debounce acquire supersedes the
    latest 100 of them (engine/store/limits.py MAX_SUPERSEDED), keeps that list with its
    row, gives it again when asked again, and the other 1,900 keep their places."""

    async def scenario() -> None:
        name = unique("lim").replace("-", "_")
        debounce = LimitRequest(name, "k", 1, LimitStrategy.DEBOUNCE)
        await acquire(pool, f"{name}-holder", LimitRequest(name, "k", 1))
        # Queued in one statement: 2,000 acquires one by one take ~30 s here.
        async with pool.connection() as conn:
            await conn.execute(QUEUE_WAITERS, (name, name, WAITERS_IN_A_LONG_LINE))
        waiters = [f"{name}-{n:04d}" for n in range(WAITERS_IN_A_LONG_LINE)]

        began = time.perf_counter()
        got = await acquire(pool, f"{name}-d1", debounce)
        took = time.perf_counter() - began
        kept = WAITERS_IN_A_LONG_LINE - MAX_SUPERSEDED
        assert (got.outcome, got.position) == (Outcome.QUEUED, kept + 1)
        assert got.superseded == waiters[kept:]
        async with pool.connection() as conn:
            size = await (await conn.execute(SUPERSEDED_SIZE, (name, f"{name}-d1"))).fetchone()
        assert size is not None and size[1] == MAX_SUPERSEDED
        # The figure docs/operations.md quotes (a run id here is 19 characters).
        print(f"superseded {MAX_SUPERSEDED}: {size[0]} bytes, {took * 1000:.0f} ms")
        assert size[0] < 8192  # within one page, never TOASTed

        # A lost reply: asked again, the same list, nothing else changes.
        again = await acquire(pool, f"{name}-d1", debounce)
        assert (again.position, again.superseded) == (kept + 1, waiters[kept:])
        usage = {u.name: (u.holders, u.waiters) for u in await limit_usage(pool)}
        assert usage[name] == (1, kept + 1)
        # The next debounce supersedes the previous debounce waiter first (the latest).
        second = await acquire(pool, f"{name}-d2", debounce)
        assert second.superseded == sorted(
            [f"{name}-d1", *waiters[kept - MAX_SUPERSEDED + 1 : kept]]
        )
        # The earliest waiter is still first in line: the holder's release promotes it.
        assert [p.run_id for p in await release(pool, f"{name}-holder")] == [waiters[0]]
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM limit_leases WHERE limit_name = %s", (name,))

    loop.run_until_complete(scenario())
