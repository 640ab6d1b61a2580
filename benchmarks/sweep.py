"""The background reconcile sweep's cost (api/run_sweep.py): `--live` runs not ended in
the store, each an open Temporal execution (no worker polls its queue), `--terminated`
of them terminated from Temporal's side, and `--ended` rows that ended a day ago (the
history a store keeps: runs are never deleted). Prints the time of one page query,
of the first sweep (which writes the terminated runs' ends) and of the next ones
(nothing left to write), and how many ticks a full pass takes.

    python benchmarks/sweep.py [--live N] [--terminated N] [--ended N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import REGISTRY

from api.config import ApiConfig
from api.run_sweep import ENDED_WINDOW, MAX_PAGES_PER_SWEEP, RunSweep
from api.services import Services
from benchmarks.bench_support import benchmark_database
from engine.store import open_pool
from engine.store._db import EPOCH
from engine.store.sweep import LIVE, SELECT_PAGE, runs_to_reconcile
from engine.store.workflows import register_workflow_version
from engine.temporal.client import MAX_DESCRIBED
from engine.temporal.devserver import start_dev_server
from engine.temporal.worker import connect

YAML = "version: 1\ntasks:\n  nap:\n    action: core.sleep\n    input: {seconds: 300}\n"
INSERT_LIVE = """
INSERT INTO runs (run_id, workflow_name, workflow_version, task_queue, status, started_at)
SELECT 'live-' || lpad(n::text, 6, '0'), 'bench', 1, 'none', 'RUNNING', now()
FROM generate_series(1, %s) AS n
"""
INSERT_ENDED = """
INSERT INTO runs (run_id, workflow_name, workflow_version, task_queue, status,
    created_at, started_at, completed_at, updated_at)
SELECT 'old-' || n, 'bench', 1, 'none', 'COMPLETED', now() - interval '1 day',
    now() - interval '1 day', now() - interval '1 day', now() - interval '1 day'
FROM generate_series(1, %s) AS n
"""


def _swept() -> float:
    return REGISTRY.get_sample_value("segue_sweep_runs_reconciled_total") or 0.0


def _ms(began: float) -> float:
    return (time.perf_counter() - began) * 1000


async def main(args: argparse.Namespace) -> None:
    cleanups: list[Callable[[], None]] = []
    url = benchmark_database(cleanups, print)
    directory = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    server = start_dev_server(db_file=directory / "t.db", log_path=directory / "server.log")
    pool = await open_pool(url)
    services = Services(
        ApiConfig(database_url=url, temporal_address=server.address, auth_disabled=True)
    )
    started = False
    try:
        await register_workflow_version(
            pool, "bench", YAML, hashlib.sha256(YAML.encode()).hexdigest()
        )
        async with pool.connection() as conn:
            await conn.execute(INSERT_LIVE, (args.live,))
            await conn.execute(INSERT_ENDED, (args.ended,))
            await conn.execute("ANALYZE runs")
        client = await connect(server.address)
        ids = [f"live-{n:06d}" for n in range(1, args.live + 1)]
        gate = asyncio.Semaphore(32)

        async def start(run_id: str) -> None:
            async with gate:
                await client.start_workflow("Nothing", id=run_id, task_queue="none")

        began = time.perf_counter()
        await asyncio.gather(*(start(run_id) for run_id in ids))
        print(f"{args.live:,} executions started in {_ms(began) / 1000:.0f} s", flush=True)
        step = max(1, args.live // max(1, args.terminated))
        doomed = ids[::step][: args.terminated]

        async def terminate(run_id: str) -> None:
            async with gate:
                await client.get_workflow_handle(run_id).terminate()

        await asyncio.gather(*(terminate(run_id) for run_id in doomed))
        # Visibility lags the executions: wait (a minute at most) until it shows them all.
        query = "ExecutionStatus = 'Terminated' AND TaskQueue = 'none'"
        for _ in range(120):
            shown = (await client.count_workflows(query)).count
            if shown == len(doomed):
                break
            await asyncio.sleep(0.5)
        print(f"visibility shows {shown:,} of {len(doomed):,} terminations", flush=True)
        print(
            f"store: {args.live:,} runs not ended ({len(doomed):,} terminated in Temporal), "
            f"{args.ended:,} ended a day ago; Temporal: {args.live:,} executions"
        )

        async with pool.connection() as conn:
            explained = await conn.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + SELECT_PAGE,
                {
                    "live": LIVE,
                    "window": ENDED_WINDOW,
                    "after_time": EPOCH,
                    "after_id": "",
                    "limit": MAX_DESCRIBED,
                },
            )
            (plan,) = (await explained.fetchone() or [[{}]])[0]
        indexes = sorted(set(re.findall(r'"Index Name": "(\w+)"', json.dumps(plan))))
        print(
            f"page query plan: {plan['Execution Time']:.1f} ms in PostgreSQL, "
            f"indexes {', '.join(indexes)}"
        )
        await runs_to_reconcile(pool, None, MAX_DESCRIBED, ENDED_WINDOW)  # warm
        began = time.perf_counter()
        for _ in range(20):
            await runs_to_reconcile(pool, None, MAX_DESCRIBED, ENDED_WINDOW)
        print(f"one page query ({MAX_DESCRIBED} rows), from Python: {_ms(began) / 20:.1f} ms")

        await services.start()
        started = True
        await services.store.ready.wait()
        sweep = RunSweep(services, 0)
        ticks, before = 0, _swept()
        while True:
            began = time.perf_counter()
            outcome = await sweep.sweep_once()
            ticks += 1
            print(f"sweep {ticks}: {outcome}, {_ms(began):.0f} ms")
            if sweep.pass_complete:  # the pass reached the end
                break
        written = _swept() - before
        print(
            f"first pass: {ticks} tick(s) of at most {MAX_PAGES_PER_SWEEP} pages, "
            f"{written:.0f} ends written"
        )
        began = time.perf_counter()
        await sweep.sweep_once()
        print(f"next sweep (nothing to write): {_ms(began):.0f} ms")
    finally:
        if started:
            await services.stop()
        await pool.close()
        server.stop()
        for cleanup in cleanups:
            cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--live", type=int, default=1000, help="runs not ended")
    parser.add_argument("--terminated", type=int, default=250, help="of which terminated")
    parser.add_argument("--ended", type=int, default=100_000, help="rows ended a day ago")
    asyncio.run(main(parser.parse_args()))
