"""Many concurrent runs of the monitoring example on one worker, everything real.

Shared by `benchmarks/load.py` (figures) and `tests/faults/test_load.py` (assertions).
`run_load` starts a Temporal dev server (SQLite file), the API (`segue api
--insecure-dev`) and ONE worker (`segue worker`, trace to PostgreSQL) as separate OS
processes, and serves, from this process, a health endpoint `GET /health/<name>` that
answers 503 to the first polls of each name and 200 from the `HEALTHY_AFTER`-th on. It
registers `examples/monitoring.yaml` unchanged, starts every run over HTTP
(`POST /workflows/{name}/runs`, all at once unless `concurrency` is given) with a target
of its own (`{"url": ".../health/<run>", "interval": 1}`), polls `GET /runs` until every
run is terminal and checks each: `COMPLETED` with the output
`{"healthy": true, "checks": HEALTHY_AFTER}`. The memory of the API and of the worker is
read from `/proc/<pid>/status` (VmRSS, VmHWM).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from engine.temporal.devserver import DevServer, free_port, start_dev_server
from tests.support.processes import clean_env, spawn_segue

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "monitoring.yaml"
HEALTHY_AFTER = 3  # 503, 503, 200: the example's output is then {healthy: true, checks: 3}
EXPECTED_OUTPUT = {"healthy": True, "checks": HEALTHY_AFTER}
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TERMINATED", "TIMED_OUT"}

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ------------------------------------------------------------------ the health targets


class HealthTargets:
    """`GET /health/<name>`: 503 for the first `healthy_after - 1` polls of each name,
    200 from then on; counts the polls per name."""

    def __init__(self, healthy_after: int = HEALTHY_AFTER) -> None:
        targets = self
        self.healthy_after = healthy_after
        self.polls: dict[str, int] = {}
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                with targets.lock:
                    seen = targets.polls.get(name, 0) + 1
                    targets.polls[name] = seen
                healthy = seen >= targets.healthy_after
                body = json.dumps({"healthy": healthy, "poll": seen}).encode()
                self.send_response(200 if healthy else 503)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.http.request_queue_size = 1024
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.http.server_port}/health/{name}"

    def count(self, url: str) -> int:
        """How often the target `url` was polled."""
        with self.lock:
            return self.polls.get(url.rsplit("/", 1)[-1], 0)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


# ------------------------------------------------------------------ the processes


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB; {} when it is gone."""
    found: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found["rss" if key == "VmRSS" else "peak"] = int(value.split()[0])
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Stack:
    """The dev server, the API and the worker; `close()` stops them in reverse order."""

    directory: Path
    temporal: DevServer | None = None
    api_url: str = ""
    api: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        process, stop = spawn_segue(args, env, self.directory / f"{name}.log")
        self.cleanups.append(stop)
        return process

    def check_alive(self) -> None:
        for name, process in (("API", self.api), ("worker", self.worker)):
            if process is not None and process.poll() is not None:
                raise RuntimeError(
                    f"the {name} exited ({process.returncode}); logs in {self.directory}"
                )

    def close(self, log: Log) -> None:
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as error:  # report it and keep cleaning
                log(f"cleanup failed: {error}")
        self.cleanups.clear()


def start_stack(database_url: str, directory: Path, log: Log) -> Stack:
    stack = Stack(directory=directory)
    try:
        stack.temporal = start_dev_server(
            db_file=directory / "temporal.db", log_path=directory / "temporal.log"
        )
        stack.cleanups.append(stack.temporal.stop)
        queue = f"load-{secrets.token_hex(4)}"
        env = clean_env(
            SEGUE_DATABASE_URL=database_url,
            SEGUE_TEMPORAL_ADDRESS=stack.temporal.address,
            SEGUE_TASK_QUEUE=queue,
        )
        port = free_port()
        stack.api_url = f"http://127.0.0.1:{port}"
        stack.api = stack.spawn("api", ["api", "--insecure-dev", "--port", str(port)], env)
        stack.worker = stack.spawn(
            "worker",
            ["worker", "--address", stack.temporal.address, "--task-queue", queue],
            env,
        )
    except BaseException:
        stack.close(log)
        raise
    log(
        f"Temporal {stack.temporal.address}, API {stack.api_url} (pid {stack.api.pid}), "
        f"worker pid {stack.worker.pid} on {queue}; files in {directory}"
    )
    return stack


# ------------------------------------------------------------------ the load


@dataclass
class Submitted:
    index: int
    target: str
    sent: float  # wall clock, just before the request
    accepted: float = 0.0  # wall clock, the 201 read
    run_id: str = ""  # of an accepted start
    error: str = ""  # of a refused start
    refused_run_id: str = ""  # the run a refusal names (the API records it as FAILED)


async def _wait_healthy(client: httpx.AsyncClient, stack: Stack, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/health")).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API never got healthy; logs in {stack.directory}")
        await asyncio.sleep(0.2)


