"""Instructions one workflow load executes (valgrind's callgrind): a figure that the
other work on a shared machine does not move, unlike CPU time.

Runs a child process under callgrind twice, once loading the chain of
benchmarks/compile.py once and once loading it twice (each load with an empty expression
cache), and prints the difference: one load, imports and start-up left out. `--root`
loads with the engine of another checkout (e.g. main exported by `git archive`), to
compare two versions on the same text. Needs `valgrind`; ~1 minute per 1,000 tasks.

    python benchmarks/compile_instructions.py --tasks 1000
    python benchmarks/compile_instructions.py --tasks 1000 --stage yaml --root /tmp/main
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(root: str, tasks: int, stage: str, loads: int) -> None:
    """Load the chain `loads` times with the engine under `root` (run under callgrind)."""
    sys.path.insert(0, str(HERE))
    from compile import chain  # before `root`: the script's own directory

    sys.path.insert(0, root)
    for name in [name for name in sys.modules if name == "engine" or name.startswith("engine.")]:
        del sys.modules[name]  # compile.py imported this checkout's engine
    from engine.expressions.runtime import compile_expression
    from engine.language.collection import collector_paused
    from engine.language.loader import load_workflow
    from engine.language.yaml_source import parse_yaml

    text = chain(tasks).encode()
    for _ in range(loads):
        compile_expression.cache_clear()
        if stage == "yaml":
            with collector_paused():  # as a load parses
                parse_yaml(text, "chain.yaml")
        else:
            load_workflow(text, "chain.yaml", "chain")


def instructions(root: str, tasks: int, stage: str, loads: int) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
        __file__, "--child", str(loads), "--root", root, "--tasks", str(tasks), "--stage", stage,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--stage", choices=["load", "yaml"], default="load")
    parser.add_argument("--root", default=str(HERE.parent), help="checkout whose engine loads")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    if args.child is not None:
        child(root, args.tasks, args.stage, args.child)
        return
    one = instructions(root, args.tasks, args.stage, 2) - instructions(
        root, args.tasks, args.stage, 1
    )
    print(f"{args.stage} of {args.tasks} tasks with {root}: {one / 1e6:.1f} M instructions")


if __name__ == "__main__":
    main()
