"""A deterministic budget for one JSONata evaluation: counts, never the clock.

An evaluation may take so many evaluation steps, nest so deep, build lists of so many
items and strings of so many characters in all. Everything is counted, so a replay on
a slower or busier worker decides exactly as the first run did, and every allocation
that could grow out of proportion to the expression (ranges, `$pad`, `&`, `$join`,
`$string`, `$replace`, `$append`) is charged *before* it is made. The defaults keep the
worst case near one second of CPU and a few tens of MiB on the reference machine
(docs/reliability.md, "Expression budget"; `tests/expressions/test_budget.py`).
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

from jsonata import Jsonata
from jsonata.functions import Functions


@dataclass(frozen=True, slots=True)
class Limits:
    """Guardrails for one evaluation."""

    max_steps: int = 200_000  # expression nodes evaluated (~0.8 s of CPU here)
    max_depth: int = 500  # nested evaluations (recursion)
    max_items: int = 1_000_000  # list items built by ranges and `$append`
    max_chars: int = 4 * 1024 * 1024  # characters of the strings built
    max_result_bytes: int = 256 * 1024  # the value an expression gives, as JSON


DEFAULT_LIMITS: Final = Limits()


class BudgetExceeded(Exception):
    """An evaluation went over one of its limits; the message says which."""


class Budget:
    """What one evaluation has spent."""

    __slots__ = ("chars", "depth", "items", "limits", "steps")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.steps = 0
        self.depth = 0
        self.items = 0
        self.chars = 0

    # The evaluator's entry and exit hooks (bound as `__evaluate_entry`/`__evaluate_exit`).
    def enter(self, _expr: Any, _input: Any, env: Any) -> None:
        if env.is_parallel_call:
            return
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise BudgetExceeded(f"it nests deeper than {self.limits.max_depth} evaluations")
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise BudgetExceeded(f"it took more than {self.limits.max_steps:,} evaluation steps")

    def leave(self, _expr: Any, _input: Any, env: Any, _result: Any) -> None:
        if not env.is_parallel_call:
            self.depth -= 1

    def charge_items(self, count: int, what: str) -> None:
        self.items += count
        if self.items > self.limits.max_items:
            raise BudgetExceeded(
                f"{what} would build lists of more than {self.limits.max_items:,} items in all"
            )

    def charge_chars(self, count: int, what: str) -> None:
        self.chars += count
        if self.chars > self.limits.max_chars:
            raise BudgetExceeded(
                f"{what} would build strings of more than {self.limits.max_chars:,} "
                "characters in all"
            )


# The budget of the evaluation under way in this context (set by `spending`).
_CURRENT: ContextVar[Budget | None] = ContextVar("segue_expression_budget", default=None)


class spending:
    """`with spending(budget):` charges what the evaluation inside builds to `budget`."""

    __slots__ = ("_budget", "_token")

    def __init__(self, budget: Budget) -> None:
        self._budget = budget

    def __enter__(self) -> Budget:
        self._token = _CURRENT.set(self._budget)
        return self._budget

    def __exit__(self, *_: object) -> None:
        _CURRENT.reset(self._token)


def _budget() -> Budget:
    budget = _CURRENT.get()
    if budget is None:  # evaluated outside `spending`: the defaults still hold
        budget = Budget(DEFAULT_LIMITS)
        _CURRENT.set(budget)
    return budget


def serialised_length(value: Any, ceiling: int) -> int:
    """An upper estimate of `value`'s length as JSON text, walked without recursion and
    given up past `ceiling`: a value built of shared references may be exponentially
    larger written out than held in memory, and must not be written out to find out."""
    total = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2 + 2 * len(item)
            for key, member in item.items():
                total += len(str(key)) + 2
                pending.append(member)
        elif isinstance(item, (list, tuple, range)):
            total += 2 + len(item)
            pending.extend(item)
        else:
            total += 8  # numbers, booleans, null: most are shorter; the caller allows slack
        if total > ceiling:
            return total
    return total


def _stringified_length(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if value is None:
        return 0
    return serialised_length(value, _budget().limits.max_chars + 1)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class BoundedJsonata(Jsonata):  # type: ignore[misc]  # jsonata-python is untyped
    """jsonata-python's evaluator with the two operators that allocate charged first."""

    def evaluate_range_expression(self, lhs: Any, rhs: Any) -> Any:
        if _integer(lhs) and _integer(rhs) and int(rhs) >= int(lhs):
            _budget().charge_items(int(rhs) - int(lhs) + 1, f"the range [{lhs}..{rhs}]")
        return super().evaluate_range_expression(lhs, rhs)

    def evaluate_unary(self, expr: Any, input: Any, environment: Any) -> Any:
        result = super().evaluate_unary(expr, input, environment)
        if getattr(expr, "value", None) == "[" and isinstance(result, list):
            # An array constructor flattens the arrays in it: `[$v, $v]` doubles `$v`.
            # Charged once built, so a run of doublings stops within twice the budget.
            _budget().charge_items(len(result), "an array constructor")
        return result

    def evaluate_string_concat(self, lhs: Any | None, rhs: Any | None) -> str:
        _budget().charge_chars(_stringified_length(lhs) + _stringified_length(rhs), "`&`")
        result: str = super().evaluate_string_concat(lhs, rhs)
        return result


