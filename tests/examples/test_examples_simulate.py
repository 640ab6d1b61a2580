"""Every example validates, and simulates to the outcome its mocks describe."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from api.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXPECTED: dict[str, tuple[str, Any]] = {
    "monitoring": ("succeeded", {"healthy": True, "checks": 3}),
    "retry-with-cycle": ("succeeded", {"rollbacks": 2}),
    "conditional-loop": ("succeeded", {"pages": 4, "total": 100}),
    "fan-out-join": ("succeeded", {"statuses": {"api": 200, "db": 503, "cache": 200}}),
    "with-items-hosts": ("succeeded", {"answered": 4, "statuses": [200, 503, 200, 200]}),
    "approval": ("succeeded", {"applied": True, "decided_by": "ada"}),
    "child-workflow": ("succeeded", {"greeting": "Hello Ada"}),
}


def test_every_example_is_listed() -> None:
    found = {
        p.stem for p in (ROOT / "examples").glob("*.yaml") if not p.name.endswith(".mocks.yaml")
    }
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_simulates(name: str) -> None:
    workflow = ROOT / "examples" / f"{name}.yaml"
    mocks = workflow.with_name(f"{name}.mocks.yaml")
    assert main(["validate", str(workflow)]) == 0
    arguments = ["simulate", str(workflow), "--json"]
    if mocks.exists():
        arguments += ["--mocks", str(mocks)]
    printed = io.StringIO()
    with redirect_stdout(printed):
        main(arguments)
    outcome = json.loads(printed.getvalue())
    assert (outcome["status"], outcome["output"]) == EXPECTED[name]


def test_catalog_workflows_validate() -> None:
    for path in sorted((ROOT / "workflows").glob("*.yaml")):
        assert main(["validate", str(path)]) == 0, path
