"""Compare a simulation's JSON outcome with a case's `expect` block (conformance format,
plus `sequence` and `errors` for the engine's own semantic cases)."""

from __future__ import annotations

from collections import Counter
from typing import Any


def matches(expected: Any, actual: Any) -> bool:
    """`expected` is a subset of `actual`: mappings by the keys given, lists item by item,
    and a string starting with `~` matches any string that contains the rest."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and matches(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            matches(e, a) for e, a in zip(expected, actual, strict=True)
        )
    if isinstance(expected, str) and isinstance(actual, str) and expected.startswith("~"):
        return expected[1:] in actual
    if isinstance(expected, float) or isinstance(actual, float):
        return bool(expected == actual)
    return bool(expected == actual and type(expected) is type(actual))


def mismatches(outcome: dict[str, Any], expect: dict[str, Any]) -> list[str]:
    """Every way the outcome differs from the expectation (empty when it matches)."""
    problems: list[str] = []
    if outcome["status"] != expect["status"]:
        problems.append(f"status: got {outcome['status']!r}, expected {expect['status']!r}")
    if "output" in expect and outcome["output"] != expect["output"]:
        problems.append(f"output: got {outcome['output']!r}, expected {expect['output']!r}")
    types = [entry["type"] for entry in outcome["errors"]]
    for wanted in expect.get("error_types", []):
        if wanted not in types:
            problems.append(f"error type {wanted!r} missing from {types}")
    if "exact_error_types" in expect and sorted(types) != sorted(expect["exact_error_types"]):
        problems.append(f"error types: got {types}, expected {expect['exact_error_types']}")
    for wanted_entry in expect.get("errors", []):
        if not any(matches(wanted_entry, entry) for entry in outcome["errors"]):
            problems.append(f"no error entry matches {wanted_entry!r} in {outcome['errors']!r}")
    tasks = [entry["task"] for entry in outcome["sequence"]]
    if "tasks" in expect and dict(Counter(tasks)) != expect["tasks"]:
        problems.append(f"tasks: got {dict(Counter(tasks))}, expected {expect['tasks']}")
    if "order" in expect and tasks != expect["order"]:
        problems.append(f"order: got {tasks}, expected {expect['order']}")
    if "sequence" in expect:
        got = [
            [entry["task"], entry["iteration"], entry["route"], entry["status"]]
            for entry in outcome["sequence"]
        ]
        if got != expect["sequence"]:
            problems.append(f"sequence: got {got}, expected {expect['sequence']}")
    return problems