class _BoundedFunctions:
    """Built-in functions whose result can outgrow their arguments, charged first."""

    @staticmethod
    def pad(string: str | None, width: int | None, char: str | None) -> str | None:
        if isinstance(string, str) and isinstance(width, (int, float)):
            _budget().charge_chars(max(len(string), abs(int(width))), "$pad")
        result: str | None = Functions.pad(string, width, char)
        return result

    @staticmethod
    def join(strings: Any | None, separator: str | None) -> str | None:
        if isinstance(strings, list):
            size = sum(len(s) for s in strings if isinstance(s, str))
            size += len(separator or "") * max(0, len(strings) - 1)
            _budget().charge_chars(size, "$join")
        result: str | None = Functions.join(strings, separator)
        return result

    @staticmethod
    def string(value: Any | None, prettify: bool | None) -> str | None:
        size = _stringified_length(value)
        _budget().charge_chars(size * (3 if prettify else 1), "$string")
        result: str | None = Functions.string(value, prettify)
        return result

    @staticmethod
    def replace(
        string: str | None, pattern: Any, replacement: Any | None, limit: int | None
    ) -> str | None:
        if isinstance(string, str) and isinstance(replacement, str):
            if isinstance(pattern, str):
                found = string.count(pattern) if pattern else len(string) + 1
            elif isinstance(pattern, re.Pattern):
                found = sum(1 for _ in pattern.finditer(string))
            else:
                found = len(string) + 1
            if limit is not None and limit >= 0:
                found = min(found, int(limit))
            _budget().charge_chars(len(string) + found * len(replacement), "$replace")
            if isinstance(pattern, str) and pattern and "$" not in replacement:
                # The same result as jsonata-python's, at C speed: it works match by
                # match in Python (4 µs a match here), which a budget of characters
                # alone would let run for seconds.
                count = -1 if limit is None else int(limit)
                return string.replace(pattern, replacement, count) if count != 0 else string
        result: str | None = Functions.replace(string, pattern, replacement, limit)
        return result

    @staticmethod
    def append(first: Any | None, second: Any | None) -> Any | None:
        count = sum(len(a) if isinstance(a, list) else 1 for a in (first, second) if a is not None)
        _budget().charge_items(count, "$append")
        return Functions.append(first, second)


# name -> (signature, as jsonata-python declares it): the same argument checks apply.
_BOUNDED: Final[dict[str, str]] = {
    "pad": "<s-ns?:s>",
    "join": "<a<s>s?:s>",
    "string": "<x-b?:s>",
    "replace": "<s-(sf)(sf)n?:s>",
    "append": "<xx:a>",
}
_NATIVES: Final[dict[str, Any]] = {
    name: Jsonata.function(name, signature, _BoundedFunctions, name)
    for name, signature in _BOUNDED.items()
}


def compile_bounded(source: str) -> BoundedJsonata:
    """Parse `source` with the bounded built-ins in its own environment."""
    compiled = BoundedJsonata(source)
    for name, native in _NATIVES.items():
        compiled.environment.bind(name, native)
    return compiled
