"""Coordinator cost per task execution, and state size, as workflows grow.

Drives the production coordinator directly (no Temporal, no simulator bookkeeping):
every dispatched action succeeds at once. Scenarios: a chain of n tasks, a fan-out of
n tasks into a `join: all`, and a one-task loop of n iterations that publishes a
counter on every iteration (the monitoring-loop shape).

    python benchmarks/coordinator.py            # n = 100, 1,000, 10,000 (loop also 100,000)
    python benchmarks/coordinator.py --quick    # n = 100 and 1,000 only
    python benchmarks/coordinator.py --quick --behaviour 2 --behaviour 3
        # each run on both behaviours, interleaved, with the ratio (what a change costs)
    python benchmarks/coordinator.py --repeat 5 --cpu
        # each scenario driven 5 times, the fastest kept, timed in this process's CPU
        # time rather than the wall clock (a shared, loaded machine: compare before/after)
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_support import chain_workflow, fan_out_workflow

from engine.coordinator import (
    ActionSucceeded,
    Coordinator,
    DispatchAction,
    ExecutionStarted,
    FinishRun,
    RunInfo,
    RunStarted,
    StartReady,
)
from engine.coordinator.behaviour import CURRENT_BEHAVIOUR, Behaviour
from engine.coordinator.snapshot import dump_state
from engine.language.loader import load_workflow
from engine.language.spec import WorkflowSpec

STEP = ["    action: bench.step"]


def chain(n: int) -> str:
    return chain_workflow(n, lambda i: STEP, header=(f"max_iterations: {n + 1}",))


def fan_out(n: int) -> str:
    return fan_out_workflow(n, lambda i: STEP)


def loop(n: int) -> str:
    return f"""version: 1
vars:
  checks: 0
start: [check]
tasks:
  check:
    action: bench.step
    max_iterations: {n}
    next:
      - when: $succeeded() and $ctx.checks < {n - 1}
        publish: {{checks: <% $ctx.checks + 1 %>}}
        do: check
output:
  checks: <% $ctx.checks %>
"""


def drive(
    spec: WorkflowSpec,
    samples: int = 10,
    behaviour: Behaviour = CURRENT_BEHAVIOUR,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float | int | str]:
    """Run to the end; time per task execution (by `clock`) and the largest sampled
    state."""
    coordinator = Coordinator(spec)
    run = RunInfo("bench", "bench", "1", 0)
    pending: deque[DispatchAction] = deque()
    executions = 0
    events = 0
    largest_state = 0
    finish: FinishRun | None = None
    sample_every = 1
    measuring = 0.0

    def apply(commands: list) -> None:  # type: ignore[type-arg]
        nonlocal executions, finish
        for command in commands:
            if isinstance(command, DispatchAction):
                pending.append(command)
            elif isinstance(command, ExecutionStarted):
                executions += 1
            elif isinstance(command, FinishRun):
                finish = command

    gc.collect()
    started = clock()
    apply(coordinator.handle(RunStarted(0, run, {}, None, behaviour)))
    while finish is None:
        if coordinator.has_ready:
            apply(coordinator.handle(StartReady(events)))
        elif pending:
            command = pending.popleft()
            apply(
                coordinator.handle(ActionSucceeded(events, command.execution.id, command.attempt))
            )
        else:
            break
        events += 1
        if events == 1 or events % sample_every == 0:
            pause = clock()
            largest_state = max(largest_state, len(dump_state(coordinator.state)))
            measuring += clock() - pause
            if events == 1:
                sample_every = max(1, executions // samples) if executions > 1 else 50
    elapsed = clock() - started - measuring
    assert finish is not None and str(finish.status) == "succeeded", finish
    return {
        "executions": executions,
        "seconds": round(elapsed, 4),
        "us_per_execution": round(elapsed / executions * 1e6, 1),
        "largest_state_bytes": largest_state,
    }


SCENARIOS: dict[str, Callable[[int], str]] = {"chain": chain, "fan_out_join": fan_out, "loop": loop}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="drive each scenario this many times and keep the fastest (default 1)",
    )
    parser.add_argument(
        "--behaviour",
        type=int,
        action="append",
        choices=[int(b) for b in Behaviour],
        help="run on this coordinator behaviour (repeat to compare; default: the newest)",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="time in this process's CPU time, not the wall clock (other load weighs less)",
    )
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    behaviours = [Behaviour(b) for b in args.behaviour or [CURRENT_BEHAVIOUR]]
    sizes = [100, 1000] if args.quick else [100, 1000, 10_000]
    rows = []
    for name, build in SCENARIOS.items():
        scenario_sizes = sizes + ([100_000] if name == "loop" and not args.quick else [])
        for n in scenario_sizes:
            spec = load_workflow(build(n), f"{name}-{n}.yaml")
            for behaviour in behaviours:
                runs = [
                    drive(spec, behaviour=behaviour, clock=clock)
                    for _ in range(max(1, args.repeat))
                ]
                result = min(runs, key=lambda run: float(run["us_per_execution"]))
                rows.append({"scenario": name, "n": n, "behaviour": int(behaviour), **result})
                if not args.json:
                    print(
                        f"{name:13} n={n:>7} b{int(behaviour)}  "
                        f"{result['us_per_execution']:>7} µs/execution  "
                        f"state ≤ {result['largest_state_bytes']:>7} B  ({result['seconds']} s)",
                        flush=True,
                    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print()
    for name in SCENARIOS:
        for behaviour in behaviours:
            per = {
                row["n"]: row["us_per_execution"]
                for row in rows
                if row["scenario"] == name and row["behaviour"] == behaviour
            }
            largest = max(per)
            print(
                f"{name:13} b{int(behaviour)} cost at n={largest} / cost at n=100: "
                f"{per[largest] / per[100]:.2f}x"
            )
    if len(behaviours) > 1:
        first, last = behaviours[0], behaviours[-1]
        for row in rows:
            if row["behaviour"] == last:
                base = next(
                    r
                    for r in rows
                    if (r["scenario"], r["n"], r["behaviour"]) == (row["scenario"], row["n"], first)
                )
                ratio = float(row["us_per_execution"]) / float(base["us_per_execution"])
                print(
                    f"{row['scenario']:13} n={row['n']:>7} "
                    f"b{int(last)} / b{int(first)}: {ratio:.2f}x"
                )


if __name__ == "__main__":
    main()
