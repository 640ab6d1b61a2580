"""A worker's /metrics: Segue's run metrics beside Temporal's own, counted once — a
replay of the same history on the same runtime adds nothing (engine/temporal/metrics.py)."""

from __future__ import annotations

import contextlib
import re
import socket
import uuid
from typing import Any

import httpx
import pytest
from temporalio.worker import Replayer

from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.temporal.activities import SegueActivities
from engine.temporal.codec import converter_from_env
from engine.temporal.interpreter import Interpreter
from engine.temporal.metrics import prometheus_runtime
from engine.temporal.types import INTERPRETER_WORKFLOW, InterpreterInput, InterpreterResult
from engine.temporal.worker import build_worker, connect, workflow_runner
from tests.support.temporal import BackgroundLoop

pytestmark = pytest.mark.temporal

WORKFLOW = """
version: 1
vars: {n: 0}
start: [count]
tasks:
  count:
    action: core.echo
    input: <% $ctx.n %>
    max_iterations: 3
    next:
      - {when: $ctx.n < 5, publish: {n: <% $ctx.n + 1 %>}, do: count}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _samples(text: str, name: str, ours: str = 'workflow="metered"') -> dict[str, float]:
    """`{labels: value}` of every sample of metric `name` whose labels include `ours`."""
    found = {}
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} ([0-9.e+-]+)$", line)
        if match and ours in match[1]:
            found[match[1]] = float(match[2])
    return found


def _by(samples: dict[str, float], label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for labels, value in samples.items():
        found = re.search(rf'{label}="([^"]*)"', labels)
        key = found[1] if found else ""
        out[key] = out.get(key, 0.0) + value
    return out


def test_run_metrics_are_counted_once_and_not_again_on_replay(
    temporal_address: str, background_loop: BackgroundLoop
) -> None:
    address = f"127.0.0.1:{_free_port()}"
    runtime = prometheus_runtime(address)
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    run_id = f"metered-{uuid.uuid4().hex[:8]}"

    async def run() -> Any:
        client = await connect(temporal_address, runtime=runtime)
        activities = SegueActivities(ActionCatalog(builtin_actions()))
        async with build_worker(client, activities, task_queue=queue):
            params = InterpreterInput(run_id, "metered", "1", WORKFLOW, {}, queue, trace=False)
            handle = await client.start_workflow(
                INTERPRETER_WORKFLOW,
                params,
                id=run_id,
                task_queue=queue,
                result_type=InterpreterResult,
            )
            # The cap fails the run: that is one of the metrics.
            with contextlib.suppress(Exception):
                await handle.result()
            return await handle.fetch_history()

    history = background_loop.run(run(), 60)
    scraped = httpx.get(f"http://{address}/metrics", timeout=10).text
    assert _by(_samples(scraped, "segue_runs_started_total"), "workflow") == {"metered": 1}
    assert _by(_samples(scraped, "segue_runs_finished_total"), "status") == {"failed": 1}
    executions = _by(_samples(scraped, "segue_task_executions_total"), "status")
    assert executions == {"succeeded": 3}
    assert _by(_samples(scraped, "segue_iteration_cap_hits_total"), "task") == {"count": 1}
    assert "temporal_workflow_completed" in scraped or "temporal_workflow_failed" in scraped

    replayer = Replayer(
        workflows=[Interpreter],
        workflow_runner=workflow_runner(),
        data_converter=converter_from_env(),
        runtime=runtime,
    )
    replayed = background_loop.run(replayer.replay_workflow(history))
    assert replayed.replay_failure is None
    again = httpx.get(f"http://{address}/metrics", timeout=10).text
    for name in ("segue_runs_started_total", "segue_runs_finished_total"):
        assert _samples(again, name) == _samples(scraped, name), name
    assert _samples(again, "segue_task_executions_total") == _samples(
        scraped, "segue_task_executions_total"
    )
