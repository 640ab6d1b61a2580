"""The approval example reports who decided, however it was decided (issue 13, point 9:
a rejection used to read `decided_by: "timeout"`)."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "approval.yaml"

DECISIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "approved by ada": (
        {"task": "approve", "result": {"approved": True, "by": "ada"}},
        {"applied": True, "decided_by": "ada"},
    ),
    "rejected by bob": (
        {
            "task": "approve",
            "status": "failed",
            "error": {"type": "rejected", "message": "not now", "details": {"by": "bob"}},
        },
        {"applied": False, "decided_by": "bob"},
    ),
    "rejected without a name": (
        {"task": "approve", "status": "failed", "error": {"type": "rejected", "message": "x"}},
        {"applied": False, "decided_by": "a reviewer"},
    ),
    "nobody answered": (
        {"task": "approve", "status": "failed", "error": {"type": "timeout", "message": "late"}},
        {"applied": False, "decided_by": "timeout"},
    ),
}


@pytest.mark.parametrize("name", list(DECISIONS))
def test_the_example_says_who_decided(name: str, tmp_path: Path) -> None:
    mock, output = DECISIONS[name]
    mocks = tmp_path / "decision.mocks.yaml"
    mocks.write_text(yaml.safe_dump([mock]))
    printed = io.StringIO()
    with redirect_stdout(printed):
        main(["simulate", str(EXAMPLE), "--mocks", str(mocks), "--json"])
    outcome = json.loads(printed.getvalue())
    assert (outcome["status"], outcome["output"]) == ("succeeded", output)
