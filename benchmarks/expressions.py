"""What the expression budget costs: an evaluation through jsonata-python with the
budget's per-node hooks (as every evaluation runs now) against the same evaluation
without them. Expressions the direct evaluator handles (engine/expressions/native.py)
never reach jsonata-python and pay nothing.

    python benchmarks/expressions.py [--repeat 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.expressions.budget import Budget, spending
from engine.expressions.runtime import CompiledExpression, Scope, _bindings

CASES = {
    "filter, map and join over 50 objects": '$join($ctx.items[v > 10].name, ",")',
    "sum over a mapped list": "$sum($ctx.items.(v * 2))",
    "a small loop (function)": "($f := function($n){ $n = 0 ? 0 : $f($n - 1) }; $f(50))",
}


def _per_call_us(run: object, repeat: int) -> float:
    assert callable(run)
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            run()
        samples.append((time.perf_counter() - started) / repeat * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    scope = Scope(
        ctx={"items": [{"name": f"n{i}", "v": i} for i in range(50)]},
        run={},
        now_ms=0,
        seed="bench",
    )
    print(f"{'expression':40} {'budget µs':>10} {'no hooks µs':>12} {'ratio':>6}")
    for name, source in CASES.items():
        expression = CompiledExpression(source)

        def guarded(expression: CompiledExpression = expression) -> None:
            expression.evaluate_with_jsonata(scope)

        def unhooked(expression: CompiledExpression = expression) -> None:
            with spending(Budget(scope.limits)):
                expression._compiled.evaluate(None, _bindings(scope, expression._names))

        with_hooks = _per_call_us(guarded, args.repeat)
        without = _per_call_us(unhooked, args.repeat)
        print(f"{name:40} {with_hooks:10.0f} {without:12.0f} {with_hooks / without:6.2f}")


if __name__ == "__main__":
    main()
