"""A worker killed with SIGKILL in the middle of an activity: another worker finishes the
run, and the trace holds every event exactly once, in order."""

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

from engine.store import open_pool, trace_page
from tests.support.processes import start_worker
from tests.support.temporal import BackgroundLoop, start_recorded_run

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

REQUESTS = threading.Event()


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        REQUESTS.set()
        time.sleep(3)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: Any) -> None:
        return


def test_killed_worker_mid_activity(
    temporal_address: str, postgres_url: str, background_loop: BackgroundLoop, tmp_path: Path
) -> None:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    text = f"""
version: 1
tasks:
  call:
    action: http.request
    input: {{url: "http://127.0.0.1:{http.server_port}/slow", timeout: 10}}
    next: [{{do: after}}]
  after:
    action: core.echo
    input: done
"""
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    run_id = f"crash-{uuid.uuid4().hex[:8]}"
    first = start_worker(temporal_address, queue, postgres_url, tmp_path / "worker-1.log")
    second = None
    try:
        handle = background_loop.run(
            start_recorded_run(postgres_url, temporal_address, queue, "crash", text, run_id)
        )
        assert REQUESTS.wait(30), "the activity never started"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = start_worker(temporal_address, queue, postgres_url, tmp_path / "worker-2.log")
        result = background_loop.run(handle.result(), timeout=120)
        assert result.status == "succeeded"

        async def read_trace() -> list[Any]:
            pool = await open_pool(postgres_url)
            events = await trace_page(pool, run_id, 0, 1000)
            await pool.close()
            return events

        deadline = time.monotonic() + 30
        events = background_loop.run(read_trace())
        while events[-1].type != "WORKFLOW_COMPLETED" and time.monotonic() < deadline:
            time.sleep(0.5)
            events = background_loop.run(read_trace())
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        kinds = Counter((e.type, e.node_id) for e in events)
        assert kinds == Counter(
            {
                ("WORKFLOW_STARTED", None): 1,
                ("STARTED", "call"): 1,
                ("COMPLETED", "call"): 1,
                ("TRANSITION", "call"): 1,  # behaviour 3: why `after` ran
                ("STARTED", "after"): 1,
                ("COMPLETED", "after"): 1,
                ("WORKFLOW_COMPLETED", None): 1,
            }
        )
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(15)
        http.shutdown()
