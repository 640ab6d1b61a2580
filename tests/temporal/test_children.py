"""Child runs end with their parent's decision (engine/temporal/children.py): cancelling
or timing out the parent cancels the child — Temporal records it CANCELED, never
TERMINATED — and waits for it; a child's own `timeout` fails its task as `timeout`."""

from __future__ import annotations

import time
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.support.temporal import BackgroundLoop
from tests.temporal.test_runs import outcome, start_run, worker

pytestmark = pytest.mark.temporal
__all__ = ["worker"]  # the fixture, shared with test_runs

PARENT = """
version: 1
{timeout}
tasks:
  child:
    workflow: child-sleeper
    input: {{seconds: 30}}
    {task_timeout}
"""


def _child_status(background_loop: BackgroundLoop, client: Client, child_id: str) -> Any:
    async def status() -> Any:
        return (await client.get_workflow_handle(child_id).describe()).status

    return background_loop.run(status())


def _wait_for_child(background_loop: BackgroundLoop, client: Client, child_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if _child_status(background_loop, client, child_id) is not None:
                return
        except Exception:  # not started yet: describe answers "not found"
            pass
        time.sleep(0.2)
    raise AssertionError(f"the child {child_id} never started")


def test_cancelling_a_parent_cancels_its_child(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    client, _ = worker
    handle = start_run(background_loop, worker, PARENT.format(timeout="", task_timeout=""))
    child_id = f"{handle.id}.child.1.0.1"
    _wait_for_child(background_loop, client, child_id)
    background_loop.run(handle.cancel())
    assert outcome(background_loop, handle) == {"status": "canceled-by-temporal"}
    assert _child_status(background_loop, client, child_id) is WorkflowExecutionStatus.CANCELED


def test_a_run_timeout_cancels_the_child_too(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    client, _ = worker
    text = PARENT.format(timeout="timeout: 2", task_timeout="")
    handle = start_run(background_loop, worker, text)
    result = outcome(background_loop, handle)
    assert result["status"] == "failed"
    assert "timeout" in {error["type"] for error in result["errors"]}
    child_id = f"{handle.id}.child.1.0.1"
    assert _child_status(background_loop, client, child_id) is WorkflowExecutionStatus.CANCELED


def test_a_child_timeout_is_a_timeout(
    background_loop: BackgroundLoop, worker: tuple[Client, str]
) -> None:
    text = PARENT.format(timeout="", task_timeout="timeout: 1")
    result = outcome(background_loop, start_run(background_loop, worker, text))
    assert result["status"] == "failed"
    assert [(e["type"], e.get("task")) for e in result["errors"]] == [("timeout", "child")]
