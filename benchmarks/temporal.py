"""Segue on Temporal vs hand-written Temporal workflows, on the same dev server.

Wall-clock time from `start_workflow` to the result, for:

1. chain: 100 trivial activities in sequence (a hand-written workflow) vs Segue
   interpreting a chain of 100 `bench.step` tasks;
2. fan-out: one activity, 200 activities at once gathered, one more activity (the join)
   vs Segue's `split` -> 200 tasks -> a `join: all` task (all on `bench.step`);
3. native: Segue chains of 100 pass-through tasks and of 100 `core.noop` tasks, whose
   per-task cost is compared with the 100-activity chain of scenario 1;
4. local: the hand-written chain of 100 ordinary activities vs Segue's chain of 100
   `bench.step` tasks run as local activities (`run: local`), target at least 3x faster.

Segue runs twice per scenario: trace off, and trace written to a real PostgreSQL; the
chain and the fan-out also run with the trace local activity but a sink that writes
nothing ("no-op sink"), to separate the local activity's cost from PostgreSQL's. Each
variant gets one warm-up run, then `--repeat` runs, interleaved and rotated (A B C,
B C A, C A B, ...) so machine noise hits every variant alike; the median is reported.
After each run the Temporal history is fetched (outside the timing) to count events,
workflow tasks and local-activity markers and to split the time into phases.

    python benchmarks/temporal.py               # about 2.5-4 minutes on 2 cores
    python benchmarks/temporal.py --quick       # 1 repetition
    python benchmarks/temporal.py --json        # JSON rows instead of the table
    python benchmarks/temporal.py --only fan-out  # one scenario (repeatable)
    python benchmarks/temporal.py --only local --no-trace  # local activities vs activities
    python benchmarks/temporal.py --timers      # also: how long short timers take
    python benchmarks/temporal.py --profile     # also: replay the histories (worker CPU
                                                # per workflow task), cProfile them, time
                                                # the activity bodies, and run a
                                                # hand-written chain with Segue's
                                                # activity options

A Temporal dev server is started (SQLite file in a temporary directory) unless
SEGUE_TEMPORAL_ADDRESS is set. The trace database is SEGUE_DATABASE_URL, else a
temporary database created on postgresql://postgres@127.0.0.1:5432/postgres and dropped
at the end; `--no-trace` skips the traced variants.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bench_support import benchmark_database, chain_workflow, fan_out_workflow
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import argparse
    import json
    import os
    import shutil
    import statistics
    import sys
    import tempfile
    import time
    import uuid
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    if not workflow.unsafe.in_sandbox():  # the sandbox re-imports this file
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CONCURRENCY = 256  # max concurrent activities (and local activities) of both workers
CHAIN = 100
FAN_OUT = 200
STEP_TIMEOUT = timedelta(seconds=60)
# The same per-attempt bound on the Segue side: the hand-written activities get a 60 s
# start-to-close timeout, the equivalent YAML task says `timeout: 60`.
STEP_TIMEOUT_YAML = f"    timeout: {STEP_TIMEOUT.seconds}"


# --------------------------------------------------------------------- hand-written side


@activity.defn(name="bench.step")
async def step(i: int) -> int:
    return i


@workflow.defn(name="BenchChain")
class HandChain:
    """`n` activities in sequence."""

    @workflow.run
    async def run(self, n: int) -> int:
        total = 0
        for i in range(n):
            total += await workflow.execute_activity(step, i, start_to_close_timeout=STEP_TIMEOUT)
        return total


def segue_options(i: int) -> dict[str, Any]:
    """The options Segue's interpreter gives an action activity (heartbeat timeout, retry
    policy, summary, long start-to-close), for the hand-written --profile variants."""
    from temporalio.common import RetryPolicy

    retry = RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=20,
    )
    return {
        "start_to_close_timeout": timedelta(seconds=3630),
        "heartbeat_timeout": timedelta(seconds=30),
        "retry_policy": retry,
        "summary": f"t{i}#1",
    }


@workflow.defn(name="BenchChainSegueOptions")
class HandChainSegueOptions:
    """`n` activities in sequence with Segue's activity options: --profile."""

    @workflow.run
    async def run(self, n: int) -> int:
        total = 0
        for i in range(n):
            total += await workflow.execute_activity(step, i, **segue_options(i))
        return total