async def list_all_runs(client: httpx.AsyncClient, workflow: str) -> dict[str, dict[str, Any]]:
    """Every run of the workflow, by run id (`GET /runs`, all pages)."""
    seen: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params: dict[str, Any] = {"workflow": workflow, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        answer = await client.get("/runs", params=params)
        answer.raise_for_status()
        body = answer.json()
        for run in body["runs"]:
            seen[run["runId"]] = run
        cursor = body.get("nextCursor")
        if not cursor:
            return seen


async def _wait_runs(
    client: httpx.AsyncClient, stack: Stack, workflow: str, run_ids: set[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """The status payloads of `run_ids` once all of them are terminal."""
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive()
        runs = await list_all_runs(client, workflow)
        ended = {run_id for run_id in run_ids if runs.get(run_id, {}).get("status") in TERMINAL}
        if ended == run_ids:
            return {run_id: runs[run_id] for run_id in run_ids}
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {len(ended)} of {len(run_ids)} runs ended within {timeout:.0f} s"
            )
        await asyncio.sleep(1.0)


async def _start(
    client: httpx.AsyncClient, workflow: str, item: Submitted, interval: float
) -> None:
    body = {"input": {"url": item.target, "interval": interval}}
    item.sent = time.time()
    try:
        answer = await client.post(f"/workflows/{workflow}/runs", json=body)
    except httpx.HTTPError as error:
        item.error = f"{type(error).__name__}: {error}"
        return
    item.accepted = time.time()
    if answer.status_code != 201:
        item.error = f"{answer.status_code}: {answer.text[:300]}"
        with contextlib.suppress(ValueError, AttributeError):
            item.refused_run_id = str(answer.json().get("runId") or "")
        return
    item.run_id = answer.json()["runId"]


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50": round(percentile(values, 0.50) * 1000),
        "p99": round(percentile(values, 0.99) * 1000),
        "max": round(max(values) * 1000),
    }


async def drive(
    stack: Stack,
    targets: HealthTargets,
    runs: int,
    *,
    concurrency: int | None = None,
    interval: float = 1.0,
    timeout: float | None = None,
    log: Log = _stderr,
) -> dict[str, Any]:
    """Start `runs` monitoring runs over HTTP, wait for all, check every output."""
    assert stack.api is not None and stack.worker is not None
    timeout = timeout if timeout is not None else max(300.0, runs * 1.5)
    in_flight = concurrency or runs
    limits = httpx.Limits(max_connections=in_flight + 5, max_keepalive_connections=in_flight + 5)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=300, limits=limits) as client:
        await _wait_healthy(client, stack)
        workflow = f"monitoring_load_{secrets.token_hex(3)}"
        answer = await client.post(
            "/workflows",
            params={"name": workflow},
            content=EXAMPLE.read_bytes(),
            headers={"Content-Type": "application/yaml"},
        )
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"register answered {answer.status_code}: {answer.text}")

        # Warm-up: one run end to end (the worker polls, the caches are filled).
        warm = Submitted(-1, targets.url("warm-up"), 0.0)
        await _start(client, workflow, warm, interval)
        if warm.error:
            raise RuntimeError(f"the warm-up start failed: {warm.error}")
        warmed = await _wait_runs(client, stack, workflow, {warm.run_id}, 120)
        if warmed[warm.run_id]["output"] != EXPECTED_OUTPUT:
            raise RuntimeError(f"the warm-up run went wrong: {warmed[warm.run_id]}")
        idle = {"api": memory_kib(stack.api.pid), "worker": memory_kib(stack.worker.pid)}
        pids = {"api": stack.api.pid, "worker": stack.worker.pid}
        cpu_before = {name: cpu_seconds(pid) or 0.0 for name, pid in pids.items()}

        log(f"starting {runs} runs of {workflow} ({in_flight} requests in flight) …")
        token = secrets.token_hex(3)
        items = [Submitted(i, targets.url(f"load-{token}-{i}"), 0.0) for i in range(runs)]
        gate = asyncio.Semaphore(in_flight)

        async def one(item: Submitted) -> None:
            async with gate:
                await _start(client, workflow, item, interval)

        load_before = os.getloadavg()[0]
        began = time.time()
        await asyncio.gather(*(one(item) for item in items))
        all_accepted = time.time()
        started = {item.run_id: item for item in items if item.run_id}
        log(
            f"{len(started)} accepted in {all_accepted - began:.1f} s "
            f"({runs - len(started)} refused); waiting for them to end …"
        )
        payloads = await _wait_runs(client, stack, workflow, set(started), timeout)
        all_seen = time.time()
        memory = {"api": memory_kib(stack.api.pid), "worker": memory_kib(stack.worker.pid)}
        cpu = {
            name: round((cpu_seconds(pid) or 0.0) - cpu_before[name], 1)
            for name, pid in pids.items()
        }
        load_after = os.getloadavg()[0]
        refused = [item for item in items if item.error]
        if any(0 < targets.count(item.target) < HEALTHY_AFTER for item in refused):
            await asyncio.sleep(10)  # a refused start that runs anyway: let it finish
        rows = await list_all_runs(client, workflow)

    wrong = []
    statuses: dict[str, int] = {}
    request_to_completed: list[float] = []
    started_to_completed: list[float] = []
    accept_latency: list[float] = []
    spans: list[tuple[float, float]] = []
    last_completed = began
    for run_id, item in started.items():
        run = payloads[run_id]
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
        accept_latency.append(item.accepted - item.sent)
        if run["status"] != "COMPLETED" or run["output"] != EXPECTED_OUTPUT:
            failure = run.get("failure")
            wrong.append(
                f"run {item.index} ({run_id}): {run['status']} output={run['output']!r}"
                + (f" failure={failure!r}" if failure else "")
            )
        if run.get("completedAt"):
            completed = _time(run["completedAt"])
            last_completed = max(last_completed, completed)
            request_to_completed.append(completed - item.sent)
            started_to_completed.append(completed - _time(run["startedAt"]))
            spans.append((_time(run["startedAt"]), completed))
    # A refused start must not run: the API answered 503 and recorded the run FAILED.
    refused_but_ran = [
        f"run {item.index} ({item.refused_run_id or '?'}): answered {item.error[:3]}, "
        f"yet its target was polled {targets.count(item.target)} times; store status "
        f"{rows.get(item.refused_run_id, {}).get('status', '?')}, output "
        f"{rows.get(item.refused_run_id, {}).get('output')!r}"
        for item in refused
        if targets.count(item.target) > 0
    ]
    odd_polls = [
        (item.index, targets.count(item.target))
        for item in started.values()
        if targets.count(item.target) != HEALTHY_AFTER
    ]
    seconds = last_completed - began
    return {
        "runs": runs,
        "in_flight": in_flight,
        "interval_seconds": interval,
        "workers": 1,
        "expected_output": EXPECTED_OUTPUT,
        "accepted": len(started),
        "statuses": statuses,
        "wrong": wrong,
        "refused": [f"run {item.index}: {item.error}" for item in refused],
        "refused_but_ran": refused_but_ran,
        "accept_seconds": round(all_accepted - began, 2),
        "start_request_ms": _ms(accept_latency),
        # First request -> last completedAt the store recorded (same machine clock).
        "wall_seconds": round(seconds, 2),
        "all_seen_seconds": round(all_seen - began, 2),
        "completed_per_second": round(len(request_to_completed) / seconds, 2) if seconds else 0,
        "request_to_completed_ms": _ms(request_to_completed),
        "started_to_completed_ms": _ms(started_to_completed),
        "most_runs_in_progress": _most_at_once(spans),
        "memory_kib": {"idle": idle, "end": memory},
        # CPU seconds used from the first start request until every run was seen ended.
        "cpu_seconds": cpu,
        "polls_per_target": sorted({targets.count(item.target) for item in started.values()}),
        "targets_not_polled_exactly_3_times": odd_polls[:20],
        "load_average": {"before": round(load_before, 2), "after": round(load_after, 2)},
        "cpus": os.cpu_count(),
    }


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) spans open at one moment."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


