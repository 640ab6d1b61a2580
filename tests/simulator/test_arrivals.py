"""The order `segue simulate --temporal` serves mocked completions in: the simulator's,
wave by wave (engine/simulator/arrivals.py)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.actions.builtin import workflow_actions
from engine.language.loader import load_workflow
from engine.simulator.arrivals import completion_order
from engine.simulator.mocks import parse_mocks

WORKFLOW = """
version: 1
tasks:
  fork: {action: core.noop, next: [{do: [a, b]}]}
  a: {action: svc.a, retry: {count: 1}, next: [{do: c}]}
  b: {action: svc.b}
  c: {action: svc.c}
"""


def _activity(task: str, action: str) -> bool:
    return action not in workflow_actions()


CASES: list[
    tuple[str, list[dict[str, Any]], list[tuple[str, int, int | None]], list[list[int]]]
] = [
    # fork is inline: the workflow completes it, never the harness. a and b complete in
    # one wave; c, started by a, in the next.
    (
        "a and b together, then c",
        [],
        [("a", 1, None), ("b", 1, None), ("c", 1, None)],
        [[0, 1], [2]],
    ),
    # a's second attempt (a retry: the delay fires at once) completes in the wave after b.
    (
        "a retried: its second attempt in the next wave, with nothing else",
        [{"task": "a", "status": "failed", "times": 1}],
        [("a", 1, None), ("b", 1, None), ("a", 1, None), ("c", 1, None)],
        [[0, 1], [2], [3]],
    ),
    # An attempt served `running` never completes: nothing waits for it.
    (
        "b never completes",
        [{"task": "b", "status": "running"}],
        [("a", 1, None), ("c", 1, None)],
        [[0], [1]],
    ),
]


@pytest.mark.parametrize(("name", "mocks", "attempts", "waves"), CASES, ids=[c[0] for c in CASES])
def test_the_order_is_the_simulators(
    name: str,
    mocks: list[dict[str, Any]],
    attempts: list[tuple[str, int, int | None]],
    waves: list[list[int]],
) -> None:
    spec = load_workflow(WORKFLOW, "arrivals.yaml", name="arrivals")
    order = completion_order(spec, {}, parse_mocks(mocks), _activity)
    assert list(order.attempts) == attempts
    assert order.grouped() == waves
