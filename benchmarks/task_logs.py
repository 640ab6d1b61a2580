"""What task logging costs an action attempt: 10,000 lines in one task, through the real
action activity (`segue.run_action`, in Temporal's ActivityEnvironment: no server, no
signals) with and without the PostgreSQL log writer (engine/temporal/task_logs.py).

Two actions: a Python action calling `ctx.log` 10,000 times in a loop, and `shell.run`
of a program printing 10,000 lines (streamed line by line). Each case runs 5 times;
the median attempt time is reported, the writer's final flush included (an attempt
returns only once its lines are stored). A third row: 1,000,000 lines from `shell.run`
(the attempt keeps 20,000; the rest are counted).

    python benchmarks/task_logs.py          # about 30 s
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.testing import ActivityEnvironment

from benchmarks.bench_support import benchmark_database
from engine.actions.api import ActionContext, ActionDefinition
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.store import (
    NewRun,
    RunStatus,
    create_run,
    log_page,
    open_pool,
    register_workflow_version,
)
from engine.temporal.activities import SegueActivities
from engine.temporal.store_sink import StoreTaskLogs
from engine.temporal.types import ActionRequest

LINES = 10_000
REPEATS = 5


def _chatty(input: Any, context: ActionContext) -> int:
    for n in range(input["lines"]):
        context.log("info", f"line {n} of the loop", n=n)
    return int(input["lines"])


def _printing(lines: int) -> dict[str, Any]:
    script = f"import sys\nsys.stdout.write(''.join(f'line {{i}}\\n' for i in range({lines})))"
    return {"argv": [sys.executable, "-c", script], "timeout": 300}


async def _attempt(activities: SegueActivities, run_id: str, action: str, input: Any) -> float:
    request = ActionRequest(
        run_id=run_id,
        workflow="bench",
        task="t",
        iteration=1,
        route=0,
        attempt=1,
        execution=int(uuid.uuid4().int % 1_000_000),
        action=action,
        input=input,
    )
    began = time.perf_counter()
    await ActivityEnvironment().run(activities.run_action, request)
    return time.perf_counter() - began


async def main() -> None:
    cleanups: list[Callable[[], None]] = []
    url = benchmark_database(cleanups, print)
    try:
        pool = await open_pool(url)
        version = await register_workflow_version(pool, "bench", "tasks: {}\n", "0" * 64)
        catalog = ActionCatalog(
            [*builtin_actions(allow_shell=True), ActionDefinition("bench.chatty", _chatty)]
        )
        without = SegueActivities(catalog)
        with_logs = SegueActivities(catalog, task_logs=StoreTaskLogs(pool))
        cases = [
            (f"ctx.log x {LINES:,}", "bench.chatty", {"lines": LINES}),
            (f"shell.run, {LINES:,} lines", "shell.run", _printing(LINES)),
            ("shell.run, 1,000,000 lines", "shell.run", _printing(1_000_000)),
        ]
        print(f"{'case':<28} {'no store':>10} {'logged':>10} {'overhead':>10} {'rows':>7}")
        for label, action, input in cases:
            times: dict[str, list[float]] = {"off": [], "on": []}
            rows = 0
            for _ in range(REPEATS):
                run_id = f"bench-{uuid.uuid4().hex[:10]}"
                await create_run(
                    pool,
                    NewRun(
                        run_id=run_id,
                        workflow_name="bench",
                        workflow_version=version.version,
                        task_queue="bench",
                        status=RunStatus.RUNNING,
                    ),
                )
                times["off"].append(await _attempt(without, run_id, action, input))
                times["on"].append(await _attempt(with_logs, run_id, action, input))
                after = 0
                rows = 0
                while page := await log_page(pool, run_id, after, 1000):
                    rows += len(page)
                    after = page[-1].run_seq
            off, on = statistics.median(times["off"]), statistics.median(times["on"])
            print(
                f"{label:<28} {off * 1000:>8.0f}ms {on * 1000:>8.0f}ms "
                f"{(on - off) * 1000:>8.0f}ms {rows:>7,}"
            )
        await pool.close()
    finally:
        for cleanup in cleanups:
            cleanup()


if __name__ == "__main__":
    asyncio.run(main())
