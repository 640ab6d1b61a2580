"""OpenTelemetry: one trace per run, from the API's `POST …/runs` span through Temporal to
the `traceparent` an `http.request` sends — the run, each task execution and each
attempt a span with the right parent, each exported once although a worker restarts in
the middle of the run and the whole history is replayed afterwards.

The spans go to the SDK's in-memory exporter, installed on the process's tracer provider
as `install_tracing` does for a configured exporter (engine/temporal/otel.py)."""

from __future__ import annotations

import asyncio
import http.server
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Replayer

from api.app import create_app
from api.config import ApiConfig
from engine.actions import egress
from engine.actions.egress import EgressPolicy
from engine.store import StorePool
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.interpreter import Interpreter
from engine.temporal.otel import install_processors, tracing_plugins
from engine.temporal.worker import workflow_runner
from tests.api.conftest import TOKEN, ServedApp, api_catalog, start_api_worker, unique
from tests.support.temporal import BackgroundLoop, wait_for_event

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]

EXPORTER = InMemorySpanExporter()


class _Hook(http.server.BaseHTTPRequestHandler):
    """A loopback service: 503 to the first call, 200 after; keeps each call's headers."""

    calls: list[dict[str, str]] = []

    def do_GET(self) -> None:
        _Hook.calls.append({name.lower(): value for name, value in self.headers.items()})
        status = 503 if len(_Hook.calls) == 1 else 200
        body = b'{"ok": true}'
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module", autouse=True)
def exporter() -> Iterator[InMemorySpanExporter]:
    """The in-memory exporter on the process's provider (one per process, so it stays;
    shut down afterwards, the exporter keeps no spans of the tests that come later)."""
    install_processors("segue-test", [SimpleSpanProcessor(EXPORTER)])
    yield EXPORTER
    EXPORTER.clear()
    EXPORTER.shutdown()


@pytest.fixture(scope="module")
def hook_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    egress.configure(EgressPolicy.from_env({"SEGUE_EGRESS_ALLOW": "127.0.0.1/32"}))
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        egress.configure(None)
        server.shutdown()


def _workflow(url: str) -> str:
    return f"""
version: 1
start: [call]
tasks:
  call:
    action: http.request
    input: {{url: "{url}", expect_status: [200]}}
    retry: {{count: 1, delay: 0.1}}
    next: [{{do: hold}}]
  hold:
    delay: 1.5
    next: [{{do: again}}]
  again:
    action: http.request
    input: {{url: "{url}"}}
"""


def _hex(number: int, digits: int) -> str:
    return format(number, f"0{digits}x")


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, (name, [span.name for span in spans])
    return found[0]


