"""Every evaluation is bounded in steps, depth, items and characters, deterministically
and before it allocates (engine/expressions/budget.py). Each hostile expression below
ends with an expression error that says which limit it met, within a CPU-time and a
memory bound — where the same expressions used to take a worker to gigabytes."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from engine.expressions import ExpressionError, Limits, Scope
from engine.expressions.budget import DEFAULT_LIMITS
from engine.expressions.runtime import CompiledExpression

DOUBLE = "($f := function($v, $n){{ $n = 0 ? {last} : $f({step}, $n - 1) }}; $f({seed}, 40))"

HOSTILE: dict[str, tuple[str, str]] = {
    "two ranges of ten million": (
        "$count([1..10000000, 1..10000000])",
        "more than 1,000,000 items",
    ),
    "a hundred-million-character pad": ('$pad("", 100000000)', "characters in all"),
    "`&` doubling a string": (
        DOUBLE.format(last="$v", step="$v & $v", seed='"x"'),
        "characters in all",
    ),
    "$join doubling a string": (
        DOUBLE.format(last="$v", step="$join([$v, $v])", seed='"x"'),
        "characters in all",
    ),
    "$replace quadrupling a string": (
        DOUBLE.format(last="$v", step='$replace($v, "x", "xxxx")', seed='"x"'),
        "characters in all",
    ),
    "$append doubling a list": (
        DOUBLE.format(last="$count($v)", step="$append($v, $v)", seed="[1]"),
        "items in all",
    ),
    "an array constructor doubling a list": (
        DOUBLE.format(last="$count($v)", step="[$v, $v]", seed='["x"]'),
        "items in all",
    ),
    # Objects hold references: 40 doublings are small in memory, 2**40 leaves written out.
    "shared references, written out": (
        DOUBLE.format(last="$v", step='{"a": $v, "b": $v}', seed='"x"'),
        "result is over the limit",
    ),
    "shared references, as a string": (
        "$string(" + DOUBLE.format(last="$v", step='{"a": $v, "b": $v}', seed='"x"') + ")",
        "characters in all",
    ),
    "shared references, concatenated": (
        '"" & ' + DOUBLE.format(last="$v", step='{"a": $v, "b": $v}', seed='"x"'),
        "characters in all",
    ),
    "a loop without end": ("($f := function($n){ $f($n + 1) }; $f(0))", "evaluation steps"),
    "recursion without end": (
        "($f := function($n){ 1 + $f($n + 1) }; $f(0))",
        "nests deeper than 500",
    ),
}
CPU_SECONDS = 3.0
PEAK_BYTES = 64 * 1024 * 1024


def _scope(limits: Limits = DEFAULT_LIMITS) -> Scope:
    return Scope(ctx={}, run={}, now_ms=0, seed="budget", limits=limits)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_expression_stops_within_its_budget(name: str) -> None:
    source, fragment = HOSTILE[name]
    expression = CompiledExpression(source)
    started = time.process_time()
    with pytest.raises(ExpressionError) as stopped:
        expression.evaluate(_scope())
    elapsed = time.process_time() - started
    assert fragment in str(stopped.value), str(stopped.value)
    assert elapsed < CPU_SECONDS, f"{name}: {elapsed:.2f} s of CPU"
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionError):
            expression.evaluate(_scope())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BYTES, f"{name}: {peak / 2**20:.0f} MiB at the peak"


WITHIN: dict[str, tuple[str, object]] = {
    "a range of a hundred thousand": ("$count([1..100000])", 100000),
    "a padded string": ('$length($pad("x", 1000, "-"))', 1000),
    "a joined list": ('$join(["a", "b", "c"], "-")', "a-b-c"),
    "a replaced string": ('$replace("a.b.c", ".", "::")', "a::b::c"),
    "a replaced string, twice at most": ('$replace("a.b.c.d", ".", "::", 2)', "a::b::c.d"),
    "a replaced string, no more than none": ('$replace("a.b", ".", "::", 0)', "a.b"),
    "a replacement with a group": ('$replace("abc", /(b)/, "[$1]")', "a[b]c"),
    "an appended list": ("$append([1, 2], [3])", [1, 2, 3]),
    "a string of an object": ('$string({"a": [1, 2]})', '{"a":[1,2]}'),
    "a loop of a thousand": ("($f := function($n){ $n = 0 ? 0 : $f($n - 1) }; $f(1000))", 0),
}


@pytest.mark.parametrize("name", list(WITHIN))
def test_ordinary_expressions_are_not_stopped(name: str) -> None:
    source, expected = WITHIN[name]
    assert CompiledExpression(source).evaluate(_scope()) == expected


def test_the_budget_counts_steps_not_time() -> None:
    """The same expression stops at the same place however slow the machine: a replay
    on a busier worker decides as the first run did."""
    loop = CompiledExpression("($f := function($n){ $n = 0 ? 0 : $f($n - 1) }; $f(3000))")
    assert loop.evaluate(_scope(Limits(max_steps=100_000))) == 0
    for _ in range(3):
        with pytest.raises(ExpressionError, match="more than 10,000 evaluation steps"):
            loop.evaluate(_scope(Limits(max_steps=10_000)))