@workflow.defn(name="BenchFanOut")
class HandFanOut:
    """One activity (the split), `n` at once, gathered, then one more (the join)."""

    @workflow.run
    async def run(self, n: int) -> int:
        await workflow.execute_activity(step, 0, start_to_close_timeout=STEP_TIMEOUT)
        results = await asyncio.gather(
            *(
                workflow.execute_activity(step, i, start_to_close_timeout=STEP_TIMEOUT)
                for i in range(n)
            )
        )
        return await workflow.execute_activity(
            step, sum(results), start_to_close_timeout=STEP_TIMEOUT
        )


@workflow.defn(name="BenchFanOutSegueOptions")
class HandFanOutSegueOptions:
    """The fan-out with Segue's activity options: --profile."""

    @workflow.run
    async def run(self, n: int) -> int:
        await workflow.execute_activity(step, 0, **segue_options(0))
        results = await asyncio.gather(
            *(workflow.execute_activity(step, i, **segue_options(i)) for i in range(n))
        )
        return await workflow.execute_activity(step, sum(results), **segue_options(n))


@workflow.defn(name="BenchSleeps")
class HandSleeps:
    """`n` timers of `seconds` in sequence (for --timers)."""

    @workflow.run
    async def run(self, args: list[float]) -> int:
        n, seconds = int(args[0]), args[1]
        for _ in range(n):
            await workflow.sleep(seconds)
        return n


# --------------------------------------------------------------------- Segue side (YAML)


def _step(i: int) -> list[str]:
    return ["    action: bench.step", f"    input: {{i: {i}}}", STEP_TIMEOUT_YAML]


def segue_chain(n: int, kind: str) -> str:
    """A chain t0..t{n-1}: `kind` is "activity" (bench.step), "local" (bench.step with
    `run: local`), "noop" or "pass"."""
    bodies = {
        "activity": _step,
        "local": lambda i: [*_step(i), "    run: local"],
        "noop": lambda i: ["    action: core.noop"],
        "pass": lambda i: [],
    }
    return chain_workflow(n, bodies[kind])


def segue_fan_out(n: int) -> str:
    return fan_out_workflow(n, _step)


def segue_loop(n: int, delay: float | None, kind: str) -> str:
    """A one-task loop of n iterations (for --timers)."""
    body = "    action: bench.step\n    input: {i: 0}\n" if kind == "activity" else ""
    wait = f"    delay: {delay}\n" if delay is not None else ""
    return f"""version: 1
vars:
  n: 0
start: [tick]
tasks:
  tick:
{body}{wait}    max_iterations: {n + 1}
    next:
      - when: $succeeded() and $ctx.n < {n - 1}
        publish: {{n: <% $ctx.n + 1 %>}}
        do: tick
output:
  n: <% $ctx.n %>
"""


async def bench_step(data: Any, context: Any) -> Any:
    """The Segue twin of `step`: returns its input."""
    return data


# --------------------------------------------------------------------- history analysis


