"""kill -9 the worker in the middle of a long loop, start a new one: the run completes, and
the trace holds every event exactly once, in order.

A dev server of its own suggests continue-as-new after 150 history events, so the
200-iteration `http.request` loop continues as new several times, before and after the
kill. The local HTTP server holds one request in the middle of the loop (after at least
one continue-as-new) until the worker process running that activity has been SIGKILLed;
a second worker process then finishes the run (Temporal retries the activity once its
heartbeat times out, about 30 s later).
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.store import get_run, open_pool
from engine.temporal.types import InterpreterResult
from engine.temporal.worker import connect
from tests.support.processes import start_worker, stop_process
from tests.support.temporal import BackgroundLoop, history_lengths, start_recorded_run

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

ITERATIONS = 200
HOLD_AT = 100  # the request held until the worker running it is killed


def loop_workflow(url: str) -> str:
    """A monitoring loop: `ITERATIONS` polls of `url`, then a report."""
    return f"""
version: 1
vars: {{polls: 0}}
start: [poll]
tasks:
  poll:
    action: http.request
    max_iterations: {ITERATIONS + 50}
    input: {{method: GET, url: "{url}", timeout: 120}}
    next:
      - when: $ctx.polls + 1 < {ITERATIONS}
        publish: {{polls: <% $ctx.polls + 1 %>}}
        do: poll
      - when: $ctx.polls + 1 >= {ITERATIONS}
        publish: {{polls: <% $ctx.polls + 1 %>}}
        do: report
  report:
    action: core.echo
    input: <% $ctx.polls %>
output: {{polls: <% $ctx.polls %>}}
"""


class HoldingServer:
    """A local HTTP server answering 200 `{}`; it holds request number `hold_at` until
    `release` is set (at most 120 s)."""

    def __init__(self, hold_at: int) -> None:
        self.requests = 0
        self.held = threading.Event()
        self.release = threading.Event()
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    server.requests += 1
                    number = server.requests
                if number == hold_at:
                    server.held.set()
                    server.release.wait(120)
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the held request's worker is dead

            def log_message(self, *_: Any) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_port}/health"

    def close(self) -> None:
        self.release.set()
        self.http.shutdown()
        self.http.server_close()


async def raw_trace(database: str, run_id: str) -> list[tuple[Any, ...]]:
    """Every stored trace row of the run, by seq, read straight from the table (not
    through `trace_page`, which stops at the first gap)."""
    pool = await open_pool(database)
    try:
        async with pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT seq, type, node_id, data FROM trace_events WHERE run_id = %s ORDER BY seq",
                (run_id,),
            )
            return [tuple(row) for row in await cursor.fetchall()]
    finally:
        await pool.close()


async def run_status(database: str, run_id: str) -> tuple[str, Any]:
    pool = await open_pool(database)
    try:
        run = await get_run(pool, run_id)
        assert run is not None
        return str(run.status), run.output
    finally:
        await pool.close()


def test_worker_killed_mid_long_loop(
    tmp_path: Path,
    small_history_server: str,
    postgres_url: str,
    background_loop: BackgroundLoop,
) -> None:
    http = HoldingServer(HOLD_AT)
    address = small_history_server
    queue = f"kill-loop-{uuid.uuid4().hex[:8]}"
    run_id = f"kill-loop-{uuid.uuid4().hex[:8]}"
    text = loop_workflow(http.url)
    first = start_worker(address, queue, postgres_url, tmp_path / "worker-1.log")
    second = None
    try:
        handle = background_loop.run(
            start_recorded_run(postgres_url, address, queue, "kill_loop", text, run_id)
        )
        assert http.held.wait(120), f"only {http.requests} requests, the loop stalled"

        async def current_run_id() -> str:
            client = await connect(address)
            described = await client.get_workflow_handle(run_id).describe()
            return described.run_id

        # The kill comes after at least one continue-as-new: the activity in flight
        # belongs to a later generation than the first.
        killed_in = background_loop.run(current_run_id())
        assert killed_in != handle.first_execution_run_id
        first.send_signal(signal.SIGKILL)
        assert first.wait(15) == -signal.SIGKILL
        http.release.set()  # the held request answers a dead worker
        second = start_worker(address, queue, postgres_url, tmp_path / "worker-2.log")

        async def finish() -> tuple[InterpreterResult, list[int]]:
            client = await connect(address)
            fresh = client.get_workflow_handle(run_id, result_type=InterpreterResult)
            result: InterpreterResult = await fresh.result()
            return result, await history_lengths(client, run_id)

        result, lengths = background_loop.run(finish(), timeout=240)
        assert result.status == "succeeded", result
        assert result.output == {"polls": ITERATIONS}
        assert result.continued >= 2
        assert len(lengths) == result.continued + 1
        # ... and the second worker continued as new again.
        assert background_loop.run(current_run_id()) != killed_in
        assert second.poll() is None, "the second worker died"
        # Every poll reached the server; the held one once more (its retry).
        assert http.requests >= ITERATIONS + 1

        deadline = time.monotonic() + 60
        rows = background_loop.run(raw_trace(postgres_url, run_id))
        while not rows or rows[-1][1] != "WORKFLOW_COMPLETED":
            assert time.monotonic() < deadline, f"trace never completed: {rows[-3:]}"
            time.sleep(0.5)
            rows = background_loop.run(raw_trace(postgres_url, run_id))

        # Gapless from 1 (the table's key makes a seq unique).
        assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
        kinds = Counter((row[1], row[2]) for row in rows)
        assert kinds == Counter(
            {
                ("WORKFLOW_STARTED", None): 1,
                ("STARTED", "poll"): ITERATIONS,
                ("COMPLETED", "poll"): ITERATIONS,
                # Behaviour 3: both entries of `poll`'s `next`, on every lap.
                ("TRANSITION", "poll"): 2 * ITERATIONS,
                ("STARTED", "report"): 1,
                ("COMPLETED", "report"): 1,
                ("WORKFLOW_COMPLETED", None): 1,
            }
        ), kinds
        # In order: each iteration of `poll` starts once, completes once and explains
        # its two transitions before the next one starts, then `report`, then the end.
        steps = [(row[1], row[2], (row[3] or {}).get("iteration")) for row in rows]
        base: int = rows[1][3]["iteration"]  # the number of a task's first iteration
        expected = [
            ("WORKFLOW_STARTED", None, None),
            *[
                step
                for i in range(ITERATIONS)
                for step in (
                    ("STARTED", "poll", base + i),
                    ("COMPLETED", "poll", base + i),
                    ("TRANSITION", "poll", base + i),
                    ("TRANSITION", "poll", base + i),
                )
            ],
            ("STARTED", "report", base),
            ("COMPLETED", "report", base),
            ("WORKFLOW_COMPLETED", None, None),
        ]
        differs = next(
            (i for i, (got, want) in enumerate(zip(steps, expected, strict=False)) if got != want),
            min(len(steps), len(expected)),
        )
        assert steps == expected, (differs, steps[max(0, differs - 2) : differs + 3])

        deadline = time.monotonic() + 30
        status = background_loop.run(run_status(postgres_url, run_id))
        while status[0] != "COMPLETED":
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
            status = background_loop.run(run_status(postgres_url, run_id))
        assert status == ("COMPLETED", {"polls": ITERATIONS})
    finally:
        http.release.set()
        stop_process(first)
        stop_process(second)
        http.close()
