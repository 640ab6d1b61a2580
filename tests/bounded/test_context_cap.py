"""Issue 11: a run's published context is capped (behaviour 3), so publishes cannot grow
the coordinator state, and every snapshot of it, until Temporal refuses it. Each
published value is already under the expression result limit (256 KiB); what grew was
the sum of them."""

from __future__ import annotations

import pytest

from engine.coordinator.behaviour import Behaviour
from engine.coordinator.payloads import MAX_CONTEXT_BYTES, PAYLOAD_TOO_LARGE
from engine.language.loader import load_workflow
from engine.simulator.waves import simulate

CHUNK = 200_000  # characters a task publishes (under the 256 KiB result limit)


def publishing_chain(tasks: int) -> str:
    """`tasks` echo tasks in a chain, task i publishing a 200 KB string as `b<i>`."""
    lines = ["version: 1", "tasks:"]
    for index in range(tasks):
        lines += [
            f"  t{index}:",
            "    action: core.echo",
            "    input:",
            f'      v: <% $pad("", {CHUNK}, "x") %>',
            "    next:",
            f"      - publish: {{b{index}: <% $result.v %>}}",
        ]
        if index + 1 < tasks:
            lines.append(f"        do: t{index + 1}")
    return "\n".join(lines) + "\noutput: {n: <% $count($keys($ctx)) %>}\n"


# (tasks in the chain, behaviour, status, the task that fails, what its error names)
CASES = [
    (2, Behaviour.OBSERVED, "succeeded", None, None),  # 400 KB: under the cap
    (3, Behaviour.OBSERVED, "failed", "t2", "publishing 'b2' makes the run's context"),
    (12, Behaviour.OBSERVED, "failed", "t2", "publishing 'b2' makes the run's context"),
    (12, Behaviour.CLARIFIED, "succeeded", None, None),  # runs started before keep going
]


@pytest.mark.parametrize(("tasks", "behaviour", "status", "task", "named"), CASES)
def test_a_context_over_the_cap_fails_the_publishing_task(
    tasks: int, behaviour: Behaviour, status: str, task: str | None, named: str | None
) -> None:
    spec = load_workflow(publishing_chain(tasks), "grow.yaml")
    outcome = simulate(spec, {}, [], behaviour=behaviour, roundtrip_state=True)
    assert outcome.status == status, outcome.errors
    if named is None:
        assert outcome.output == {"n": tasks}
        return
    (error,) = outcome.errors
    assert (error.type, error.task) == (PAYLOAD_TOO_LARGE, task)
    assert named in error.message and f"{MAX_CONTEXT_BYTES:,}" in error.message
    assert "next[0].publish" in error.message
    # Nothing after the failing publish ran.
    assert [entry.task for entry in outcome.sequence] == [f"t{i}" for i in range(int(task[1:]) + 1)]
