"""The notices that explain each transition (transitions.yaml): evaluated, taken or
not, the `when` value, published names (never values), targets and engine commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import TransitionEvaluated
from engine.language.loader import load_workflow
from engine.simulator.mocks import parse_mocks
from engine.simulator.waves import simulate
from tests.support.expectations import matches

CASES = yaml.safe_load((Path(__file__).parent / "transitions.yaml").read_text())


def _view(notice: TransitionEvaluated) -> dict[str, Any]:
    """A notice as the cases write it: `from` is task#iteration."""
    data: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(notice))
    ref = data.pop("execution")
    data.pop("command")
    return {"from": f"{ref['task']}#{ref['iteration']}", "route": ref["route"], **data}


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_transition_notices(case: dict[str, Any]) -> None:
    spec = load_workflow(case["workflow"], "transitions.yaml", name="transitions")
    behaviour = Behaviour(case.get("behaviour", max(Behaviour)))
    outcome = simulate(spec, {}, parse_mocks(case["mocks"]), behaviour=behaviour)
    got = [_view(notice) for notice in outcome.transitions]
    expected = [{"route": 0, "when": None, **entry} for entry in case["expect"]]
    assert outcome.status == case.get("status", "succeeded"), outcome.errors
    if "errors" in case:
        assert matches(case["errors"], [entry.to_json() for entry in outcome.errors])
    assert len(got) == len(expected), got
    for wanted, notice in zip(expected, got, strict=True):
        assert matches(wanted, notice), (wanted, notice)
