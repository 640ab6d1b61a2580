"""`segue simulate --temporal` agrees with `segue simulate` on every case.

Each conformance case (and each of the engine's semantic cases) runs through the real
interpreter workflow and worker on the real dev server, with the mocks served as
action results; status, output, errors and the multiset of executions must match the
in-process simulation.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.language.loader import load_workflow
from engine.simulator.mocks import parse_mocks
from engine.simulator.waves import simulate
from engine.temporal.simulation import simulate_on_temporal, simulation_worker
from tests.conformance.test_conformance import CONFORMANCE
from tests.support.temporal import BackgroundLoop

pytestmark = pytest.mark.temporal
SEMANTICS = Path(__file__).resolve().parents[1] / "semantics"


def _all_cases() -> list[Any]:
    params = []
    for cases_file in sorted(CONFORMANCE.glob("*.cases.yaml")):
        workflow = cases_file.with_name(cases_file.name.replace(".cases.yaml", ".yaml"))
        for case in yaml.safe_load(cases_file.read_text()):
            params.append(
                pytest.param(
                    workflow.read_text(), workflow.stem, case, id=f"{workflow.stem}::{case['name']}"
                )
            )
    for path in sorted(SEMANTICS.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        for case in document["cases"]:
            params.append(
                pytest.param(
                    document["workflow"],
                    path.stem,
                    case,
                    id=f"semantics/{path.stem}::{case['name']}",
                )
            )
    return params


@pytest.fixture(scope="module")
def worker_queue(
    temporal_address: str, background_loop: BackgroundLoop
) -> Iterator[tuple[Any, str]]:
    context: AbstractAsyncContextManager[tuple[Any, str]] = simulation_worker(temporal_address)
    entered = background_loop.run(context.__aenter__())
    try:
        yield entered
    finally:
        background_loop.run(context.__aexit__(None, None, None))


def _comparable(outcome: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": outcome["status"],
        "output": outcome["output"],
        "errors": sorted(json.dumps(e, sort_keys=True) for e in outcome["errors"]),
        "executions": Counter(
            (e["task"], e["iteration"], e["route"], e["status"]) for e in outcome["sequence"]
        ),
    }


@pytest.mark.parametrize(("text", "name", "case"), _all_cases())
def test_temporal_agrees_with_simulation(
    text: str,
    name: str,
    case: dict[str, Any],
    worker_queue: tuple[Any, str],
    background_loop: BackgroundLoop,
) -> None:
    client, task_queue = worker_queue
    spec = load_workflow(text, f"{name}.yaml", name=name)
    run_input = case.get("input") or {}
    mocks = case.get("mocks") or []
    expected = simulate(spec, run_input, parse_mocks(mocks)).to_json()
    got = background_loop.run(
        simulate_on_temporal(client, task_queue, spec, text, run_input, mocks)
    )
    assert _comparable(got) == _comparable(expected)
