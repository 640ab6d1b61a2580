"""Loading and compiling a workflow (YAML -> schema -> spec -> checks), by task count.

Each task is an action with an expression in its input and a transition that publishes
an expression and names the next task: a chain, about 154 bytes a task. Prints the best
and median of five loads per size (`--repeat`; wall clock, and the process's CPU time,
which other work on a shared machine does not inflate), each stage's own CPU time
(YAML: composing and converting; the schema; building the spec, expressions compiled;
the semantic checks as a load makes them, without the `$ctx` read warnings), the peak
of memory one load allocates (tracemalloc, timed apart), and the CPU time when every
expression text is distinct (no two tasks share a compiled one). Each load starts with
an empty expression cache, as a fresh worker process would.

    python benchmarks/compile.py                 # 500, 1,000, 2,000, 5,000 tasks; ~30 s
    python benchmarks/compile.py --tasks 5000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.expressions.runtime import compile_expression
from engine.language.build import build_spec
from engine.language.checks import check_spec
from engine.language.collection import collector_paused
from engine.language.limits import MAX_EXPRESSIONS, MAX_TASKS
from engine.language.loader import load_workflow
from engine.language.schema import validate_schema
from engine.language.yaml_source import parse_yaml


def chain(tasks: int, *, distinct: bool = False) -> str:
    """A chain of `tasks` tasks, each with two expressions (distinct texts if asked)."""
    lines = ["version: 1", "input:", "  x: {type: integer, default: 1}", "tasks:"]
    for index in range(tasks):
        extra = f" + {index}" if distinct else ""
        lines += [f"  t{index}:", "    action: core.echo", f"    input: {{v: <% $ctx.x{extra} %>}}"]
        if index + 1 < tasks:
            lines += [
                "    next:",
                "      - when: $succeeded()",
                f"        publish: {{v{index % 50}: <% $result.v{extra} %>}}",
                f"        do: t{index + 1}",
            ]
    lines.append("output: {x: <% $ctx.x %>}")
    return "\n".join(lines) + "\n"


def seconds(action: Callable[[], object], repeat: int = 5) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each of `repeat` calls, each with a cold expression cache."""
    walls, cpus = [], []
    for _ in range(repeat):
        compile_expression.cache_clear()
        began, began_cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - began_cpu)
    return walls, cpus


def peak_mb(action: Callable[[], object]) -> float:
    """The most memory `action` held at once while it ran, in MB (tracemalloc)."""
    compile_expression.cache_clear()
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def paused(action: Callable[[], object]) -> Callable[[], object]:
    """The action as a load runs it: with the cyclic collector paused."""

    def run() -> object:
        with collector_paused():
            return action()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="*", default=[500, 1000, 2000, 5000])
    parser.add_argument("--repeat", type=int, default=5, help="loads timed per size")
    args = parser.parse_args()
    print(f"registration accepts at most {MAX_TASKS} tasks, {MAX_EXPRESSIONS} distinct expressions")
    print(f"load average {os.getloadavg()[0]:.2f} (2 shared cores here)")
    print(
        "tasks    bytes   wall best/median (s)   CPU best (s)   yaml   schema   build   checks"
        "   per task (ms CPU)   peak MB   distinct exprs CPU (s)"
    )
    for count in args.tasks:
        text = chain(count).encode()
        walls, cpus = seconds(partial(load_workflow, text, "chain.yaml", "chain"), args.repeat)
        document = parse_yaml(text, "chain.yaml")[0]
        assert document is not None
        yaml_cpu = min(seconds(paused(partial(parse_yaml, text, "c.yaml")), 3)[1])
        schema_cpu = min(seconds(paused(partial(validate_schema, document)), 3)[1])
        build = partial(build_spec, document, name="chain", content_hash="")
        build_cpu = min(seconds(paused(build), 3)[1])
        spec = build()[0]
        checks = partial(check_spec, spec, document.source_map, context_reads=False)
        checks_cpu = min(seconds(paused(checks), 3)[1])
        peak = peak_mb(partial(load_workflow, text, "chain.yaml", "chain"))
        unique = chain(count, distinct=True).encode()
        distinct_cpu = min(seconds(partial(load_workflow, unique, "c.yaml", "c"), 3)[1])
        print(
            f"{count:>5} {len(text):>8}   {min(walls):.3f} / {statistics.median(walls):.3f}"
            f"          {min(cpus):.3f}        {yaml_cpu:.3f}  {schema_cpu:.3f}    {build_cpu:.3f}"
            f"   {checks_cpu:.3f}        {1000 * min(cpus) / count:.3f}"
            f"        {peak:>6.1f}          {distinct_cpu:.3f}"
        )


if __name__ == "__main__":
    main()