def analyse(history: Any) -> dict[str, Any]:
    """Event counts and a phase split (ms) from a workflow's history."""
    from temporalio.api.enums.v1 import EventType as E

    events = list(history.events)

    def ms(event: Any) -> float:
        return float(event.event_time.ToNanoseconds()) / 1e6

    counts: dict[str, int] = {}
    scheduled: dict[int, float] = {}
    started: dict[int, float] = {}
    completed: dict[int, float] = {}
    wft_scheduled: dict[int, float] = {}
    wft_started: dict[int, tuple[int, float]] = {}
    wft_run: list[float] = []
    wft_wait: list[float] = []
    begin = ms(events[0])
    end = ms(events[-1])
    for event in events:
        kind = E.Name(event.event_type).removeprefix("EVENT_TYPE_")
        counts[kind] = counts.get(kind, 0) + 1
        at = ms(event)
        if event.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = at
        elif event.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = at
        elif event.event_type == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed[event.activity_task_completed_event_attributes.scheduled_event_id] = at
        elif event.event_type == E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            wft_scheduled[event.event_id] = at
        elif event.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            attrs = event.workflow_task_started_event_attributes
            wft_started[event.event_id] = (attrs.scheduled_event_id, at)
            if attrs.scheduled_event_id in wft_scheduled:
                wft_wait.append(at - wft_scheduled[attrs.scheduled_event_id])
        elif event.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            attrs2 = event.workflow_task_completed_event_attributes
            if attrs2.started_event_id in wft_started:
                wft_run.append(at - wft_started[attrs2.started_event_id][1])
    ids = sorted(scheduled)
    out: dict[str, Any] = {
        "history_events": len(events),
        "workflow_tasks": counts.get("WORKFLOW_TASK_COMPLETED", 0),
        "activities": counts.get("ACTIVITY_TASK_SCHEDULED", 0),
        "markers": counts.get("MARKER_RECORDED", 0),
        "timers": counts.get("TIMER_STARTED", 0),
        "wft_queue_ms": _mean(wft_wait),
        "wft_run_ms": _mean(wft_run),
        "wft_run_total_ms": round(sum(wft_run), 1),
        "total_ms": round(end - begin, 1),
    }
    if ids:
        queue = [started[i] - scheduled[i] for i in ids if i in started]
        run = [completed[i] - started[i] for i in ids if i in started and i in completed]
        out["first_activity_ms"] = round(scheduled[ids[0]] - begin, 1)
        out["activity_queue_ms"] = _mean(queue)
        out["activity_run_ms"] = _mean(run)
        # Turnaround: for an activity scheduled only after every earlier one completed
        # (each step of a chain; the first branch and the join of a fan-out), the time
        # from the last of those completions to its scheduling.
        gaps = []
        for index in range(1, len(ids)):
            before = [completed.get(a) for a in ids[:index]]
            if None in before:
                continue
            latest = max(b for b in before if b is not None)
            if scheduled[ids[index]] >= latest:
                gaps.append(scheduled[ids[index]] - latest)
        out["turnaround_ms"] = _mean(gaps)
        out["after_last_activity_ms"] = round(end - max(completed.values(), default=end), 1)
    return out


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


# --------------------------------------------------------------------- the harness


@dataclass
class Variant:
    scenario: str
    name: str
    tasks: int  # task executions (Segue) / activities (hand-written) per run
    run: Callable[[], Awaitable[tuple[float, Any]]]  # -> (seconds, handle)
    samples: list[float] = field(default_factory=list)
    histories: list[dict[str, Any]] = field(default_factory=list)
    last_history: Any = None  # the WorkflowHistory of the last measured run (--profile)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


class TimedSink:
    """The worker's trace sink, timed per batch; `noop` skips the database write (to
    separate the cost of the trace local activity from the cost of PostgreSQL)."""

    def __init__(self, sink: Callable[[Any], Awaitable[None]] | None) -> None:
        self.sink = sink
        self.noop = False
        self.calls: list[tuple[float, int]] = []  # (seconds, events in the batch)

    async def __call__(self, batch: Any) -> None:
        began = time.perf_counter()
        if self.sink is not None and not self.noop:
            await self.sink(batch)
        self.calls.append((time.perf_counter() - began, len(batch.events)))

    def stats(self) -> dict[str, Any]:
        calls, self.calls = self.calls, []
        if not calls:
            return {}
        return {
            "sink_batches": len(calls),
            "sink_events": sum(n for _, n in calls),
            "sink_ms_mean": round(statistics.fmean(t for t, _ in calls) * 1000, 2),
            "sink_ms_total": round(sum(t for t, _ in calls) * 1000, 1),
        }


