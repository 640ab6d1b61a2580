"""The HTTP API under load, everything real: a Temporal dev server, PostgreSQL, the API
(`segue api --insecure-dev`, a subprocess served by uvicorn on a free loopback port) and
a worker writing the trace to PostgreSQL (`segue worker` with SEGUE_DATABASE_URL, a
subprocess), driven by httpx from this process.

1. Runs started per second: a one-task workflow (`core.noop`) is registered, then
   `--runs` runs are started through `POST /workflows/{name}/runs`, `--concurrency` at a
   time. Reported: runs accepted per second (first request to last 201), p50/p99 request
   latency; then, polling `GET /runs?workflow=&status=COMPLETED`, runs completed per
   second (first request to the last run seen COMPLETED) and the per-run
   createdAt -> completedAt time.
2. SSE delivery latency: a run row is created in the store directly (no Temporal), a
   client follows `GET /runs/{runId}/stream`, and `--events` PROGRESS events are
   inserted with `append_trace`, one at a time (each waits until the client has it).
   Reported: time from just before the insert to the event's arrival at the client
   (p50/p95/p99/max). A WORKFLOW_STARTED event first (not measured: it proves the
   stream is live) and a WORKFLOW_COMPLETED event last (the stream then ends).

    python benchmarks/api.py                 # 200 runs at concurrency 20, 200 events
    python benchmarks/api.py --quick         # 50 runs, 50 events
    python benchmarks/api.py --json          # JSON instead of the table

The database is SEGUE_DATABASE_URL, else a temporary database created on
postgresql://postgres@127.0.0.1:5432/postgres and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_support import benchmark_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKFLOW = """\
version: 1
tasks:
  only:
    action: core.noop