def test_a_run_is_one_trace_from_the_api_to_the_http_request(
    temporal_address: str,
    api_database: str,
    background_loop: BackgroundLoop,
    hook_url: str,
) -> None:
    assert tracing_plugins(), "tracing is on once a provider is installed"
    queue = f"segue-traced-{uuid.uuid4().hex[:8]}"
    name = unique("traced")
    pools: list[StorePool] = []

    def worker() -> Any:
        """A worker (its client connects with the tracing plugin: tracing is on)."""
        pool, running = background_loop.run(start_api_worker(api_database, temporal_address, queue))
        pools.append(pool)
        return running.client, running

    client, first = worker()
    config = ApiConfig(
        database_url=api_database,
        temporal_address=temporal_address,
        task_queue=queue,
        tokens=(TOKEN,),
    )
    served = ServedApp(create_app(config, catalog=api_catalog()))
    served.start()
    api = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        EXPORTER.clear()
        _Hook.calls.clear()
        answer = api.post("/workflows", params={"name": name}, content=_workflow(hook_url).encode())
        assert answer.status_code in (200, 201), answer.text
        started = api.post(f"/workflows/{name}/runs", json={"input": {}})
        assert started.status_code == 201, started.text
        run_id, trace_id = started.json()["runId"], started.json()["traceId"]
        # A worker restart while the run waits in its timer: the next worker replays.
        background_loop.run(
            wait_for_event(client.get_workflow_handle(run_id), EventType.EVENT_TYPE_TIMER_STARTED)
        )
        background_loop.run(first.__aexit__(None, None, None))
        client, second = worker()
        deadline = 60
        for _ in range(deadline * 10):
            status = api.get(f"/runs/{run_id}").json()
            if status["status"] not in ("QUEUED", "RUNNING"):
                break
            background_loop.run(asyncio.sleep(0.1))
        assert status["status"] == "COMPLETED", status
        assert status["traceId"] == trace_id
        history = background_loop.run(client.get_workflow_handle(run_id).fetch_history())
        background_loop.run(second.__aexit__(None, None, None))
    finally:
        api.close()
        served.stop()
        for pool in pools:
            background_loop.run(pool.close())

    spans = list(EXPORTER.get_finished_spans())
    ours = [span for span in spans if _hex(span.context.trace_id, 32) == trace_id]
    assert len({span.context.span_id for span in ours}) == len(ours), "a span came twice"
    post = _one(ours, "POST /workflows/{name}/runs")
    run = _one(ours, f"run {name}")
    call, again = _one(ours, "task call"), _one(ours, "task again")
    _one(ours, "task hold")
    attempts = sorted(
        (span for span in ours if span.name == "attempt call"), key=lambda s: s.start_time or 0
    )
    assert post.parent is None
    assert run.parent is not None and run.parent.span_id == post.context.span_id
    for task in (call, again):
        assert task.parent is not None and task.parent.span_id == run.context.span_id
    assert [span.attributes["segue.attempt"] for span in attempts if span.attributes] == [1, 2]
    # Started again in the replay after the restart, the run's and the first task's spans
    # keep the start they had in the history (before the attempts, before the restart).
    for replayed in (run, call):
        assert (replayed.start_time or 0) <= (attempts[0].start_time or 0), replayed.name
    for attempt in attempts:
        assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
    # The service saw each attempt's own span as the parent of its request.
    expected = [f"00-{trace_id}-{_hex(span.context.span_id, 16)}-01" for span in attempts]
    assert [call_["traceparent"] for call_ in _Hook.calls[:2]] == expected
    assert len(_Hook.calls) == 3 and _Hook.calls[2]["traceparent"].startswith(f"00-{trace_id}-")

    # One more replay of the whole history exports nothing.
    before = len(EXPORTER.get_finished_spans())
    replayer = Replayer(
        workflows=[Interpreter],
        workflow_runner=workflow_runner(),
        data_converter=DATA_CONVERTER,
        plugins=tracing_plugins(),
    )
    assert background_loop.run(replayer.replay_workflow(history)).replay_failure is None
    assert len(EXPORTER.get_finished_spans()) == before
    # A worker without tracing replays a traced run too (the headers change no command).
    untraced = Replayer(
        workflows=[Interpreter], workflow_runner=workflow_runner(), data_converter=DATA_CONVERTER
    )
    assert background_loop.run(untraced.replay_workflow(history)).replay_failure is None


def test_a_child_runs_span_is_a_child_of_its_parent_tasks_span(
    temporal_address: str, api_database: str, background_loop: BackgroundLoop
) -> None:
    """A `workflow:` task's child run is one more level of the parent's trace: the child's
    run span hangs under the task execution that started it, and its tasks under it."""
    queue = f"segue-traced-{uuid.uuid4().hex[:8]}"
    child, parent = unique("traced-child"), unique("traced-parent")
    pool, running = background_loop.run(start_api_worker(api_database, temporal_address, queue))
    config = ApiConfig(
        database_url=api_database,
        temporal_address=temporal_address,
        task_queue=queue,
        tokens=(TOKEN,),
    )
    served = ServedApp(create_app(config, catalog=api_catalog()))
    served.start()
    api = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        EXPORTER.clear()
        texts = {
            child: "version: 1\ntasks:\n  inner:\n    action: core.echo\n    input: {a: 1}\n",
            parent: f"version: 1\ntasks:\n  sub:\n    workflow: {child}\n",
        }
        for name, text in texts.items():
            answer = api.post("/workflows", params={"name": name}, content=text.encode())
            assert answer.status_code in (200, 201), answer.text
        started = api.post(f"/workflows/{parent}/runs", json={"input": {}})
        assert started.status_code == 201, started.text
        run_id, trace_id = started.json()["runId"], started.json()["traceId"]
        for _ in range(600):
            status = api.get(f"/runs/{run_id}").json()
            if status["status"] not in ("QUEUED", "RUNNING"):
                break
            background_loop.run(asyncio.sleep(0.1))
        assert status["status"] == "COMPLETED", status
    finally:
        api.close()
        served.stop()
        background_loop.run(running.__aexit__(None, None, None))
        background_loop.run(pool.close())

    ours = [s for s in EXPORTER.get_finished_spans() if _hex(s.context.trace_id, 32) == trace_id]
    parent_run, sub = _one(ours, f"run {parent}"), _one(ours, "task sub")
    child_run, inner = _one(ours, f"run {child}"), _one(ours, "task inner")
    assert sub.parent is not None and sub.parent.span_id == parent_run.context.span_id
    assert child_run.parent is not None and child_run.parent.span_id == sub.context.span_id
    assert inner.parent is not None and inner.parent.span_id == child_run.context.span_id
    assert (child_run.attributes or {}).get("segue.run_id", "").startswith(f"{run_id}.sub.")
