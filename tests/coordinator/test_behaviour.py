"""A run keeps the coordinator behaviour it started on (engine/coordinator/behaviour.py):
the same workflow decides differently on behaviour 1 and 2, a snapshot carries the
behaviour across continue-as-new, and a snapshot written before behaviours were recorded
goes on as behaviour 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from engine.coordinator.behaviour import CURRENT_BEHAVIOUR, Behaviour
from engine.coordinator.snapshot import state_from_builtins, state_to_builtins
from engine.coordinator.state import CoordinatorState
from engine.language.loader import load_workflow
from engine.simulator.waves import simulate

JOINS = (Path(__file__).parents[1] / "temporal" / "histories" / "joins.yaml").read_text()


def _tasks(behaviour: Behaviour, *, roundtrip: bool = False) -> list[str]:
    spec = load_workflow(JOINS, "joins.yaml")
    outcome = simulate(spec, {}, [], behaviour=behaviour, roundtrip_state=roundtrip)
    assert outcome.status == "succeeded"
    return sorted(entry.task for entry in outcome.sequence)


def test_each_behaviour_decides_as_it_did() -> None:
    """Behaviour 1 took each transition into the join as an arrival: a source with two
    transitions into a `join: 1` started it twice. Behaviour 2 starts it once."""
    once = ["fork", "meet", "quick", "slow", "slow_2"]
    assert _tasks(Behaviour.ORIGINAL) == sorted([*once, "meet"])
    assert _tasks(CURRENT_BEHAVIOUR) == once


def test_the_behaviour_survives_every_snapshot() -> None:
    assert _tasks(Behaviour.ORIGINAL, roundtrip=True) == _tasks(Behaviour.ORIGINAL)
    assert _tasks(CURRENT_BEHAVIOUR, roundtrip=True) == _tasks(CURRENT_BEHAVIOUR)
    state = CoordinatorState(behaviour=CURRENT_BEHAVIOUR)
    encoded = msgspec.json.decode(msgspec.json.encode(state_to_builtins(state)))
    assert state_from_builtins(encoded).behaviour is CURRENT_BEHAVIOUR


def test_a_snapshot_from_before_behaviours_goes_on_as_behaviour_1() -> None:
    written: dict[str, Any] = state_to_builtins(CoordinatorState())
    del written["behaviour"]
    written["contexts"] = [[{"x": 1}, {"x": 3}]]  # rows had no forks then
    written["barriers"] = [["meet", 0, ["left", "right"], 0, False]]  # names, no executions
    state = state_from_builtins(written)
    assert state.behaviour is Behaviour.ORIGINAL
    barrier = state.barriers["meet"][0]
    assert dict(barrier.arrived) == {"left": 0, "right": 0}
    assert (barrier.context.values, barrier.context.stamps, barrier.context.forks) == (
        {"x": 1},
        {"x": 3},
        (),
    )
