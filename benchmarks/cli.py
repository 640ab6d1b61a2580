"""Start-up time of the `segue` command: `segue --help` and `segue validate` of a small
file, each against the floor set by importing the libraries validation needs.

Each command runs as a fresh process (the installed `segue` script, as a user types it),
`--repeat` times interleaved with the baseline, so that a busy machine weighs on both
alike; the figures are the median wall-clock and CPU (user + system) times. Exits 1 when
a command's CPU time is more than `--limit` times the baseline's (1.3 by default).

    python benchmarks/cli.py [--repeat 15] [--limit 1.3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEGUE = str(Path(sys.executable).parent / "segue")
# What `segue validate` imports beyond Segue itself: the YAML parser, JSON Schema,
# JSONata (expressions are compiled) and RE2 (schema patterns are checked). The action
# catalog is not loaded when no plugin is installed (engine/action_names.py), so httpx
# and asyncio, which the action modules import, are not among them any more.
LIBRARIES = "import yaml, jsonschema, jsonata, re2"
# For comparison (not the limit): the former baseline, when validation loaded the
# catalog and with it httpx and asyncio.
WITH_CATALOG = "import yaml, jsonschema, jsonata, re2, httpx, asyncio"

# As a user's installation runs: with bytecode caches (the warm-up run writes them; a
# PYTHONDONTWRITEBYTECODE environment would compile Segue's modules at every start).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

COMMANDS: dict[str, list[str]] = {
    "baseline: python -c '" + LIBRARIES + "'": [sys.executable, "-c", LIBRARIES],
    "for comparison: python -c '" + WITH_CATALOG + "'": [sys.executable, "-c", WITH_CATALOG],
    "segue --help": [SEGUE, "--help"],
    "segue validate examples/monitoring.yaml": [SEGUE, "validate", "examples/monitoring.yaml"],
}


def timed(command: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(repeat: int) -> dict[str, tuple[float, float]]:
    """The median wall and CPU seconds of each command."""
    for command in COMMANDS.values():
        timed(command)  # warm the file cache and the bytecode
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for _ in range(repeat):
        for name, command in COMMANDS.items():
            samples[name].append(timed(command))
    return {
        name: (statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs))
        for name, runs in samples.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--limit", type=float, default=1.3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    medians = measure(args.repeat)
    base_wall, base_cpu = next(iter(medians.values()))
    ratios = {name: (wall / base_wall, cpu / base_cpu) for name, (wall, cpu) in medians.items()}
    if args.json:
        print(json.dumps({"median_s": medians, "ratio": ratios, "repeat": args.repeat}))
    else:
        print("   wall          CPU")
        for name, (wall, cpu) in medians.items():
            wall_ratio, cpu_ratio = ratios[name]
            print(
                f"{wall * 1000:5.0f} ms {wall_ratio:4.2f}x  {cpu * 1000:5.0f} ms {cpu_ratio:4.2f}x"
                f"  {name}"
            )
    # The limit applies to CPU time: on a shared machine the wall clock also measures the
    # neighbours.
    segue = [ratio for name, (_, ratio) in ratios.items() if name.startswith("segue")]
    return 0 if all(cpu_ratio <= args.limit for cpu_ratio in segue) else 1


if __name__ == "__main__":
    sys.exit(main())
