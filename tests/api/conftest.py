"""One API for the whole `tests/api` package: the real app served by uvicorn on a loopback
port (in a thread, with its own event loop), a real worker on the background loop, the
real Temporal dev server and a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar

from api.app import create_app
from api.config import ApiConfig
from api.http_server import ServerLimits, server_config
from engine.actions.api import ActionContext, ActionDefinition, ActionError
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.store import StorePool, open_pool
from engine.temporal.activities import SegueActivities
from engine.temporal.store_sink import StoreTaskLogs, trace_sink, workflow_lookup
from engine.temporal.worker import build_worker, connect, store_converter
from tests.support.postgres import temporary_database
from tests.support.temporal import BackgroundLoop

TOKEN = "test-token-1-0123456789abcdef0123456789"
OTHER_TOKEN = "test-token-2-0123456789abcdef0123456789"
EVENT_KEYS = {"order.paid": "order.id"}
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TERMINATED", "TIMED_OUT"}


async def _slow(data: Any, context: ActionContext) -> str:
    await asyncio.sleep(float(data["seconds"]))
    return "slept"


async def _timed(data: Any, context: ActionContext) -> dict[str, float]:
    """Sleeps, and says when it ran (wall clock): overlap shows in what two runs return."""
    started = time.time()
    await asyncio.sleep(float(data["seconds"]))
    return {"started": started, "ended": time.time()}


# Gates `test.gate` lets through; a closed gate fails the action (a fault a test can fix).
OPEN_GATES: set[str] = set()


async def _gate(data: Any, context: ActionContext) -> dict[str, Any]:
    gate = str(data["gate"])
    if gate not in OPEN_GATES:
        raise ActionError("gate_closed", f"gate {gate!r} is closed")
    return {"gate": gate, "passed": True}


async def _login(data: Any, context: ActionContext) -> dict[str, Any]:
    context.log("info", f"logging in as {data['user']} with {data['password']}")
    return {"user": data["user"], "session": f"session-of-{data['user']}-{data['password']}"}


async def _report(data: Any, context: ActionContext) -> dict[str, Any]:
    """Reports a log line, progress and two artifacts, then holds `hold` seconds."""
    context.log("info", "scanning", hold=data["hold"])
    context.progress(89, 127, "scanned 89/127")
    context.artifact("report.json", json.dumps({"scanned": 127}).encode())
    context.artifact("bytes.bin", bytes(range(256)) * 4)
    await asyncio.sleep(float(data["hold"]))
    return {"scanned": 127}


async def _blob(data: Any, context: ActionContext) -> str:
    """`bytes` characters: a result large enough to travel by reference (claim-check)."""
    return str(data.get("seed", "")) + "x" * int(data["bytes"])


TEST_ACTIONS = [
    ActionDefinition("test.blob", _blob),
    ActionDefinition("test.slow", _slow),
    ActionDefinition("test.timed", _timed),
    ActionDefinition("test.gate", _gate),
    # A login: its password and the session it returns are secrets (issue 12).
    ActionDefinition("test.login", _login, secret_input=("password",), secret_result=("session",)),
    ActionDefinition("test.report", _report),
]


def api_catalog() -> ActionCatalog:
    return ActionCatalog([*builtin_actions(allow_shell=True), *TEST_ACTIONS])


class ServedApp:
    """A Litestar app served by uvicorn on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, app: Litestar, limits: ServerLimits | None = None) -> None:
        # Port 0: the kernel picks a free port; read back once the server listens. (A
        # socket bound here and handed over made every keep-alive request wait ~40 ms.)
        config = server_config(app, "127.0.0.1", 0, limits=limits, log_level="warning")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(15)


@dataclass
class Harness:
    url: str
    client: httpx.Client  # authenticated
    database_url: str
    temporal_address: str
    task_queue: str
    loop: BackgroundLoop
    worker_pool: StorePool

    def register(self, name: str, yaml_text: str) -> dict[str, Any]:
        answer = self.client.post("/workflows", params={"name": name}, content=yaml_text.encode())
        assert answer.status_code in (200, 201), answer.text
        body: dict[str, Any] = answer.json()
        return body

    def start(self, name: str, run_input: dict[str, Any] | None = None, **kw: Any) -> str:
        answer = self.client.post(f"/workflows/{name}/runs", json={"input": run_input or {}}, **kw)
        assert answer.status_code == 201, answer.text
        run_id: str = answer.json()["runId"]
        return run_id

    def wait_for(
        self,
        run_id: str,
        predicate: Callable[[dict[str, Any]], bool] = lambda s: s["status"] in TERMINAL,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Poll GET /runs/{id} until the predicate holds; the last status payload."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.client.get(f"/runs/{run_id}")
            assert answer.status_code == 200, answer.text
            status: dict[str, Any] = answer.json()
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} never got there: {status}")
            time.sleep(0.1)

    def trace(self, run_id: str) -> list[dict[str, Any]]:
        answer = self.client.get(f"/runs/{run_id}/trace", params={"limit": 1000})
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()["events"]
        return events

    def wait_for_event(
        self, run_id: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.trace(run_id):
                if predicate(event):
                    return event
            time.sleep(0.1)
        raise AssertionError(f"no such trace event in run {run_id}: {self.trace(run_id)}")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def start_api_worker(database: str, address: str, queue: str) -> tuple[StorePool, Any]:
    """A running worker as the API's tests use it (its pool, and the worker to stop)."""
    pool = await open_pool(database)
    # As `segue worker` with a database: large payloads by reference, as the API sends them.
    converter, max_result = store_converter(pool)
    client = await connect(address, data_converter=converter)
    activities = SegueActivities(
        api_catalog(),
        trace_sink=trace_sink(pool),
        workflow_lookup=workflow_lookup(pool),
        task_logs=StoreTaskLogs(pool),
        limit_store=pool,
        max_result_bytes=max_result,
    )
    worker = build_worker(client, activities, task_queue=queue)
    await worker.__aenter__()
    return pool, worker


@pytest.fixture(scope="package")
def api_database(postgres_server_url: str) -> Iterator[str]:
    with temporary_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="package")
def harness(
    temporal_address: str, api_database: str, background_loop: BackgroundLoop
) -> Iterator[Harness]:
    queue = f"segue-api-{uuid.uuid4().hex[:8]}"

    pool, worker = background_loop.run(start_api_worker(api_database, temporal_address, queue))
    config = ApiConfig(
        database_url=api_database,
        temporal_address=temporal_address,
        task_queue=queue,
        tokens=(TOKEN, OTHER_TOKEN),
        event_keys=EVENT_KEYS,
        max_body_bytes=256 * 1024,
        # Off: the package's tests show what reads reconcile; tests/api/test_run_sweep.py
        # starts sweepers of its own.
        reconcile_seconds=0,
    )
    served = ServedApp(create_app(config, catalog=api_catalog()))
    served.start()
    client = httpx.Client(
        base_url=served.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    try:
        yield Harness(
            served.url, client, api_database, temporal_address, queue, background_loop, pool
        )
    finally:
        client.close()
        served.stop()

        async def stop_worker() -> None:
            await worker.__aexit__(None, None, None)
            await pool.close()

        background_loop.run(stop_worker())
