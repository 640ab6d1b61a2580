"""The concurrency limiter's cost in PostgreSQL (engine/store/limits.py): one acquire and
one release on an idle key; a run queueing behind N waiters and a release handing over
with N waiting; C runs acquiring one key at once (all transactions contend for the key's
advisory lock). Medians of `--repeat` (default 200) on a temporary database.

    python benchmarks/limits.py [--repeat N] [--waiters N] [--concurrent C] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.store import open_pool
from engine.store._db import StorePool
from engine.store.limits import LimitRequest, acquire, release
from tests.support.postgres import (
    LOCAL_SERVER_URL,
    TEST_URL_VARIABLE,
    temporary_database,
)


async def _timed(work: Awaitable[Any]) -> float:
    began = time.perf_counter()
    await work
    return (time.perf_counter() - began) * 1000


async def measure(pool: StorePool, repeat: int, waiters: int, concurrent: int) -> dict[str, float]:
    idle = LimitRequest("bench", "idle", 1)
    acquire_ms, release_ms = [], []
    for index in range(repeat):
        acquire_ms.append(await _timed(acquire(pool, f"idle-{index}", idle)))
        release_ms.append(await _timed(release(pool, f"idle-{index}")))

    deep = LimitRequest("bench", "deep", 1)
    await acquire(pool, "deep-holder", deep)
    for index in range(waiters):
        await acquire(pool, f"deep-{index}", deep)
    queued_ms, handover_ms = [], []
    holder = "deep-holder"
    for index in range(repeat):
        queued_ms.append(await _timed(acquire(pool, f"deep-late-{index}", deep)))
        began = time.perf_counter()
        (promoted,) = await release(pool, holder)
        handover_ms.append((time.perf_counter() - began) * 1000)
        holder = promoted.run_id

    crowd = LimitRequest("bench", "crowd", 3)
    began = time.perf_counter()
    await asyncio.gather(*(acquire(pool, f"crowd-{i}", crowd) for i in range(concurrent)))
    crowd_ms = (time.perf_counter() - began) * 1000
    return {
        "acquire_idle_ms": statistics.median(acquire_ms),
        "release_idle_ms": statistics.median(release_ms),
        f"acquire_behind_{waiters}_ms": statistics.median(queued_ms),
        f"release_handover_{waiters}_waiting_ms": statistics.median(handover_ms),
        f"{concurrent}_concurrent_acquires_total_ms": crowd_ms,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with temporary_database(os.environ.get(TEST_URL_VARIABLE, LOCAL_SERVER_URL)) as url:
        pool = await open_pool(url, min_size=4, max_size=10)
        try:
            figures = await measure(pool, args.repeat, args.waiters, args.concurrent)
        finally:
            await pool.close()
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name:45} {value:9.2f}")


if __name__ == "__main__":
    asyncio.run(main())
