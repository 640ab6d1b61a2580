"""Fixtures for tests against the real Temporal dev server (never a fake).

One dev server per test session (or SEGUE_TEMPORAL_ADDRESS), and one background event
loop in a thread, so that workers keep polling between tests while each test submits
its coroutines with `loop.run(...)`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from engine.temporal.devserver import DevServer, start_dev_server
from engine.temporal.types import INTERPRETER_WORKFLOW, InterpreterInput, InterpreterResult

T = TypeVar("T")


class BackgroundLoop:
    """An asyncio loop running in its own thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a running Temporal dev server."""
    given = os.environ.get("SEGUE_TEMPORAL_ADDRESS")
    if given:
        yield given
        return
    directory: Path = tmp_path_factory.mktemp("temporal")
    server: DevServer = start_dev_server(
        db_file=directory / "temporal.db", log_path=directory / "server.log"
    )
    try:
        yield server.address
    finally:
        server.stop()


# The history length at which `small_history_server` suggests continue-as-new (the
# default is 4,096), so that a test loop of a few hundred steps continues several times.
SUGGEST_CONTINUE_AS_NEW_AFTER = 150


@pytest.fixture(scope="session")
def small_history_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dev server of its own that suggests continue-as-new after 150 history events."""
    directory: Path = tmp_path_factory.mktemp("temporal-small-history")
    server = start_dev_server(
        db_file=directory / "temporal.db",
        log_path=directory / "server.log",
        extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_CONTINUE_AS_NEW_AFTER}",
        ],
    )
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="session")
def background_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    try:
        yield loop
    finally:
        loop.close()


@contextmanager
def running_worker(
    loop: BackgroundLoop, address: str, activities: Any, prefix: str
) -> Iterator[tuple[Client, str]]:
    """A Segue worker (`build_worker`) on a fresh task queue, polling in `loop` until the
    block ends: (client, task queue)."""
    from engine.temporal.worker import build_worker, connect

    async def start() -> tuple[Client, str, Any]:
        client = await connect(address)
        queue = f"{prefix}-{uuid.uuid4().hex[:8]}"
        running = build_worker(client, activities, task_queue=queue)
        await running.__aenter__()
        return client, queue, running

    client, queue, running = loop.run(start())
    try:
        yield client, queue
    finally:
        loop.run(running.__aexit__(None, None, None))


async def start_interpreter(
    client: Client,
    queue: str,
    text: str,
    run_input: dict[str, Any] | None = None,
    *,
    name: str = "test",
    version: str = "1",
    trace: bool = False,
    run_id: str | None = None,
) -> WorkflowHandle[Any, InterpreterResult]:
    """Start one run of the interpreter workflow on `queue`."""
    run_id = run_id or f"{name}-{uuid.uuid4().hex[:10]}"
    params = InterpreterInput(run_id, name, version, text, run_input or {}, queue, trace=trace)
    return await client.start_workflow(
        INTERPRETER_WORKFLOW, params, id=run_id, task_queue=queue, result_type=InterpreterResult
    )


async def history_lengths(client: Client, workflow_id: str) -> list[int]:
    """The history length of every run (continue-as-new chain) of a workflow id."""
    lengths = []
    async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = client.get_workflow_handle(workflow_id, run_id=execution.run_id)
        lengths.append((await handle.describe()).history_length)
    return lengths


async def record_run(
    pool: Any, name: str, text: str, queue: str, run_id: str | None = None
) -> InterpreterInput:
    """As the API does before starting a run: register the version and record the run;
    the interpreter input to start it with (trace on)."""
    from engine.language.loader import load_workflow
    from engine.store import NewRun, create_run, register_workflow_version

    spec = load_workflow(text, f"{name}.yaml", name=name)
    version = await register_workflow_version(pool, name, text, spec.content_hash)
    run_id = run_id or f"{name}-{uuid.uuid4().hex[:8]}"
    await create_run(
        pool,
        NewRun(
            run_id=run_id, workflow_name=name, workflow_version=version.version, task_queue=queue
        ),
    )
    return InterpreterInput(run_id, name, str(version.version), text, {}, queue)


async def start_recorded(
    client: Client, pool: Any, queue: str, name: str, text: str, run_id: str | None = None
) -> WorkflowHandle[Any, InterpreterResult]:
    """Record the run in the store as the API does (`record_run`), then start its
    interpreter workflow on Temporal with the trace on."""
    params = await record_run(pool, name, text, queue, run_id)
    return await client.start_workflow(
        INTERPRETER_WORKFLOW,
        params,
        id=params.run_id,
        task_queue=queue,
        result_type=InterpreterResult,
    )


async def start_recorded_run(
    database: str, address: str, queue: str, name: str, text: str, run_id: str | None = None
) -> WorkflowHandle[Any, InterpreterResult]:
    """`start_recorded` with a pool and a client of its own."""
    from engine.store import open_pool
    from engine.temporal.worker import connect

    pool = await open_pool(database)
    try:
        return await start_recorded(await connect(address), pool, queue, name, text, run_id)
    finally:
        await pool.close()


async def wait_for_event(
    handle: WorkflowHandle[Any, Any], event_type: EventType.ValueType, seconds: float = 30
) -> None:
    """Wait until the run's history holds an event of this type (e.g. its timer started)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        async for event in handle.fetch_history_events():
            if event.event_type == event_type:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {EventType.Name(event_type)} in the run's history")
