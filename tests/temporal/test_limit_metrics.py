"""The worker's limit gauges: slots in use and waiters per limit, as the store has them
at each reaper pass, served at /metrics; a limit whose runs all ended reads 0 again."""

from __future__ import annotations

import asyncio
import socket
import uuid

import httpx
import pytest

from engine.store import open_pool
from engine.store.limits import LimitRequest, acquire, release
from engine.temporal.limit_reaper import LimitGauges
from engine.temporal.metrics import prometheus_runtime

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _gauge(text: str, name: str, limit: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + "{") and f'limit="{limit}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def test_slots_in_use_and_waiters_are_gauges_per_limit(postgres_url: str) -> None:
    address = f"127.0.0.1:{_free_port()}"
    runtime = prometheus_runtime(address)  # kept: its exporter lives as long as it does
    gauges = LimitGauges(runtime.metric_meter)
    limit = f"gauged_{uuid.uuid4().hex[:8]}"

    def scraped() -> tuple[float | None, float | None]:
        text = httpx.get(f"http://{address}/metrics", timeout=10).text
        in_use = _gauge(text, "segue_limit_slots_in_use", limit)
        return in_use, _gauge(text, "segue_limit_waiters", limit)

    async def scenario() -> list[tuple[float | None, float | None]]:
        pool = await open_pool(postgres_url)
        seen = []
        try:
            for run, key in (("a", "k1"), ("b", "k1"), ("c", "k2"), ("d", "k1")):
                await acquire(pool, f"{limit}-{run}", LimitRequest(limit, key, 1))
            # A task's attempts count the same: one holds k3, one of the same run waits.
            for holder in ("probe/1/-/1", "probe/2/-/1"):
                task_slot = LimitRequest(limit, "k3", 1, holder=holder)
                await acquire(pool, f"{limit}-e", task_slot)
            await gauges.report(pool)
            seen.append(scraped())
            for run in "abcde":
                await release(pool, f"{limit}-{run}")
            await gauges.report(pool)
            seen.append(scraped())
        finally:
            await pool.close()
        return seen

    # Three keys hold one slot each; k1 has two waiters, k3 one (a task attempt). Then
    # everything is given back.
    assert asyncio.run(scenario()) == [(3.0, 3.0), (0.0, 0.0)]
