"""Every case of the shared conformance suite, run through `segue simulate --json`.

The cases live beside the repository in `shared/conformance/` (or where
SEGUE_CONFORMANCE_DIR points); new cases there are picked up automatically.
"""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.cli.main import main
from tests.support.expectations import mismatches

REPO = Path(__file__).resolve().parents[2]
CONFORMANCE = Path(os.environ.get("SEGUE_CONFORMANCE_DIR", REPO.parent / "shared" / "conformance"))


def _cases() -> list[Any]:
    if not CONFORMANCE.is_dir():
        return [pytest.param(None, None, id="conformance-directory-missing")]
    params = []
    for cases_file in sorted(CONFORMANCE.glob("*.cases.yaml")):
        workflow = cases_file.with_name(cases_file.name.replace(".cases.yaml", ".yaml"))
        for case in yaml.safe_load(cases_file.read_text()):
            params.append(pytest.param(workflow, case, id=f"{workflow.stem}::{case['name']}"))
    return params


def simulate_json(workflow: Path, run_input: Any, mocks: Any, tmp_path: Path) -> dict[str, Any]:
    """Run `segue simulate FILE --input @… --mocks … --json` and parse what it prints."""
    input_file = tmp_path / "input.json"
    mocks_file = tmp_path / "mocks.json"
    input_file.write_text(json.dumps(run_input))
    mocks_file.write_text(json.dumps(mocks))
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = main(
            [
                "simulate",
                str(workflow),
                "--input",
                f"@{input_file}",
                "--mocks",
                str(mocks_file),
                "--json",
            ]
        )
    outcome: dict[str, Any] = json.loads(printed.getvalue())
    assert code == (0 if outcome["status"] == "succeeded" else 1)
    return outcome


@pytest.mark.parametrize(("workflow", "case"), _cases())
def test_conformance_case(
    workflow: Path | None, case: dict[str, Any] | None, tmp_path: Path
) -> None:
    assert workflow is not None and case is not None, f"no conformance cases at {CONFORMANCE}"
    outcome = simulate_json(workflow, case.get("input") or {}, case.get("mocks") or [], tmp_path)
    assert mismatches(outcome, case["expect"]) == []
