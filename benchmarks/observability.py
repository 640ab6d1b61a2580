"""What metrics and OpenTelemetry tracing cost, on the Temporal benchmark's scenarios.

The chain (100 `bench.step` activities in sequence) and the fan-out (200 at once, then a
join) of benchmarks/temporal.py, run by Segue (trace events off, so only the
observability differs) on one dev server, in one process, in four variants:

- hand-written: the Temporal workflow without Segue (for scale);
- Segue, metrics off: a worker whose Temporal runtime exports no metrics (the
  activities' meter drops everything) and no tracing;
- Segue, metrics on: a worker whose runtime exports Prometheus metrics (Temporal's and
  Segue's run and action metrics), as `SEGUE_METRICS_ADDRESS` sets it up;
- Segue, metrics + OTel: the same, plus tracing: Temporal's OpenTelemetry plugin on the
  client, and every span (run, task executions, attempts) recorded and handed to a
  batch span processor (exporting to memory, cleared after each run: no network).

The tracer provider is process-wide, so it is installed for all variants; a sampler
that drops every span unless the traced variant is running stands for "tracing off" in
the others (the SDK is still called: a lower bound on the saving of leaving `OTEL_*`
unset). Variants interleave and rotate (temporal.py's `measure`); medians and the
ratios between variants of the same run are printed.

    python benchmarks/observability.py              # about 2-3 minutes on 2 cores
    python benchmarks/observability.py --repeat 9   # more rounds, steadier medians
    python benchmarks/observability.py --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes
from temporal import (
    CHAIN,
    CONCURRENCY,
    FAN_OUT,
    Bench,
    HandChain,
    HandFanOut,
    TimedSink,
    Variant,
    bench_step,
    measure,
    segue_chain,
    segue_fan_out,
    start_services,
    step,
    summary,
)


class Switch(Sampler):
    """Records every span while `on`, none otherwise (the traced variant turns it on)."""

    def __init__(self) -> None:
        self.on = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE if self.on else Decision.DROP)

    def get_description(self) -> str:
        return "Switch"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def run(args: argparse.Namespace, address: str, log: Any) -> dict[str, Any]:
    from opentelemetry import trace
    from temporalio.contrib.opentelemetry import create_tracer_provider
    from temporalio.runtime import Runtime, TelemetryConfig
    from temporalio.worker import Worker

    from engine.actions.api import ActionDefinition
    from engine.actions.builtin import builtin_actions
    from engine.actions.catalog import ActionCatalog
    from engine.temporal.activities import SegueActivities
    from engine.temporal.metrics import prometheus_runtime
    from engine.temporal.worker import build_worker, connect, workflow_runner

    catalog = ActionCatalog([*builtin_actions(), ActionDefinition("bench.step", bench_step)])
    # Each Segue variant has a Temporal runtime of its own (as a worker process has), so
    # that the runtimes differ only in their metrics; the hand-written side uses the default.
    runtimes = {
        "plain": Runtime(telemetry=TelemetryConfig()),
        "metered": prometheus_runtime(f"127.0.0.1:{_free_port()}"),
        "traced": prometheus_runtime(f"127.0.0.1:{_free_port()}"),
    }
    hand_client = await connect(address)
    plain = await connect(address, runtime=runtimes["plain"])
    metered = await connect(address, runtime=runtimes["metered"])
    # Installed after the first clients connect: only the traced one gets the plugin.
    switch, exporter = Switch(), InMemorySpanExporter()
    provider = create_tracer_provider(sampler=switch)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    traced = await connect(address, runtime=runtimes["traced"])
    tag = uuid.uuid4().hex[:8]
    queues = {name: f"bench-{name}-{tag}" for name in ("hand", "plain", "metered", "traced")}
    hand_worker = Worker(
        hand_client,
        task_queue=queues["hand"],
        workflows=[HandChain, HandFanOut],
        activities=[step],
        workflow_runner=workflow_runner(),
        max_concurrent_activities=CONCURRENCY,
        max_concurrent_local_activities=CONCURRENCY,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    workers = [
        build_worker(
            client,
            SegueActivities(catalog, meter=meter),
            task_queue=queues[name],
            max_concurrent_activities=CONCURRENCY,
        )
        for name, client, meter in (
            ("plain", plain, None),
            ("metered", metered, runtimes["metered"].metric_meter),
            ("traced", traced, runtimes["traced"].metric_meter),
        )
    ]
    benches = {
        name: Bench(client, queues["hand"], queues[name], None, TimedSink(None))
        for name, client in (("plain", plain), ("metered", metered), ("traced", traced))
    }
    benches["hand"] = Bench(hand_client, queues["hand"], queues["plain"], None, TimedSink(None))

    def segue(name: str, workflow: str, text: str) -> Any:
        start = benches[name].segue(workflow, text, False)

        async def go() -> tuple[float, Any]:
            switch.on = name == "traced"
            try:
                return await start()
            finally:
                switch.on = False
                provider.force_flush()
                exporter.clear()

        return go

    results: dict[str, Any] = {"rows": [], "ratios": []}
    async with hand_worker, workers[0], workers[1], workers[2]:
        scenarios = []
        for scenario, tasks, hand, text in (
            ("chain", CHAIN, ("BenchChain", CHAIN), segue_chain(CHAIN, "activity")),
            ("fan-out", FAN_OUT + 2, ("BenchFanOut", FAN_OUT), segue_fan_out(FAN_OUT)),
        ):
            workflow = f"obs_{scenario.replace('-', '_')}"
            scenarios.append(
                [
                    Variant(scenario, "hand-written", tasks, benches["hand"].hand(*hand)),
                    Variant(scenario, "Segue, metrics off", tasks, segue("plain", workflow, text)),
                    Variant(scenario, "Segue, metrics on", tasks, segue("metered", workflow, text)),
                    Variant(
                        scenario, "Segue, metrics + OTel", tasks, segue("traced", workflow, text)
                    ),
                ]
            )
        for variants in scenarios:
            log(f"{variants[0].scenario}: {', '.join(v.name for v in variants)}")
            await measure(benches["plain"], variants, args.repeat, log)
        rows = {(v.scenario, v.name): summary(v) for vs in scenarios for v in vs}
        results["rows"] = list(rows.values())
        for scenario in ("chain", "fan-out"):
            for a, b in (
                ("Segue, metrics on", "Segue, metrics off"),
                ("Segue, metrics + OTel", "Segue, metrics on"),
                ("Segue, metrics + OTel", "Segue, metrics off"),
                ("Segue, metrics off", "hand-written"),
            ):
                value = rows[(scenario, a)]["median_s"] / rows[(scenario, b)]["median_s"]
                results["ratios"].append(
                    {"scenario": scenario, "ratio": f"{a} / {b}", "value": round(value, 3)}
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per variant")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    began = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    log(f"load average before: {load_before} on {os.cpu_count()} CPUs")
    services = start_services(False, log)
    try:
        results = asyncio.run(run(args, services.address, log))
        results["seconds"] = round(time.perf_counter() - began, 1)
        results["repeat"] = args.repeat
        results["load_average"] = {
            "before": load_before,
            "after": [round(x, 2) for x in os.getloadavg()],
        }
        if args.json:
            print(json.dumps(results, indent=2))
        else:
            print(f"{'scenario':<8} {'variant':<24} {'median s':>9} {'ms/task':>8}  samples")
            for row in results["rows"]:
                print(
                    f"{row['scenario']:<8} {row['variant']:<24} {row['median_s']:>9.3f} "
                    f"{row['per_task_ms']:>8.2f}  {row['samples_s']}"
                )
            print()
            for ratio in results["ratios"]:
                print(f"{ratio['scenario']:<8} {ratio['ratio']:<48} {ratio['value']:.3f}")
            print(
                f"\n{args.repeat} measured run(s) per variant; total {results['seconds']} s; "
                f"load average before {load_before}, after {results['load_average']['after']}"
            )
    finally:
        for cleanup in reversed(services.cleanups):
            cleanup()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # Temporal clients can crash at interpreter exit (sdk-python issue 300)


if __name__ == "__main__":
    main()