@contextlib.contextmanager
def _directory(directory: Path | None) -> Iterator[tuple[Path, Callable[[bool], None]]]:
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        yield directory, lambda ok: None
        return
    made = Path(tempfile.mkdtemp(prefix="segue-load-"))
    yield made, lambda ok: shutil.rmtree(made, ignore_errors=True) if ok else None


def run_load(
    database_url: str,
    runs: int = 500,
    *,
    concurrency: int | None = None,
    interval: float = 1.0,
    timeout: float | None = None,
    directory: Path | None = None,
    log: Log = _stderr,
) -> dict[str, Any]:
    """Start the stack, drive the load, stop the stack; the figures, with `wrong` (every
    accepted run that did not complete with the expected output), `refused` (every start
    not answered 201) and `refused_but_ran` (refused starts that executed anyway).

    The logs of the dev server, the API and the worker stay in `directory` (else in a
    temporary directory, deleted unless something went wrong)."""
    with _directory(directory) as (where, finish):
        ok = False
        began = time.perf_counter()
        targets = HealthTargets()
        try:
            stack = start_stack(database_url, where, log)
            try:
                results = asyncio.run(
                    drive(
                        stack,
                        targets,
                        runs,
                        concurrency=concurrency,
                        interval=interval,
                        timeout=timeout,
                        log=log,
                    )
                )
            finally:
                stack.close(log)
            results["total_seconds"] = round(time.perf_counter() - began, 1)
            ok = not (results["wrong"] or results["refused"] or results["refused_but_ran"])
            if not ok:
                results["logs"] = str(where)
            return results
        finally:
            targets.close()
            finish(ok)
