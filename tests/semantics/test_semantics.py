"""The engine's own semantic cases: a workflow and runs in one YAML file each, in the
conformance format (plus `sequence`, `errors` and `exact_error_types`). Each case also
runs with the coordinator rebuilt from its serialised state after every event, and
must give the same outcome. A case's `rerun` (its own `mocks` and `expect`, and maybe a
`rerun` of its own) runs again from where the failed run stopped; `rerun: none` says
the run leaves nothing to rerun."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from engine.coordinator.rerun import RerunPoint
from engine.language.loader import load_workflow
from engine.language.spec import WorkflowSpec
from engine.simulator.mocks import parse_mocks
from engine.simulator.waves import Simulation, simulate
from tests.conformance.test_conformance import simulate_json
from tests.support.expectations import mismatches

HERE = Path(__file__).parent


def _cases() -> list[Any]:
    params = []
    for path in sorted(HERE.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        for case in document["cases"]:
            params.append(
                pytest.param(path, document["workflow"], case, id=f"{path.stem}::{case['name']}")
            )
    return params


@pytest.mark.parametrize(("path", "workflow", "case"), _cases())
def test_semantic_case(path: Path, workflow: str, case: dict[str, Any], tmp_path: Path) -> None:
    workflow_file = tmp_path / f"{path.stem}.yaml"
    workflow_file.write_text(workflow)
    outcome = simulate_json(
        workflow_file, case.get("input") or {}, case.get("mocks") or [], tmp_path
    )
    assert mismatches(outcome, case["expect"]) == []

    spec = load_workflow(workflow, str(workflow_file))
    restored = simulate(
        spec, case.get("input") or {}, parse_mocks(case.get("mocks") or []), roundtrip_state=True
    )
    assert restored.to_json() == outcome
    for before in (
        restored,
        simulate(spec, case.get("input") or {}, parse_mocks(case.get("mocks") or [])),
    ):
        _check_rerun(spec, case, before, depth=1)


def _check_rerun(spec: WorkflowSpec, case: dict[str, Any], before: Simulation, depth: int) -> None:
    rerun = case.get("rerun")
    if rerun is None:
        return
    if rerun == "none":
        assert before.rerun is None
        return
    assert before.rerun is not None, "the run left no rerun point"
    # As the store keeps it: JSON, read back.
    point = msgspec.json.decode(msgspec.json.encode(before.rerun), type=RerunPoint)
    mocks = rerun.get("mocks") or []
    again = simulate(spec, {}, parse_mocks(mocks), run_id=f"rerun-{depth}", rerun=point)
    assert mismatches(again.to_json(), rerun["expect"]) == []
    restored = simulate(
        spec, {}, parse_mocks(mocks), run_id=f"rerun-{depth}", rerun=point, roundtrip_state=True
    )
    assert restored.to_json() == again.to_json()
    _check_rerun(spec, rerun, again, depth + 1)
