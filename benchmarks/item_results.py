"""What the cap on a with-items execution's kept results costs (behaviour 5 measures
each item's result as JSON, engine/coordinator/dispatching.py): a with-items task of
`--items` items, each returning a small dict, simulated on behaviour 4 and on 5,
interleaved, CPU time, best of `--repeat`.

    python benchmarks/item_results.py [--items N] [--repeat R]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.coordinator.behaviour import Behaviour
from engine.language.loader import load_workflow
from engine.simulator.mocks import MockEntry
from engine.simulator.waves import simulate


def main(args: argparse.Namespace) -> None:
    spec = load_workflow(
        f"""
version: 1
tasks:
  each:
    with:
      items: <% [1..{args.items}] %>
      concurrency: 50
    action: bench.check
""",
        "items.yaml",
    )
    result = {"status": 200, "host": "alpha.example", "latency_ms": 12.5}
    best = {Behaviour.EXPLAINED: float("inf"), Behaviour.TIMED: float("inf")}
    for _ in range(args.repeat):
        for behaviour in best:
            gc.collect()
            began = time.process_time()
            mocks = [MockEntry(task="each", result=result)]
            outcome = simulate(spec, {}, mocks, behaviour=behaviour)
            best[behaviour] = min(best[behaviour], time.process_time() - began)
            assert outcome.status == "succeeded", outcome.errors
    for behaviour, seconds in best.items():
        print(f"behaviour {int(behaviour)}: {seconds:.3f} s CPU for {args.items:,} items")
    ratio = best[Behaviour.TIMED] / best[Behaviour.EXPLAINED]
    print(f"ratio 5/4: {ratio:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    main(parser.parse_args())
