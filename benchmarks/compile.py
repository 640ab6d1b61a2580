"""Loading and compiling a workflow (YAML -> schema -> spec -> checks), by task count.

Each task is an action with an expression in its input and a transition that publishes
an expression and names the next task: a chain, about 154 bytes a task. Prints the best
and median of five loads per size, and the split between YAML, schema and the rest.

    python benchmarks/compile.py                 # 500, 1,000, 2,000, 5,000 tasks; ~30 s
    python benchmarks/compile.py --tasks 5000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.language.loader import MAX_TASKS, load_workflow
from engine.language.schema import validate_schema
from engine.language.yaml_source import parse_yaml


def chain(tasks: int) -> str:
    """A chain of `tasks` tasks, each with two expressions."""
    lines = ["version: 1", "input:", "  x: {type: integer, default: 1}", "tasks:"]
    for index in range(tasks):
        lines += [f"  t{index}:", "    action: core.echo", "    input: {v: <% $ctx.x %>}"]
        if index + 1 < tasks:
            lines += [
                "    next:",
                "      - when: $succeeded()",
                f"        publish: {{v{index % 50}: <% $result.v %>}}",
                f"        do: t{index + 1}",
            ]
    lines.append("output: {x: <% $ctx.x %>}")
    return "\n".join(lines) + "\n"


def seconds(action: object, repeat: int = 5) -> list[float]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="*", default=[500, 1000, 2000, 5000])
    args = parser.parse_args()
    print(f"registration accepts at most {MAX_TASKS} tasks")
    print("tasks   bytes   load best/median (s)   yaml (s)   schema (s)   per task (ms)")
    for count in args.tasks:
        text = chain(count).encode()
        loads = seconds(lambda text=text: load_workflow(text, "chain.yaml", "chain"))
        document = parse_yaml(text, "chain.yaml")[0]
        yaml_s = min(seconds(lambda text=text: parse_yaml(text, "chain.yaml"), 3))
        schema_s = min(seconds(lambda document=document: validate_schema(document), 3))
        best, median = min(loads), statistics.median(loads)
        print(
            f"{count:>5} {len(text):>8}   {best:.3f} / {median:.3f}"
            f"            {yaml_s:.3f}      {schema_s:.3f}        {1000 * best / count:.2f}"
        )


if __name__ == "__main__":
    main()
