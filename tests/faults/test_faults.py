"""Fault injection against real servers: the Temporal dev server restarted mid-run,
PostgreSQL stopped for a while mid-run, and the API restarted under a connected SSE
client. Each run must finish with the right output and a gapless, exactly-once trace."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.store import open_pool, trace_page
from engine.temporal.devserver import free_port, start_dev_server
from engine.temporal.types import InterpreterResult
from engine.temporal.worker import connect
from tests.support.processes import (
    start_api,
    start_worker,
    stop_api,
    stop_process,
    wait_for_api,
)
from tests.support.temporal import BackgroundLoop, start_recorded_run

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

ITERATIONS = 4
API_ITERATIONS = 8
GRACE_SECONDS = 1.5


def looping_workflow(url: str, iterations: int = ITERATIONS) -> str:
    """A monitoring-like loop: `iterations` GETs of `url`, one second apart."""
    return f"""
version: 1
input:
  iterations: {{type: integer, default: {iterations}}}
vars:
  count: 0
start: [check]
tasks:
  check:
    action: http.request
    delay: 1
    input: {{method: GET, url: "{url}", timeout: 10}}
    next:
      - when: $ctx.count + 1 < $ctx.iterations
        publish: {{count: <% $ctx.count + 1 %>}}
        do: check
      - when: $ctx.count + 1 >= $ctx.iterations
        publish: {{count: <% $ctx.count + 1 %>}}
        do: report
  report:
    action: core.echo
    input: done
output:
  count: <% $ctx.count %>
"""


class CountingServer:
    """A local HTTP server answering 200 `{}` and counting the requests."""

    def __init__(self) -> None:
        counter = self
        self.requests = 0
        self.changed = threading.Condition()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with counter.changed:
                    counter.requests += 1
                    counter.changed.notify_all()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_: Any) -> None:
                return

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_port}/health"

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.requests >= count, timeout):
                raise AssertionError(f"only {self.requests} requests, expected {count}")

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer()
    try:
        yield server
    finally:
        server.close()


async def read_trace(database: str, run_id: str) -> list[Any]:
    pool = await open_pool(database)
    try:
        return await trace_page(pool, run_id, 0, 1000)
    finally:
        await pool.close()


def final_trace(loop: BackgroundLoop, database: str, run_id: str) -> list[Any]:
    """The trace once its WORKFLOW_COMPLETED event is stored."""
    deadline = time.monotonic() + 30
    while True:
        events = loop.run(read_trace(database, run_id))
        if events and events[-1].type == "WORKFLOW_COMPLETED":
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"trace never completed: {[(e.type, e.node_id) for e in events]}")
        time.sleep(0.3)


def assert_loop_trace(events: list[Any], iterations: int = ITERATIONS) -> None:
    """Gapless from 1, and every step of the loop exactly as often as it ran."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = Counter((str(e.type), e.node_id) for e in events)
    assert kinds == Counter(
        {
            ("WORKFLOW_STARTED", None): 1,
            ("STARTED", "check"): iterations,
            ("COMPLETED", "check"): iterations,
            # Behaviour 3: both entries of `check`'s `next`, on every lap.
            ("TRANSITION", "check"): 2 * iterations,
            ("STARTED", "report"): 1,
            ("COMPLETED", "report"): 1,
            ("WORKFLOW_COMPLETED", None): 1,
        }
    ), kinds


def test_temporal_restart_mid_run(
    tmp_path: Path,
    postgres_url: str,
    background_loop: BackgroundLoop,
    counting_server: CountingServer,
) -> None:
    port = free_port()
    db_file = tmp_path / "temporal.db"
    server = start_dev_server(db_file=db_file, port=port, log_path=tmp_path / "temporal.log")
    queue = f"faults-temporal-{uuid.uuid4().hex[:8]}"
    worker = start_worker(server.address, queue, postgres_url, tmp_path / "worker.log")
    try:
        text = looping_workflow(counting_server.url)
        handle = background_loop.run(
            start_recorded_run(postgres_url, server.address, queue, "faults_temporal", text)
        )
        counting_server.wait_for(2)
        server.stop()
        time.sleep(2)
        server = start_dev_server(db_file=db_file, port=port, log_path=tmp_path / "temporal.log")

        async def result() -> InterpreterResult:
            client = await connect(server.address)
            fresh = client.get_workflow_handle(
                handle.id, run_id=handle.result_run_id, result_type=InterpreterResult
            )
            finished: InterpreterResult = await fresh.result()
            return finished

        outcome = background_loop.run(result(), timeout=60)
        assert outcome.status == "succeeded"
        assert outcome.output == {"count": ITERATIONS}
        assert worker.poll() is None, "the worker did not survive the outage"
        assert counting_server.requests >= ITERATIONS
        assert_loop_trace(final_trace(background_loop, postgres_url, handle.id))
    finally:
        stop_process(worker)
        server.stop()


