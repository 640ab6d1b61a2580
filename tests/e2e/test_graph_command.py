"""`segue graph FILE`: a workflow's graph as the installed command prints it, in each
format, from the same model the API serves (`GET /workflows/{name}/graph`; the by-name
case runs against a stack in test_cli_commands)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.devstack import SEGUE
from tests.support.processes import ROOT, clean_env

# A join, a cycle that turns back, an engine command, a transition that names nothing,
# and a `when` with the characters DOT and Mermaid must escape.
DEPLOY = """\
version: 1
start: [build]
tasks:
  build:
    action: core.echo
    next:
      - when: <% $succeeded() %>
        do: [test, lint]
      - when: $failed()
        do: fail
  test:
    action: core.echo
    next: [{do: ready}]
  lint:
    next: [{do: ready}]
  ready:
    join: all
    next: [{do: ship}]
  ship:
    action: core.echo
    max_iterations: 5
    next:
      - when: $failed() and $error.type = "flaky\\\\net"
        do: retry_ship
      - when: $succeeded()
        publish: {shipped: true}
  retry_ship:
    next: [{do: ship}]
"""

DEPLOY_TEXT = """\
workflow deploy (FILE): 6 tasks
  start → build
  ↻ on a cycle (may run again): ship, retry_ship

build  action core.echo
  [0] when $succeeded() → test, lint
  [1] when $failed() → fail

test  action core.echo
  [0] always → ready

lint  (no action)
  [0] always → ready

ready  join all of 2 sources
  [0] always → ship

ship  action core.echo ↻
  [0] when $failed() and $error.type = "flaky\\\\net" → retry_ship
  [1] when $succeeded() → continue

retry_ship  (no action) ↻
  [0] always → ship ↻
"""


def graph(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SEGUE, "graph", *args], env=clean_env(), cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    file = tmp_path / "deploy.yaml"
    file.write_text(DEPLOY)
    return file


def test_terminal_text_lists_tasks_transitions_joins_and_cycles(deploy: Path) -> None:
    shown = graph(str(deploy))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == DEPLOY_TEXT.replace("FILE", str(deploy))


def test_json_is_the_api_model(deploy: Path) -> None:
    shown = graph(str(deploy), "--format", "JSON")  # formats in any case, as statuses
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    assert (view["name"], view["version"], view["entries"]) == ("deploy", 0, ["build"])
    nodes = {node["id"]: node for node in view["nodes"]}
    assert [name for name, node in nodes.items() if node.get("cycle")] == ["ship", "retry_ship"]
    assert nodes["ready"]["kind"] == "join" and nodes["ready"]["join"] == "all"
    assert nodes["build"]["next"][1] == {"transition": 1, "when": "$failed()", "do": ["fail"]}
    assert nodes["ship"]["next"][1] == {"transition": 1, "when": "$succeeded()", "do": []}
    edges = {(edge["from"], edge["to"], edge["transition"]) for edge in view["edges"]}
    assert ("build", "test", 0) in edges and ("retry_ship", "ship", 0) in edges
    assert not any(edge["to"] == "fail" for edge in view["edges"])  # commands are no nodes
    assert graph(str(deploy), "--format", "mermaid").stdout == view["mermaid"]


def test_dot_escapes_labels_and_marks_joins_and_cycles(deploy: Path) -> None:
    shown = graph(str(deploy), "--format", "dot")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == 'digraph "deploy" {' and lines[-1] == "}"
    assert '  n3 [label="ready\\njoin all of 2 sources", shape=hexagon];' in lines
    assert '  n4 [label="ship\\naction core.echo ↻", style="rounded,bold"];' in lines
    assert "  start -> n0;" in lines
    assert '  n4 -> n5 [label="$failed() and $error.type = \\"flaky\\\\\\\\net\\""];' in lines


def test_mermaid_marks_the_cycle(deploy: Path) -> None:
    lines = graph(str(deploy), "--format", "mermaid").stdout.splitlines()
    assert lines[0] == "flowchart TD"
    assert lines[-2:] == ["    classDef cycle stroke-dasharray: 5 3", "    class n4,n5 cycle"]


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["nosuchfile.yaml"], 2, "segue graph: no such file: nosuchfile.yaml"),
        (["dir/nosuch"], 2, "segue graph: no such file: dir/nosuch"),
        (["a b?"], 2, "segue graph: 'a b?' is neither a file nor a workflow name"),
        (["x" * 200], 2, "is neither a file nor a workflow name"),
        (["examples/monitoring.yaml", "--format", "png"], 2, "invalid choice: 'png'"),
        (["examples/monitoring.yaml", "--version", "2"], 2, "--version is for a registered"),
        (["some_flow", "--version", "0"], 2, "a version is a number from 1 to 2147483647"),
        (["some_flow", "--version", "2147483648"], 2, "a version is a number from 1 to"),
        (["not_registered", "--api", "http://127.0.0.1:9"], 1, "segue graph: GET http"),
    ],
)
def test_bad_arguments_are_one_line(args: list[str], status: int, message: str) -> None:
    shown = graph(*args)
    assert shown.returncode == status and message in shown.stderr
    assert "Traceback" not in shown.stderr and shown.stdout == ""


def test_an_invalid_file_says_where(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ntasks:\n  a:\n    next: [{do: nowhere}]\n")
    shown = graph(str(broken))
    assert shown.returncode == 1 and shown.stdout == ""
    assert f"{broken}:4:" in shown.stderr and "nowhere" in shown.stderr
    assert shown.stderr.splitlines()[-1].endswith("not a valid workflow (see `segue validate`)")


def test_every_example_draws() -> None:
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        if example.name.endswith(".mocks.yaml"):
            continue
        for form in ("text", "dot", "json", "mermaid"):
            shown = graph(str(example), "--format", form)
            assert shown.returncode == 0 and shown.stdout, (example, form, shown.stderr)


def test_more_tasks_than_registration_takes_are_refused_before_compiling(tmp_path: Path) -> None:
    tasks = "".join(f"  t{i}:\n    next: [{{do: t{i + 1}}}]\n" for i in range(1000))
    huge = tmp_path / "huge.yaml"
    huge.write_text(f"version: 1\nstart: [t0]\ntasks:\n{tasks}  t1000: {{}}\n")
    shown = graph(str(huge))
    assert shown.returncode == 1 and shown.stdout == ""
    assert "the workflow has 1001 tasks; a workflow may have at most 1000" in shown.stderr
