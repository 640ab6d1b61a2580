"""Load: many concurrent runs of the monitoring example on ONE worker, everything real.

A Temporal dev server (SQLite file), PostgreSQL, the API (`segue api --insecure-dev`)
and one worker (`segue worker`, trace to PostgreSQL) as separate processes, and a local
health endpoint served from this process: `GET /health/<name>` answers 503, 503, then
200 for each name. `examples/monitoring.yaml` is registered unchanged and `--runs` runs
are started at once over HTTP (`POST /workflows/{name}/runs`), each with a target of its
own and `interval: 1` (the delay between checks; the dev server rounds shorter timers up
to about 1 s). Every run must end `COMPLETED` with `{"healthy": true, "checks": 3}`.

Reported: total wall time (first request -> last `completedAt`), runs completed per
second, p50/p99 run latency (start request sent -> the run's `completedAt`; and the run's
own `startedAt` -> `completedAt`), the start request's latency, and the memory of the API
and the worker processes (VmRSS idle after a warm-up run, VmRSS at the end, VmHWM peak).
Exits 1 if any run is refused, fails or has a wrong output.

    python benchmarks/load.py                # 500 runs, all requests at once
    python benchmarks/load.py --runs 50      # smaller
    python benchmarks/load.py --json         # JSON instead of the table

The database is SEGUE_DATABASE_URL, else a temporary database created on
postgresql://postgres@127.0.0.1:5432/postgres and dropped at the end. The logic lives in
`tests/support/load.py`, shared with `tests/faults/test_load.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_support import benchmark_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.load import run_load  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / 1024:.0f} MiB"


def print_table(results: dict[str, Any]) -> None:
    memory = results["memory_kib"]

    def ms(key: str) -> str:
        return "{p50:,} / {p99:,} / {max:,} ms".format(**results[key]) if results[key] else "-"

    def rss(process: str) -> str:
        idle, end = memory["idle"][process], memory["end"][process]
        return (
            f"{_mib(idle.get('rss'))} idle, {_mib(end.get('rss'))} at the end, "
            f"{_mib(end.get('peak'))} peak"
        )

    rows = [
        (
            "runs (one worker)",
            f"{results['runs']}, {results['in_flight']} requests in flight, "
            f"interval {results['interval_seconds']} s",
        ),
        ("accepted (201) / refused", f"{results['accepted']} / {len(results['refused'])}"),
        ("final statuses", ", ".join(f"{k} {v}" for k, v in sorted(results["statuses"].items()))),
        ("wrong outputs", str(len(results["wrong"]))),
        ("refused yet executed", str(len(results["refused_but_ran"]))),
        ("most runs in progress at once", str(results["most_runs_in_progress"])),
        ("all accepted (201) after", f"{results['accept_seconds']} s"),
        ("start request p50 / p99 / max", ms("start_request_ms")),
        ("first request -> last completed", f"{results['wall_seconds']} s"),
        ("runs completed per second", f"{results['completed_per_second']}"),
        ("run latency p50 / p99 / max", ms("request_to_completed_ms")),
        ("  (request sent -> completedAt)", ""),
        ("run startedAt -> completedAt", ms("started_to_completed_ms")),
        ("API memory (VmRSS, VmHWM)", rss("api")),
        ("worker memory (VmRSS, VmHWM)", rss("worker")),
        (
            "CPU used: API / worker",
            "{api} / {worker} s".format(**results["cpu_seconds"])
            + f" over {results['all_seen_seconds']} s",
        ),
        ("health polls per target", ", ".join(map(str, results["polls_per_target"]))),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}".rstrip())
    load = results["load_average"]
    print(
        f"\ntotal {results['total_seconds']} s; load average {load['before']} before, "
        f"{load['after']} after; {results['cpus']} CPUs"
    )
    for key in ("wrong", "refused", "refused_but_ran"):
        for line in results[key][:10]:
            print(f"{key.upper()} {line}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=500, help="runs to start (default 500)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=50,
        help="start requests in flight (default 50; 0: all at once)",
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between checks (default 1)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()

    cleanups: list[Callable[[], None]] = []
    try:
        database_url = benchmark_database(cleanups, log)
        results = run_load(
            database_url,
            args.runs,
            concurrency=args.concurrency or None,
            interval=args.interval,
            log=log,
        )
    finally:
        for cleanup in reversed(cleanups):
            cleanup()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)
    failed = results["wrong"] or results["refused"] or results["refused_but_ran"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