class Bench:
    def __init__(
        self, client: Any, hand_queue: str, segue_queue: str, pool: Any, sink: TimedSink
    ) -> None:
        self.client = client
        self.hand_queue = hand_queue
        self.segue_queue = segue_queue
        self.pool = pool
        self.sink = sink
        self.versions: dict[str, int] = {}

    async def timed(self, start: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
        began = time.perf_counter()
        handle = await start()
        await handle.result()
        return time.perf_counter() - began, handle

    def hand(self, workflow_name: str, arg: Any) -> Callable[[], Awaitable[tuple[float, Any]]]:
        async def go() -> tuple[float, Any]:
            run_id = f"hand-{uuid.uuid4().hex[:12]}"
            return await self.timed(
                lambda: self.client.start_workflow(
                    workflow_name, arg, id=run_id, task_queue=self.hand_queue
                )
            )

        return go

    def segue(
        self, name: str, text: str, trace: bool, noop_sink: bool = False
    ) -> Callable[[], Awaitable[tuple[float, Any]]]:
        from engine.language.loader import load_workflow
        from engine.temporal.types import INTERPRETER_WORKFLOW, InterpreterInput, InterpreterResult

        spec = load_workflow(text, f"{name}.yaml", name=name)

        async def go() -> tuple[float, Any]:
            from engine.store import NewRun, create_run, register_workflow_version

            run_id = f"segue-{uuid.uuid4().hex[:12]}"
            version = spec.content_hash[:12]
            self.sink.noop = noop_sink
            self.sink.calls.clear()
            if trace and not noop_sink:
                # As the API does: the version is registered and the run row exists first.
                if name not in self.versions:
                    registered = await register_workflow_version(
                        self.pool, name, text, spec.content_hash
                    )
                    self.versions[name] = registered.version
                version = str(self.versions[name])
                await create_run(
                    self.pool,
                    NewRun(
                        run_id=run_id,
                        workflow_name=name,
                        workflow_version=self.versions[name],
                        task_queue=self.segue_queue,
                    ),
                )
            params = InterpreterInput(
                run_id, name, version, text, {}, self.segue_queue, trace=trace
            )
            return await self.timed(
                lambda: self.client.start_workflow(
                    INTERPRETER_WORKFLOW,
                    params,
                    id=run_id,
                    task_queue=self.segue_queue,
                    result_type=InterpreterResult,
                )
            )

        return go


async def measure(
    bench: Bench, variants: list[Variant], repeat: int, log: Callable[[str], None]
) -> None:
    """One warm-up per variant, then `repeat` interleaved rounds; history after each run.
    Each round starts one variant later (A B C, B C A, C A B, …), so no variant always
    runs right after the same neighbour or first in a round."""
    for variant in variants:
        await variant.run()
    for round_no in range(repeat):
        shift = round_no % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            bench.sink.calls.clear()
            seconds, handle = await variant.run()
            sink = bench.sink.stats()
            history = await handle.fetch_history()
            variant.samples.append(seconds)
            variant.histories.append(analyse(history) | sink)
            variant.last_history = history
        log(
            f"  round {round_no + 1}/{repeat}: "
            + ", ".join(f"{v.name} {v.samples[-1]:.2f}s" for v in variants)
        )


def summary(variant: Variant) -> dict[str, Any]:
    row: dict[str, Any] = {
        "scenario": variant.scenario,
        "variant": variant.name,
        "tasks": variant.tasks,
        "median_s": round(variant.median, 3),
        "per_task_ms": round(variant.median / variant.tasks * 1000, 2),
        "min_s": round(min(variant.samples), 3),
        "max_s": round(max(variant.samples), 3),
        "samples_s": [round(s, 3) for s in variant.samples],
    }
    keys = variant.histories[0].keys() if variant.histories else []
    history: dict[str, Any] = {}
    for key in keys:
        values = [h[key] for h in variant.histories if h.get(key) is not None]
        history[key] = round(statistics.median(values), 2) if values else None
    row["history"] = history
    return row


# --------------------------------------------------------------------- main


@dataclass
class Services:
    address: str
    database_url: str | None
    cleanups: list[Callable[[], None]] = field(default_factory=list)


def start_services(want_db: bool, log: Callable[[str], None]) -> Services:
    from engine.temporal.devserver import start_dev_server

    address = os.environ.get("SEGUE_TEMPORAL_ADDRESS")
    services = Services(address or "", None)
    if not address:
        directory = Path(tempfile.mkdtemp(prefix="segue-bench-"))
        services.cleanups.append(lambda: shutil.rmtree(directory, ignore_errors=True))
        server = start_dev_server(
            db_file=directory / "temporal.db", log_path=directory / "server.log"
        )
        services.address = server.address
        services.cleanups.append(server.stop)
        log(f"dev server {server.address} (db {directory / 'temporal.db'})")
    else:
        log(f"Temporal at {address} (SEGUE_TEMPORAL_ADDRESS)")
    if want_db:
        services.database_url = benchmark_database(services.cleanups, log)
    return services


async def run(args: argparse.Namespace, services: Services, log: Callable[[str], None]) -> dict:
    from temporalio.worker import Worker

    from engine.actions.api import ActionDefinition
    from engine.actions.builtin import builtin_actions
    from engine.actions.catalog import ActionCatalog
    from engine.temporal.activities import SegueActivities
    from engine.temporal.worker import build_worker, connect, workflow_runner

    pool = None
    sink = TimedSink(None)
    if services.database_url:
        from engine.store import open_pool
        from engine.temporal.store_sink import trace_sink

        pool = await open_pool(services.database_url)
        sink = TimedSink(trace_sink(pool))
    client = await connect(services.address)
    tag = uuid.uuid4().hex[:8]
    hand_queue, segue_queue = f"bench-hand-{tag}", f"bench-segue-{tag}"
    # Same worker settings on both sides: the same sandbox runner (with Segue's
    # pass-through modules), the same concurrency, the same shutdown grace.
    hand_worker = Worker(
        client,
        task_queue=hand_queue,
        workflows=[
            HandChain,
            HandChainSegueOptions,
            HandFanOut,
            HandFanOutSegueOptions,
            HandSleeps,
        ],
        activities=[step],
        workflow_runner=workflow_runner(),
        max_concurrent_activities=CONCURRENCY,
        max_concurrent_local_activities=CONCURRENCY,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    catalog = ActionCatalog([*builtin_actions(), ActionDefinition("bench.step", bench_step)])
    segue_worker = build_worker(
        client,
        SegueActivities(catalog, trace_sink=sink),
        task_queue=segue_queue,
        max_concurrent_activities=CONCURRENCY,
    )
    bench = Bench(client, hand_queue, segue_queue, pool, sink)
    traces = [False, True] if pool is not None else [False]

    def label(trace: bool) -> str:
        return "trace PG" if trace else "trace off"

    results: dict[str, Any] = {"rows": [], "ratios": [], "timers": []}
    async with hand_worker, segue_worker:
        scenarios: list[list[Variant]] = []
        chain = [Variant("chain", "hand-written", CHAIN, bench.hand("BenchChain", CHAIN))]
        chain += [
            Variant(
                "chain",
                f"Segue, {label(t)}",
                CHAIN,
                bench.segue("bench_chain", segue_chain(CHAIN, "activity"), t),
            )
            for t in traces
        ]
        if args.profile:
            chain.append(
                Variant(
                    "chain",
                    "hand, Segue's act. options",
                    CHAIN,
                    bench.hand("BenchChainSegueOptions", CHAIN),
                )
            )
        if pool is not None:
            chain.append(
                Variant(
                    "chain",
                    "Segue, trace no-op sink",
                    CHAIN,
                    bench.segue("bench_chain", segue_chain(CHAIN, "activity"), True, True),
                )
            )
        fan = [Variant("fan-out", "hand-written", FAN_OUT + 2, bench.hand("BenchFanOut", FAN_OUT))]
        fan += [
            Variant(
                "fan-out",
                f"Segue, {label(t)}",
                FAN_OUT + 2,
                bench.segue("bench_fan_out", segue_fan_out(FAN_OUT), t),
            )
            for t in traces
        ]
        if args.profile:
            fan.append(
                Variant(
                    "fan-out",
                    "hand, Segue's act. options",
                    FAN_OUT + 2,
                    bench.hand("BenchFanOutSegueOptions", FAN_OUT),
                )
            )
        if pool is not None:
            fan.append(
                Variant(
                    "fan-out",
                    "Segue, trace no-op sink",
                    FAN_OUT + 2,
                    bench.segue("bench_fan_out", segue_fan_out(FAN_OUT), True, True),
                )
            )
        native = [
            Variant(
                "native",
                f"Segue {kind}, {label(t)}",
                CHAIN,
                bench.segue(f"bench_{kind}", segue_chain(CHAIN, kind), t),
            )
            for kind in ("pass", "noop")
            for t in traces
        ]
        local = [Variant("local", "hand-written", CHAIN, bench.hand("BenchChain", CHAIN))]
        local += [
            Variant(
                "local",
                f"Segue local, {label(t)}",
                CHAIN,
                bench.segue("bench_local", segue_chain(CHAIN, "local"), t),
            )
            for t in traces
        ]
        wanted = set(args.only or ["chain", "fan-out", "native", "local"])
        scenarios = [vs for vs in (chain, fan, native, local) if vs[0].scenario in wanted]
        for variants in scenarios:
            log(f"{variants[0].scenario}: {', '.join(v.name for v in variants)}")
            await measure(bench, variants, args.repeat, log)
        rows = {(v.scenario, v.name): summary(v) for vs in scenarios for v in vs}
        results["rows"] = list(rows.values())

        def ratio(what: str, a: tuple[str, str], b: tuple[str, str], target: str) -> None:
            if a not in rows or b not in rows:
                return  # a scenario left out with --only
            value = rows[a]["median_s"] / rows[b]["median_s"]
            results["ratios"].append(
                {"ratio": what, "value": round(value, 3), "target": target, "of": [a, b]}
            )

        for t in traces:
            for scen in ("chain", "fan-out"):
                ratio(
                    f"{scen}: Segue ({label(t)}) / hand-written",
                    (scen, f"Segue, {label(t)}"),
                    (scen, "hand-written"),
                    "<= 1.10",
                )
        if pool is not None:
            for scen in ("chain", "fan-out"):
                ratio(
                    f"{scen}: Segue (trace no-op sink) / hand-written",
                    (scen, "Segue, trace no-op sink"),
                    (scen, "hand-written"),
                    "(diagnostic)",
                )
        if args.profile:
            for scen in ("chain", "fan-out"):
                options = (scen, "hand, Segue's act. options")
                ratio(
                    f"{scen}: hand with Segue's activity options / hand-written",
                    options,
                    (scen, "hand-written"),
                    "(diagnostic)",
                )
                ratio(
                    f"{scen}: Segue (trace off) / hand with Segue's options",
                    (scen, "Segue, trace off"),
                    options,
                    "(diagnostic)",
                )
        for t in traces:
            for kind in ("pass", "noop"):
                ratio(
                    f"activity chain / {kind} chain, Segue {label(t)} (x cheaper)",
                    ("chain", f"Segue, {label(t)}"),
                    ("native", f"Segue {kind}, {label(t)}"),
                    ">= 10",
                )
        for t in traces:
            ratio(
                f"local: hand-written activities / Segue local ({label(t)}) (x faster)",
                ("local", "hand-written"),
                ("local", f"Segue local, {label(t)}"),
                ">= 3",
            )
        if args.timers:
            results["timers"] = await timers(bench, args, log)
        if args.profile:
            results["profile"] = await profile(
                [
                    v
                    for vs in scenarios
                    for v in vs
                    if v.scenario != "native" and "no-op" not in v.name
                ],
                log,
            )
    if pool is not None:
        await pool.close()
    return results


async def timers(bench: Bench, args: argparse.Namespace, log: Callable[[str], None]) -> list:
    """How long short timers take on the dev server: per-iteration cost of loops."""
    n = 5 if args.quick else 10
    cases: list[tuple[str, Callable[[], Awaitable[tuple[float, Any]]]]] = [
        ("hand-written: workflow.sleep(0.01) x n", bench.hand("BenchSleeps", [n, 0.01])),
        ("hand-written: workflow.sleep(0.3) x n", bench.hand("BenchSleeps", [n, 0.3])),
        ("hand-written: workflow.sleep(1.0) x n", bench.hand("BenchSleeps", [n, 1.0])),
        ("hand-written: workflow.sleep(1.5) x n", bench.hand("BenchSleeps", [n, 1.5])),
        (
            "Segue loop, pass-through, delay: 0.01",
            bench.segue("bench_loop_delay", segue_loop(n, 0.01, "pass"), False),
        ),
        (
            "Segue loop, bench.step, no delay",
            bench.segue("bench_loop_activity", segue_loop(n, None, "activity"), False),
        ),
        (
            "Segue loop, pass-through, no delay",
            bench.segue("bench_loop_pass", segue_loop(n, None, "pass"), False),
        ),
    ]
    rows = []
    for name, go in cases:
        seconds, handle = await go()
        history = analyse(await handle.fetch_history())
        rows.append(
            {
                "case": name,
                "iterations": n,
                "seconds": round(seconds, 3),
                "per_iteration_ms": round(seconds / n * 1000, 1),
                "timers": history["timers"],
                "workflow_tasks": history["workflow_tasks"],
            }
        )
        log(f"  timers: {name}: {seconds:.2f} s")
    return rows


async def profile(variants: list[Variant], log: Callable[[str], None]) -> dict[str, Any]:
    """Worker-side CPU of the workflow code: replay each variant's last history (no
    server, no activities) and time it; then cProfile the replay of the Segue chain."""
    import cProfile
    import io
    import pstats
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Replayer

    from engine.temporal.codec import converter_from_env
    from engine.temporal.interpreter import Interpreter
    from engine.temporal.worker import workflow_runner

    workflows = [HandChain, HandChainSegueOptions, HandFanOut, HandFanOutSegueOptions, Interpreter]
    rows = []
    for variant in variants:
        history = variant.last_history
        best = float("inf")
        for _ in range(3):
            replayer = Replayer(
                workflows=workflows,
                workflow_runner=workflow_runner(),
                data_converter=converter_from_env(),
            )
            began = time.perf_counter()
            await replayer.replay_workflow(history)
            best = min(best, time.perf_counter() - began)
        wfts = variant.histories[-1]["workflow_tasks"]
        rows.append(
            {
                "scenario": variant.scenario,
                "variant": variant.name,
                "workflow_tasks": wfts,
                "replay_ms": round(best * 1000, 1),
                "replay_ms_per_wft": round(best * 1000 / max(wfts, 1), 2),
            }
        )
        log(f"  replay {variant.scenario} / {variant.name}: {best * 1000:.0f} ms")
    profiles: dict[str, str] = {}
    for variant in variants:
        if variant.scenario not in ("chain", "fan-out"):
            continue
        profiler = cProfile.Profile()
        # The workflow code runs on the replayer's executor thread: profile that thread.
        executor = ThreadPoolExecutor(max_workers=1, initializer=profiler.enable)
        replayer = Replayer(
            workflows=workflows,
            workflow_runner=workflow_runner(),
            workflow_task_executor=executor,
            data_converter=converter_from_env(),
        )
        await replayer.replay_workflow(variant.last_history)
        executor.submit(profiler.disable).result()
        executor.shutdown()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(25)
        profiles[f"{variant.scenario} / {variant.name}"] = text.getvalue()
    return {"replay": rows, "cprofile": profiles, "activity": await activity_cost(log)}


async def activity_cost(log: Callable[[str], None]) -> dict[str, float]:
    """Worker-side cost of one activity body, outside Temporal (ActivityEnvironment):
    the hand-written `step` vs Segue's `segue.run_action` wrapper running `bench.step`."""
    from temporalio.testing import ActivityEnvironment

    from engine.actions.api import ActionDefinition
    from engine.actions.builtin import builtin_actions
    from engine.actions.catalog import ActionCatalog
    from engine.temporal.activities import SegueActivities
    from engine.temporal.types import ActionRequest

    catalog = ActionCatalog([*builtin_actions(), ActionDefinition("bench.step", bench_step)])
    segue = SegueActivities(catalog)
    request = ActionRequest("run", "bench_chain", "t1", 1, 0, 1, 2, "bench.step", {"i": 1})
    env = ActivityEnvironment()
    out: dict[str, float] = {}
    for name, call in (
        ("hand-written step", lambda: env.run(step, 1)),
        ("Segue run_action(bench.step)", lambda: env.run(segue.run_action, request)),
    ):
        best = float("inf")
        for _ in range(5):
            began = time.perf_counter()
            for _ in range(500):
                await call()
            best = min(best, (time.perf_counter() - began) / 500)
        out[name] = round(best * 1e6, 1)
        log(f"  activity body {name}: {best * 1e6:.1f} µs")
    return out


def print_table(results: dict[str, Any]) -> None:
    print()
    head = (
        f"{'scenario':8} {'variant':26} {'tasks':>5} {'median s':>9} {'ms/task':>8} "
        f"{'min-max s':>13} {'events':>6} {'WFTs':>5} {'LA':>4}"
    )
    print(head)
    print("-" * len(head))
    for row in results["rows"]:
        h = row["history"]
        print(
            f"{row['scenario']:8} {row['variant']:26} {row['tasks']:>5} "
            f"{row['median_s']:>9.3f} {row['per_task_ms']:>8.2f} "
            f"{row['min_s']:>6.2f}-{row['max_s']:<6.2f} "
            f"{h.get('history_events') or 0:>6.0f} {h.get('workflow_tasks') or 0:>5.0f} "
            f"{h.get('markers') or 0:>4.0f}"
        )
    print()
    print("phases (medians over runs, ms): first activity scheduled after start; activity")
    print("scheduled->started; started->completed; one completion -> next scheduled (chain);")
    print("workflow task scheduled->started, started->completed (means) and summed run time;")
    print("last activity completed -> run end;")
    print("trace sink: batches per run and mean ms per batch (the trace local activity's work)")
    head2 = (
        f"{'scenario':8} {'variant':26} {'first':>6} {'queue':>6} {'run':>6} "
        f"{'turn':>6} {'WFT q':>6} {'WFT':>6} {'WFT sum':>8} {'tail':>6} {'batches':>7} "
        f"{'ms/batch':>8}"
    )
    print(head2)
    print("-" * len(head2))
    for row in results["rows"]:
        h = row["history"]

        def f(key: str, h: dict[str, Any] = h) -> str:
            value = h.get(key)
            return "-" if value is None else f"{value:.1f}"

        print(
            f"{row['scenario']:8} {row['variant']:26} {f('first_activity_ms'):>6} "
            f"{f('activity_queue_ms'):>6} {f('activity_run_ms'):>6} {f('turnaround_ms'):>6} "
            f"{f('wft_queue_ms'):>6} {f('wft_run_ms'):>6} {f('wft_run_total_ms'):>8} "
            f"{f('after_last_activity_ms'):>6} "
            f"{f('sink_batches'):>7} {f('sink_ms_mean'):>8}"
        )
    print()
    for r in results["ratios"]:
        print(f"{r['ratio']:58} {r['value']:>7.2f}   (target {r['target']})")
    if results.get("profile"):
        print()
        print("replay of the last history (best of 3; worker-side CPU, no server round trips):")
        for r in results["profile"]["replay"]:
            print(
                f"{r['scenario']:8} {r['variant']:26} {r['workflow_tasks']:>4} WFTs "
                f"{r['replay_ms']:>8.1f} ms  {r['replay_ms_per_wft']:>6.2f} ms/WFT"
            )
        for name, us in results["profile"]["activity"].items():
            print(f"activity body outside Temporal, {name}: {us:.1f} µs per call")
        for name, text in results["profile"]["cprofile"].items():
            print(f"\ncProfile of the replay, {name} (top by own time):")
            print(text)
    if results["timers"]:
        print()
        for t in results["timers"]:
            print(
                f"{t['case']:42} {t['iterations']:>3} iterations  {t['seconds']:>6.2f} s  "
                f"{t['per_iteration_ms']:>7.1f} ms/iteration  timers {t['timers']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per variant")
    parser.add_argument("--quick", action="store_true", help="1 repetition (a smoke run)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--no-trace", action="store_true", help="skip the traced variants")
    parser.add_argument(
        "--only",
        action="append",
        choices=["chain", "fan-out", "native", "local"],
        help="run only this scenario (repeatable); the ratios that need others are skipped",
    )
    parser.add_argument("--timers", action="store_true", help="also measure short timers")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also replay the histories: worker CPU per workflow task, and a cProfile",
    )
    args = parser.parse_args()
    if args.quick:
        args.repeat = 1

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    began = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    log(f"load average before: {load_before} on {os.cpu_count()} CPUs")
    services = start_services(not args.no_trace, log)
    code = 0
    try:
        results = asyncio.run(run(args, services, log))
        results["seconds"] = round(time.perf_counter() - began, 1)
        results["repeat"] = args.repeat
        results["load_average"] = {
            "before": load_before,
            "after": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
        }
        if args.json:
            print(json.dumps(results, indent=2))
        else:
            print_table(results)
            print(f"\n{args.repeat} measured run(s) per variant; total {results['seconds']} s")
            load = results["load_average"]
            print(
                f"load average (1, 5, 15 min) before {load['before']}, after {load['after']}, "
                f"{load['cpus']} CPUs"
            )
    except BaseException:
        code = 1
        raise
    finally:
        for cleanup in reversed(services.cleanups):
            try:
                cleanup()
            except Exception as error:  # report it and keep cleaning
                log(f"cleanup failed: {error}")
        sys.stdout.flush()
        sys.stderr.flush()
        # Temporal clients can crash at interpreter exit (sdk-python issue 300).
        if code == 0:
            os._exit(0)


if __name__ == "__main__":
    main()