"""
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TERMINATED", "TIMED_OUT"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


# ------------------------------------------------------------------ services


@dataclass
class Services:
    temporal_address: str = ""
    database_url: str = ""
    api_url: str = ""
    task_queue: str = ""
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="segue-api-")))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        from tests.support.processes import spawn_segue

        process, stop = spawn_segue(args, {**os.environ, **env}, self.directory / f"{name}.log")
        self.processes.append(process)
        self.cleanups.append(stop)


def start_services() -> Services:
    from engine.temporal.devserver import free_port, start_dev_server

    services = Services()
    server = start_dev_server(
        db_file=services.directory / "temporal.db", log_path=services.directory / "temporal.log"
    )
    services.cleanups.append(server.stop)
    services.temporal_address = server.address
    log(f"Temporal dev server {server.address} (files in {services.directory})")

    services.database_url = benchmark_database(services.cleanups, log)

    services.task_queue = f"bench-api-{uuid.uuid4().hex[:8]}"
    env = {
        "SEGUE_DATABASE_URL": services.database_url,
        "SEGUE_TEMPORAL_ADDRESS": services.temporal_address,
        "SEGUE_TASK_QUEUE": services.task_queue,
        "SEGUE_API_TOKEN": "",
    }
    port = free_port()
    services.api_url = f"http://127.0.0.1:{port}"
    services.spawn("api", ["api", "--insecure-dev", "--port", str(port)], env)
    services.spawn("worker", ["worker", "--address", services.temporal_address], env)
    log(f"API {services.api_url}, worker on task queue {services.task_queue}")
    return services


async def wait_healthy(client: Any, services: Services, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        for process in services.processes:
            if process.poll() is not None:
                raise RuntimeError(f"a service exited early; see the logs in {services.directory}")
        try:
            answer = await client.get("/health")
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API never got healthy; logs in {services.directory}")
        await asyncio.sleep(0.2)


# ------------------------------------------------------------------ 1. runs


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def wait_runs(
    client: Any, name: str, run_ids: set[str], timeout: float
) -> tuple[float, dict[str, dict[str, Any]]]:
    """Poll the run list until every run of `run_ids` is terminal; (when, payloads)."""
    from tests.support.load import list_all_runs

    deadline = time.perf_counter() + timeout
    while True:
        seen = {
            run_id: run
            for run_id, run in (await list_all_runs(client, name)).items()
            if run_id in run_ids and run["status"] in TERMINAL
        }
        now = time.perf_counter()
        if len(seen) == len(run_ids):
            return now, seen
        if now > deadline:
            raise RuntimeError(f"only {len(seen)} of {len(run_ids)} runs ended in {timeout} s")
        await asyncio.sleep(0.1)


async def start_one(client: Any, name: str) -> str:
    answer = await client.post(f"/workflows/{name}/runs", json={"input": {}})
    if answer.status_code != 201:
        raise RuntimeError(f"start answered {answer.status_code}: {answer.text}")
    run_id: str = answer.json()["runId"]
    return run_id


async def bench_runs(client: Any, runs: int, concurrency: int) -> dict[str, Any]:
    name = f"bench_noop_{uuid.uuid4().hex[:6]}"
    answer = await client.post("/workflows", params={"name": name}, content=WORKFLOW.encode())
    if answer.status_code not in (200, 201):
        raise RuntimeError(f"register answered {answer.status_code}: {answer.text}")
    # Warm-up: one run end to end (the worker is up, the caches are filled).
    warm = await start_one(client, name)
    await wait_runs(client, name, {warm}, 60)

    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    accepted_at: list[float] = []
    run_ids: set[str] = set()

    async def one() -> None:
        async with gate:
            began = time.perf_counter()
            run_ids.add(await start_one(client, name))
            done = time.perf_counter()
            latencies.append(done - began)
            accepted_at.append(done)

    first = time.perf_counter()
    wall_first = time.time()
    await asyncio.gather(*(one() for _ in range(runs)))
    last_accepted = max(accepted_at)
    all_done, payloads = await wait_runs(client, name, run_ids, max(120.0, runs * 1.0))
    statuses: dict[str, int] = {}
    for run in payloads.values():
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
    end_to_end = [
        _time(run["completedAt"]) - _time(run["createdAt"])
        for run in payloads.values()
        if run.get("completedAt")
    ]
    last_completed = max(_time(run["completedAt"]) for run in payloads.values())
    return {
        "runs": runs,
        "concurrency": concurrency,
        "accept_seconds": round(last_accepted - first, 3),
        "accepted_per_second": round(runs / (last_accepted - first), 1),
        "start_latency_ms": {
            "p50": round(percentile(latencies, 0.50) * 1000, 1),
            "p99": round(percentile(latencies, 0.99) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
        },
        # From the first request to the last completedAt the store recorded (same
        # clock); the polling time is given too (it is up to ~0.1 s + one list later).
        "complete_seconds": round(last_completed - wall_first, 3),
        "completed_per_second": round(runs / (last_completed - wall_first), 1),
        "all_seen_completed_seconds": round(all_done - first, 3),
        "run_created_to_completed_ms": {
            "p50": round(percentile(end_to_end, 0.50) * 1000, 1),
            "p99": round(percentile(end_to_end, 0.99) * 1000, 1),
        },
        "statuses": statuses,
    }


# ------------------------------------------------------------------ 2. SSE


async def bench_sse(client: Any, database_url: str, events: int) -> dict[str, Any]:
    from engine.store import (
        NewRun,
        RunProjection,
        TraceEvent,
        append_trace,
        create_run,
        open_pool,
    )

    name = f"bench_sse_{uuid.uuid4().hex[:6]}"
    answer = await client.post("/workflows", params={"name": name}, content=WORKFLOW.encode())
    answer.raise_for_status()
    version = answer.json()["version"]
    pool = await open_pool(database_url, min_size=1, max_size=2, migrate=False)
    try:
        run_id = str(uuid.uuid4())
        await create_run(
            pool,
            NewRun(run_id=run_id, workflow_name=name, workflow_version=version, task_queue="none"),
        )
        arrived: dict[int, float] = {}
        wakeups: dict[int, asyncio.Event] = {}

        def waiter(seq: int) -> asyncio.Event:
            return wakeups.setdefault(seq, asyncio.Event())

        async def follow() -> None:
            async with client.stream("GET", f"/runs/{run_id}/stream") as response:
                if response.status_code != 200:
                    raise RuntimeError(f"stream answered {response.status_code}")
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        now = time.perf_counter()
                        envelope = json.loads(line[5:])
                        for event in envelope["events"]:
                            seq = int(event["id"])
                            arrived[seq] = now
                            waiter(seq).set()

        reader = asyncio.create_task(follow())

        def now_ms() -> int:
            return int(time.time() * 1000)

        await append_trace(
            pool,
            run_id,
            [TraceEvent(seq=1, type="WORKFLOW_STARTED", level="info", timestamp_ms=now_ms())],
            RunProjection(status="RUNNING", started_at_ms=now_ms()),
        )
        await asyncio.wait_for(waiter(1).wait(), 30)

        inserted: dict[int, float] = {}
        for seq in range(2, events + 2):
            event = TraceEvent(
                seq=seq,
                type="PROGRESS",
                level="info",
                timestamp_ms=now_ms(),
                node_id="task",
                data={"iteration": 1, "route": 0, "attempt": 1},
            )
            inserted[seq] = time.perf_counter()
            await append_trace(pool, run_id, [event])
            await asyncio.wait_for(waiter(seq).wait(), 30)
        last = events + 2
        await append_trace(
            pool,
            run_id,
            [TraceEvent(seq=last, type="WORKFLOW_COMPLETED", level="info", timestamp_ms=now_ms())],
            RunProjection(status="COMPLETED", completed_at_ms=now_ms()),
        )
        await asyncio.wait_for(reader, 30)  # the stream ends after the terminal event
    finally:
        await pool.close()
    latencies = [(arrived[seq] - inserted[seq]) * 1000 for seq in inserted]
    return {
        "events": events,
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50), 2),
            "p95": round(percentile(latencies, 0.95), 2),
            "p99": round(percentile(latencies, 0.99), 2),
            "max": round(max(latencies), 2),
            "mean": round(statistics.fmean(latencies), 2),
        },
        "stream_closed": last in arrived,
    }


# ------------------------------------------------------------------ main


async def run(args: argparse.Namespace, services: Services) -> dict[str, Any]:
    import httpx

    limits = httpx.Limits(max_connections=args.concurrency + 5)
    async with httpx.AsyncClient(base_url=services.api_url, timeout=60, limits=limits) as client:
        await wait_healthy(client, services)
        log(f"runs: {args.runs} at concurrency {args.concurrency} …")
        runs = await bench_runs(client, args.runs, args.concurrency)
        log(f"SSE: {args.events} events …")
        sse = await bench_sse(client, services.database_url, args.events)
    return {"runs": runs, "sse": sse}


def print_table(results: dict[str, Any]) -> None:
    runs, sse = results["runs"], results["sse"]
    rows = [
        ("runs started", f"{runs['runs']} at concurrency {runs['concurrency']}"),
        ("accepted (201) per second", f"{runs['accepted_per_second']}"),
        (
            "start request p50 / p99 / max",
            "{p50} / {p99} / {max} ms".format(**runs["start_latency_ms"]),
        ),
        ("completed per second", f"{runs['completed_per_second']}"),
        ("first request -> last completed", f"{runs['complete_seconds']} s"),
        (
            "run createdAt -> completedAt p50 / p99",
            "{p50} / {p99} ms".format(**runs["run_created_to_completed_ms"]),
        ),
        ("final statuses", ", ".join(f"{k} {v}" for k, v in sorted(runs["statuses"].items()))),
        ("SSE events", f"{sse['events']}"),
        (
            "insert -> client p50 / p95 / p99 / max",
            "{p50} / {p95} / {p99} / {max} ms".format(**sse["latency_ms"]),
        ),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200, help="runs to start")
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight")
    parser.add_argument("--events", type=int, default=200, help="trace events for SSE")
    parser.add_argument("--quick", action="store_true", help="50 runs, 50 events")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.events = 50, 50

    began = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    services = start_services()
    code = 0
    try:
        results = asyncio.run(run(args, services))
        results["seconds"] = round(time.perf_counter() - began, 1)
        results["load_average"] = {
            "before": load_before,
            "after": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
        }
        if args.json:
            print(json.dumps(results, indent=2))
        else:
            print_table(results)
            load = results["load_average"]
            print(
                f"\ntotal {results['seconds']} s; load average before {load['before']}, "
                f"after {load['after']}, {load['cpus']} CPUs"
            )
    except BaseException:
        code = 1
        raise
    finally:
        for cleanup in reversed(services.cleanups):
            try:
                cleanup()
            except Exception as error:  # report it and keep cleaning
                log(f"cleanup failed: {error}")
        if code == 0:  # keep the logs of a failed run
            shutil.rmtree(services.directory, ignore_errors=True)
        sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