class EmbeddedPostgres:
    """A PostgreSQL of this test's own (pgserver), which it may stop and start again."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            from pgserver import _commands
            from pgserver.postgres_server import get_server

        # pg_ctl is generated at import time (it runs as the `pgserver` user under root).
        self._pg_ctl: Any = vars(_commands)["pg_ctl"]
        # A short path: the server's Unix socket lives in it (108-byte limit).
        self.data_dir = tempfile.mkdtemp(prefix="segue-pgf-")
        os.rmdir(self.data_dir)  # pgserver wants to create the directory itself
        self.server = get_server(self.data_dir, cleanup_mode="delete")
        self.url = str(self.server.get_uri())

    def stop(self) -> None:
        self._pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()
        assert str(self.server.get_uri()) == self.url

    def close(self) -> None:
        try:
            self.server.cleanup()
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def test_postgres_outage_mid_run(
    tmp_path: Path,
    temporal_address: str,
    background_loop: BackgroundLoop,
    counting_server: CountingServer,
) -> None:
    postgres = EmbeddedPostgres()
    queue = f"faults-pg-{uuid.uuid4().hex[:8]}"
    worker = api = None
    try:
        text = looping_workflow(counting_server.url)
        handle = background_loop.run(
            start_recorded_run(postgres.url, temporal_address, queue, "faults_pg", text)
        )
        worker = start_worker(temporal_address, queue, postgres.url, tmp_path / "worker.log")
        api_port = free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        api = start_api(api_port, postgres.url, temporal_address, queue, tmp_path / "api.log")
        wait_for_api(api_url, api)
        assert httpx.get(f"{api_url}/runs/{handle.id}", timeout=10).status_code == 200

        counting_server.wait_for(1)
        postgres.stop()
        stopped = time.monotonic()
        answer = httpx.get(f"{api_url}/runs/{handle.id}", timeout=15)
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"] == "STORE_UNAVAILABLE"
        time.sleep(max(0.0, 5 - (time.monotonic() - stopped)))
        postgres.start()

        outcome = background_loop.run(handle.result(), timeout=60)
        assert outcome.status == "succeeded"
        assert outcome.output == {"count": ITERATIONS}
        assert worker.poll() is None
        assert_loop_trace(final_trace(background_loop, postgres.url, handle.id))
        deadline = time.monotonic() + 20
        while True:
            status = httpx.get(f"{api_url}/runs/{handle.id}", timeout=10)
            if status.status_code == 200 and status.json()["status"] == "COMPLETED":
                break
            assert time.monotonic() < deadline, status.text
            time.sleep(0.3)
    finally:
        stop_process(api)
        stop_process(worker)
        postgres.close()


def read_sse(
    url: str, headers: dict[str, str], received: list[dict[str, Any]], stop_after: int | None
) -> bool:
    """Append each SSE event (`id`, parsed `data`) to `received`; True once the run's
    terminal event came, False if the stream ended (or `stop_after` events were read)."""
    event: dict[str, Any] = {}
    count = 0
    try:
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(30, read=30)) as r:
            assert r.status_code == 200, r.read()
            for line in r.iter_lines():
                if line.startswith("id:"):
                    event["id"] = line[3:].strip()
                elif line.startswith("data:"):
                    event["data"] = json.loads(line[5:].strip())
                elif line == "" and "data" in event:
                    received.append(event)
                    count += 1
                    types = {e["type"] for e in event["data"]["events"]}
                    event = {}
                    if "WORKFLOW_COMPLETED" in types:
                        return True
                    if stop_after is not None and count >= stop_after:
                        return False
                elif line == "":
                    event = {}
    except (httpx.RemoteProtocolError, httpx.ReadError):
        pass
    return False


def test_api_restart_under_sse_client(
    tmp_path: Path,
    temporal_address: str,
    postgres_url: str,
    counting_server: CountingServer,
) -> None:
    queue = f"faults-api-{uuid.uuid4().hex[:8]}"
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    api_log = tmp_path / "api.log"
    worker = start_worker(temporal_address, queue, postgres_url, tmp_path / "worker.log")
    api = start_api(port, postgres_url, temporal_address, queue, api_log)
    try:
        wait_for_api(api_url, api)
        name = f"faults_api_{uuid.uuid4().hex[:8]}"
        text = looping_workflow(counting_server.url, API_ITERATIONS)
        answer = httpx.post(
            f"{api_url}/workflows",
            params={"name": name},
            content=text.encode(),
            headers={"Content-Type": "application/yaml"},
            timeout=15,
        )
        assert answer.status_code in (200, 201), answer.text
        answer = httpx.post(f"{api_url}/workflows/{name}/runs", json={"input": {}}, timeout=15)
        assert answer.status_code == 201, answer.text
        run_id = answer.json()["runId"]
        stream_url = f"{api_url}/runs/{run_id}/stream"

        received: list[dict[str, Any]] = []
        done = threading.Event()
        first: list[bool] = []

        def first_stream() -> None:
            first.append(read_sse(stream_url, {}, received, None))
            done.set()

        threading.Thread(target=first_stream, daemon=True).start()
        counting_server.wait_for(2)
        deadline = time.monotonic() + 10
        while len(received) < 3:  # WORKFLOW_STARTED and the first check, at least
            assert time.monotonic() < deadline, f"too few events before the restart: {received}"
            time.sleep(0.05)
        stop_api(api, GRACE_SECONDS)  # like Docker after its grace period
        assert done.wait(10), "the stream did not end with the API"
        assert first == [False], "the run ended before the API went down"
        last_id = received[-1]["id"]

        api = start_api(port, postgres_url, temporal_address, queue, api_log)
        wait_for_api(api_url, api)
        assert read_sse(stream_url, {"Last-Event-ID": last_id}, received, None)

        ids = [event["id"] for event in received]
        assert len(ids) == len(set(ids)), ids
        streamed = [e for event in received for e in event["data"]["events"]]
        stored = httpx.get(
            f"{api_url}/runs/{run_id}/trace", params={"limit": 1000}, timeout=15
        ).json()["events"]
        assert streamed == stored
        assert [int(e["id"]) for e in stored] == list(range(1, len(stored) + 1))
        assert ids == [e["id"] for e in streamed]
        assert stored[-1]["type"] == "WORKFLOW_COMPLETED"
        kinds = Counter((e["type"], e.get("nodeId")) for e in stored)
        assert kinds[("COMPLETED", "check")] == API_ITERATIONS, kinds
        assert received[-1]["data"]["events"][-1]["type"] == "WORKFLOW_COMPLETED"
    finally:
        stop_process(api)
        stop_process(worker)
