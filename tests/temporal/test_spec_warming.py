"""A run's workflow is compiled before its first workflow task, outside the 2 s the SDK
gives an activation (engine/temporal/spec_warmer.py): by the worker's payload codec, in
a thread of its own, while the activation's payloads are decoded. Without the warming
codec the same compile runs in the workflow's own thread (the control)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.language.loader import load_workflow
from engine.temporal import compiled
from engine.temporal.activities import SegueActivities
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.spec_warmer import WARM_FROM_BYTES, with_spec_warming
from engine.temporal.worker import build_worker, connect
from tests.support.temporal import BackgroundLoop, start_interpreter

pytestmark = pytest.mark.temporal

WORKFLOW_THREAD = "temporal_workflow_"


def large_workflow(tasks: int) -> str:
    """`tasks` echo tasks with an expression each; only the first runs."""
    lines = ["version: 1", "start: [t0]", "tasks:"]
    for task in range(tasks):
        lines += [f"  t{task}:", "    action: core.echo", f"    input: {{v: <% {task} + 1 %>}}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("warming", "compiled_in_workflow_thread"), [(True, 0), (False, 1)])
def test_the_workflow_is_compiled_before_its_first_workflow_task(
    temporal_address: str,
    background_loop: BackgroundLoop,
    monkeypatch: pytest.MonkeyPatch,
    warming: bool,
    compiled_in_workflow_thread: int,
) -> None:
    text = large_workflow(400)
    assert len(text.encode()) > WARM_FROM_BYTES
    threads: list[str] = []
    load = load_workflow

    def recording_load(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return load(*args, **kwargs)

    monkeypatch.setattr(compiled, "load_workflow", recording_load)

    async def scenario() -> str:
        converter = with_spec_warming(DATA_CONVERTER) if warming else DATA_CONVERTER
        client = await connect(temporal_address, data_converter=converter)
        queue = f"warming-{uuid.uuid4().hex[:8]}"
        activities = SegueActivities(ActionCatalog(builtin_actions()))
        async with build_worker(client, activities, task_queue=queue):
            # A name of its own: the process's cache has never seen this version.
            handle = await start_interpreter(client, queue, text, name=f"w{uuid.uuid4().hex}")
            return (await handle.result()).status

    assert background_loop.run(scenario(), timeout=120) == "succeeded"
    assert len(threads) == 1, threads  # compiled once
    in_workflow = sum(name.startswith(WORKFLOW_THREAD) for name in threads)
    assert in_workflow == compiled_in_workflow_thread, threads
