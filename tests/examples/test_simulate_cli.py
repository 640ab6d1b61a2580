"""`segue simulate` as a user types it: warnings about mocks that name no task, and
`--strict-mocks`, which refuses to simulate an action task that has no mock."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import run_segue

WORKFLOW = """\
version: 1
tasks:
  fetch:
    action: http.request
    input: {method: GET, url: http://example.invalid}
    next: [{publish: {status: <% $result.status %>}, do: decide}]
  decide:
    next: [{do: report}]
  report:
    workflow: reporting
  never:
    action: core.fail
    next: [{do: never}]
output:
  status: <% $ctx.status %>
"""


def simulate(tmp_path: Path, mocks: str, *options: str) -> subprocess.CompletedProcess[str]:
    workflow = tmp_path / "flow.yaml"
    workflow.write_text(WORKFLOW)
    mocks_file = tmp_path / "mocks.yaml"
    mocks_file.write_text(mocks)
    return run_segue("simulate", str(workflow), "--mocks", str(mocks_file), *options)


ALL_MOCKED = "- {task: fetch, result: {status: 200}}\n- {task: report, result: done}\n"


def test_a_mock_that_names_no_task_is_a_warning_on_stderr_and_in_json(tmp_path: Path) -> None:
    done = simulate(tmp_path, ALL_MOCKED + "- {task: fecth, status: failed}\n", "--json")
    assert done.returncode == 0, done.stderr
    warning = (
        "mock entry 3: the workflow has no task named 'fecth' (did you mean 'fetch'?); "
        "the entry is never used"
    )
    assert done.stderr == f"segue simulate: warning: {warning}\n"
    outcome = json.loads(done.stdout)
    assert outcome["status"] == "succeeded" and outcome["warnings"] == [warning]
    assert list(outcome)[:4] == ["status", "output", "errors", "sequence"]


def test_the_json_shape_is_unchanged_without_warnings(tmp_path: Path) -> None:
    done = simulate(tmp_path, ALL_MOCKED, "--json", "--strict-mocks")
    assert done.returncode == 0 and done.stderr == ""
    outcome = json.loads(done.stdout)
    assert list(outcome) == ["status", "output", "errors", "sequence"]
    assert outcome["output"] == {"status": 200}


@pytest.mark.parametrize(
    ("mocks", "missing"),
    [
        ("[]\n", "'fetch', 'report'"),
        ("- {task: fetch, iteration: 1, result: {status: 200}}\n", "'report'"),
    ],
)
def test_strict_mocks_refuses_an_action_task_without_a_mock(
    tmp_path: Path, mocks: str, missing: str
) -> None:
    done = simulate(tmp_path, mocks, "--strict-mocks", "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    # The pass-through `decide` and the unreachable `never` need no mock.
    assert done.stderr == (
        f"segue simulate: --strict-mocks: no mock entry for {missing}; every task that can "
        "run an action or a child workflow needs one\n"
    )


def test_transitions_lists_every_evaluated_transition_names_only(tmp_path: Path) -> None:
    """`--transitions`: the TRANSITION events a real run would trace, in order - the
    published names, never the values (here the status the action returned)."""
    done = simulate(tmp_path, ALL_MOCKED, "--transitions")
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("transitions:\n", 1)[1].splitlines()
    assert listed == [
        "  fetch next[0] taken -> decide  [iteration 1, route 0]",
        "  decide next[0] taken -> report  [iteration 1, route 0]",
    ]
    outcome = json.loads(simulate(tmp_path, ALL_MOCKED, "--json", "--transitions").stdout)
    assert [
        (t["execution"]["task"], t["transition"], t["taken"], t["published"], t["targets"])
        for t in outcome["transitions"]
    ] == [("fetch", 0, True, ["status"], ["decide"]), ("decide", 0, True, [], ["report"])]
    assert "200" not in json.dumps(outcome["transitions"])
    # Without the option, neither output says anything of transitions.
    assert "transitions" not in json.loads(simulate(tmp_path, ALL_MOCKED, "--json").stdout)
