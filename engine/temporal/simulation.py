"""`segue simulate --temporal`: the same case through the real interpreter workflow and
worker on a real Temporal server, with the mocks served as the action results."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from engine.actions.catalog import ActionCatalog
from engine.language.spec import WorkflowSpec
from engine.simulator.waves import VIRTUAL_EPOCH_MS
from engine.temporal.activities import SegueActivities
from engine.temporal.devserver import start_dev_server
from engine.temporal.types import INTERPRETER_WORKFLOW, InterpreterInput, InterpreterResult
from engine.temporal.worker import build_worker, connect


@asynccontextmanager
async def simulation_worker(address: str | None = None) -> AsyncIterator[tuple[Client, str]]:
    """A client and a worker on a private task queue; a dev server if no address is known."""
    server = None
    address = address or os.environ.get("SEGUE_TEMPORAL_ADDRESS")
    if address is None:
        server = start_dev_server()
        address = server.address
    try:
        client = await connect(address)
        task_queue = f"segue-simulate-{uuid.uuid4().hex[:12]}"
        activities = SegueActivities(ActionCatalog.from_environment())
        async with build_worker(client, activities, task_queue=task_queue):
            yield client, task_queue
    finally:
        if server is not None:
            server.stop()


async def simulate_on_temporal(
    client: Client,
    task_queue: str,
    spec: WorkflowSpec,
    yaml_text: str,
    run_input: dict[str, Any],
    mocks: list[dict[str, Any]],
) -> dict[str, Any]:
    """Run one case; the outcome in `segue simulate --json`'s shape."""
    run_id = f"simulation-{uuid.uuid4().hex[:12]}"
    params = InterpreterInput(
        run_id=run_id,
        workflow=spec.name or "workflow",
        version=spec.content_hash or "local",
        yaml=yaml_text,
        input=run_input,
        task_queue=task_queue,
        started_at_ms=VIRTUAL_EPOCH_MS,
        trace=False,
        mocks=mocks,
    )
    handle = await client.start_workflow(
        INTERPRETER_WORKFLOW,
        params,
        id=run_id,
        task_queue=task_queue,
        result_type=InterpreterResult,
    )
    try:
        result: InterpreterResult | dict[str, Any] = await handle.result()
    except WorkflowFailureError as failure:
        cause = failure.cause
        if not (isinstance(cause, ApplicationError) and cause.details):
            raise
        result = cause.details[0]
    data = asdict(result) if isinstance(result, InterpreterResult) else dict(result)
    return {
        "status": data["status"],
        "output": data["output"],
        "errors": data["errors"],
        "sequence": [
            {"task": task, "iteration": iteration, "route": route, "status": status}
            for task, iteration, route, status in data.get("sequence") or []
        ],
    }
