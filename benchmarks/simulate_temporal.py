"""How long `segue simulate --temporal` takes now that it runs the production workflow on a
time-skipping dev server (engine/temporal/simulation.py): the whole command as a user
runs it (it starts its own dev server), and single runs through one harness, for cases
whose timers would otherwise take their wall time.

    python benchmarks/simulate_temporal.py [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.language.loader import load_workflow  # noqa: E402
from engine.temporal.simulation import simulate_on_temporal, simulation_worker  # noqa: E402

EXAMPLES = ROOT / "examples"
# (name, workflow text, input, mocks, seconds of timers the run waits through)
RETRY = """
version: 1
retry: {count: 3, delay: 2, backoff: 2, max_delay: 5}
tasks:
  flaky:
    action: svc.flaky
"""
LOOP = """
version: 1
vars: {n: 1}
start: [tick]
tasks:
  tick:
    action: svc.tick
    next:
      - when: $ctx.n < 10
        publish: {n: <% $ctx.n + 1 %>}
        do: wait
  wait:
    delay: 60
    next: [{do: tick}]
"""


def _cases() -> list[tuple[str, str, dict[str, Any], list[dict[str, Any]], float]]:
    monitoring = (EXAMPLES / "monitoring.yaml").read_text()
    mocks = yaml.safe_load((EXAMPLES / "monitoring.mocks.yaml").read_text())
    return [
        ("monitoring example (2 x 2 s delays)", monitoring, {}, mocks, 4.0),
        (
            "4 failed attempts, retry delays 2+4+5 s",
            RETRY,
            {},
            [{"task": "flaky", "status": "failed"}],
            11.0,
        ),
        ("10 activities, 9 x 60 s delays", LOOP, {}, [], 540.0),
    ]


async def _in_process(repeat: int) -> list[dict[str, Any]]:
    rows = []
    async with simulation_worker() as harness:
        for name, text, run_input, mocks, waited in _cases():
            spec = load_workflow(text, "bench.yaml", name="bench")
            times = []
            for _ in range(repeat):
                began = time.perf_counter()
                outcome = await simulate_on_temporal(harness, spec, text, run_input, mocks)
                times.append(time.perf_counter() - began)
            rows.append(
                {
                    "case": name,
                    "timers_s": waited,
                    "median_s": round(statistics.median(times), 3),
                    "status": outcome["status"],
                }
            )
    return rows


def _command(repeat: int) -> dict[str, Any]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "engine.cli.main",
                "simulate",
                str(EXAMPLES / "monitoring.yaml"),
                "--mocks",
                str(EXAMPLES / "monitoring.mocks.yaml"),
                "--temporal",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        times.append(time.perf_counter() - began)
        if completed.returncode != 0:
            raise SystemExit(completed.stderr)
    return {
        "case": "segue simulate --temporal monitoring (whole command)",
        "median_s": round(statistics.median(times), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # A served failure is logged as a failed activity: noise here.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    rows = asyncio.run(_in_process(args.repeat))
    rows.append(_command(max(1, args.repeat // 2)))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        timers = f"  (timers {row['timers_s']:g} s)" if "timers_s" in row else ""
        print(f"{row['median_s']:8.3f} s  {row['case']}{timers}")


if __name__ == "__main__":
    main()
