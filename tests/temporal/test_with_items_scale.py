"""With-items over thousands of items: bounded in flight, continuing as new as needed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.temporal.activities import SegueActivities
from engine.temporal.devserver import start_dev_server
from engine.temporal.types import InterpreterResult
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop, start_interpreter
from tests.temporal.test_runs import TEST_ACTIONS

pytestmark = pytest.mark.temporal


def items_workflow(count: int) -> str:
    return f"""
version: 1
tasks:
  each:
    with:
      items: <% [1..{count}] %>
      concurrency: 1000
    action: test.health
    input: {{after: 0}}
    next:
      - publish:
          n: <% $count($result) %>
          ok: <% $count($result[status = 200]) %>
output:
  n: <% $ctx.n %>
  ok: <% $ctx.ok %>
"""


@pytest.fixture(scope="module")
def early_continue_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("temporal-items")
    server = start_dev_server(
        db_file=directory / "t.db",
        extra_args=["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=1000"],
    )
    try:
        yield server.address
    finally:
        server.stop()


def _run(
    address: str, count: int, background_loop: BackgroundLoop, timeout: float
) -> InterpreterResult:
    async def scenario() -> InterpreterResult:
        client = await connect(address)
        queue = f"items-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(ActionCatalog([*builtin_actions(), *TEST_ACTIONS]))
        async with build_worker(
            client, activities, task_queue=queue, max_concurrent_activities=500
        ):
            handle = await start_interpreter(client, queue, items_workflow(count), name="items")
            return await handle.result()

    return background_loop.run(scenario(), timeout=timeout)


def test_two_thousand_items_continue_as_new_midway(
    early_continue_server: str, background_loop: BackgroundLoop
) -> None:
    result = _run(early_continue_server, 2000, background_loop, timeout=300)
    assert result.status == "succeeded"
    assert result.output == {"n": 2000, "ok": 2000}
    assert result.continued >= 1  # how often depends on timing


@pytest.mark.slow
def test_ten_thousand_items(temporal_address: str, background_loop: BackgroundLoop) -> None:
    result = _run(temporal_address, 10_000, background_loop, timeout=900)
    assert result.status == "succeeded"
    assert result.output == {"n": 10_000, "ok": 10_000}
