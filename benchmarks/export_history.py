"""What an exact export costs (engine/temporal/recorded_attempts.py): a with-items run of
`--items` items, each returning 2 KiB and the last one failing for good, so the run
fails and its trace holds no item results; its attempts are then read back from
Temporal's history `--repeat` times (replayed on the production workflow code).

Prints the run's history length, the time to read the attempts (best and median), the
time to build the case from the trace and those attempts, and the peak RSS growth.

    python benchmarks/export_history.py [--items N] [--repeat R]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import WorkflowFailureError

from benchmarks.bench_support import benchmark_database
from engine.actions.api import ActionContext, ActionDefinition, ActionError
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.language.loader import load_workflow
from engine.simulator.export import RunRecording, executions_to_read, export_case
from engine.store import open_pool, trace_event_json, trace_page
from engine.store.trace import MAX_PAGE_SIZE
from engine.temporal.activities import SegueActivities
from engine.temporal.devserver import start_dev_server
from engine.temporal.recorded_attempts import recorded_attempts
from engine.temporal.store_sink import trace_sink
from engine.temporal.worker import build_worker, connect, store_converter
from tests.support.temporal import start_recorded


def workflow(items: int) -> str:
    return f"""
version: 1
tasks:
  each:
    with:
      items: <% [0..{items - 1}] %>
      concurrency: 50
    action: bench.item
    input: {{item: <% $item %>, last: {items - 1}}}
"""


async def _item(data: Any, context: ActionContext) -> str:
    if data["item"] == data["last"]:
        raise ActionError("bench_failed", "the last item fails")
    return f"{data['item']:06d}" + "x" * 2042


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(args: argparse.Namespace) -> None:
    cleanups: list[Callable[[], None]] = []
    url = benchmark_database(cleanups, print)
    directory = Path(tempfile.mkdtemp(prefix="bench-export-"))
    server = start_dev_server(db_file=directory / "t.db", log_path=directory / "server.log")
    pool = await open_pool(url)
    try:
        # As a worker with the store: a continuation (the item results so far) over
        # Temporal's 2 MiB payload limit travels by reference (claim-check).
        converter, max_result = store_converter(pool)
        client = await connect(server.address, data_converter=converter)
        catalog = ActionCatalog([*builtin_actions(), ActionDefinition("bench.item", _item)])
        activities = SegueActivities(
            catalog, trace_sink=trace_sink(pool), max_result_bytes=max_result
        )
        queue = f"bench-export-{uuid.uuid4().hex[:8]}"
        text = workflow(args.items)
        async with build_worker(client, activities, task_queue=queue):
            began = time.perf_counter()
            handle = await start_recorded(client, pool, queue, "bench-export", text)
            try:
                await handle.result()
                raise AssertionError("the run was meant to fail on its last item")
            except WorkflowFailureError:
                ran = time.perf_counter() - began
        events: list[dict[str, Any]] = []
        after = 0
        while page := await trace_page(pool, handle.id, after, MAX_PAGE_SIZE):
            events.extend(trace_event_json(record) for record in page)
            after = page[-1].seq
        spec = load_workflow(text, "bench.yaml", name="bench-export")
        wanted = executions_to_read(spec, events)
        history = 0
        async for execution in client.list_workflows(f"WorkflowId = '{handle.id}'"):
            described = await client.get_workflow_handle(
                handle.id, run_id=execution.run_id
            ).describe()
            history += described.history_length
        print(f"\n{args.items} items, the run took {ran:.1f} s")
        print(f"  history: {history:,} events; trace: {len(events):,} events")
        rss_before = _rss_mib()
        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            recorded = await recorded_attempts(client, handle.id, wanted)
            times.append(time.perf_counter() - began)
        assert not recorded.missing, recorded.missing
        attempts = sum(len(found) for found in recorded.attempts.values())
        print(
            f"  read {attempts:,} attempts: best {min(times):.2f} s, "
            f"median {statistics.median(times):.2f} s ({args.repeat} reads)"
        )
        recording = RunRecording(
            handle.id, "bench-export", 1, text, "FAILED", {}, None, None, False
        )
        began = time.perf_counter()
        case = export_case(recording, spec, events, recorded)
        built = time.perf_counter() - began
        assert case["inexact"] == [], case["inexact"]
        print(f"  case built in {built:.2f} s: {len(case['mocks']):,} mocks, exact")
        print(f"  peak RSS grew by {_rss_mib() - rss_before:.0f} MiB while reading")
    finally:
        await pool.close()
        server.stop()
        for cleanup in cleanups:
            cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=2000, help="with-items items")
    parser.add_argument("--repeat", type=int, default=3, help="reads of the history")
    asyncio.run(main(parser.parse_args()))
