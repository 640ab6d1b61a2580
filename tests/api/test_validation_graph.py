"""`POST /workflows/validate` answers the file's graph as written and the task each
finding falls in, also for a file with errors (the console marks those tasks)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.language.limits import MAX_TASKS
from tests.api.conftest import Harness

BROKEN = """\
version: 1
description: three tasks, two of them broken
tasks:
  first:
    action: core.echo
    input: {x: <% $ctx.( %>}
    next: [{do: second}]
  second:
    action: no.such.action
    next: [{do: "third, missing"}]
  third:
    action: core.echo
output:
  x: <% $ctx.(( %>
"""


def validate(harness: Harness, text: str) -> dict[str, Any]:
    answer = harness.client.post(
        "/workflows/validate",
        content=text.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def test_findings_name_their_task_and_the_graph_is_drawn_as_written(harness: Harness) -> None:
    report = validate(harness, BROKEN)
    assert not report["valid"]
    found = [(e["line"], e.get("task"), e["message"].split(":")[0]) for e in report["errors"]]
    assert found == [
        (6, "first", "task 'first'"),
        (9, "second", "task 'second'"),
        (10, "second", "task 'second'"),
        (14, None, "output.x"),  # outside every task
    ]
    graph = report["graph"]
    assert [(n["id"], n["kind"], n.get("action")) for n in graph["nodes"]] == [
        ("first", "action", "core.echo"),
        ("second", "action", "no.such.action"),
        ("third", "action", "core.echo"),
    ]
    # `missing` is no task: no edge to it.
    assert [(e["from"], e["to"]) for e in graph["edges"]] == [
        ("first", "second"),
        ("second", "third"),
    ]
    assert graph["entries"] == ["first"]


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\ntasks: [a, b]\n",  # not a mapping
        "version: 1\ntasks:\n  a: {action: core.echo\n",  # not YAML
        "version: 1\ntasks: {}\n",
        "version: 1\ntasks:\n"
        + "".join(f"  t{i}: {{action: core.echo}}\n" for i in range(MAX_TASKS + 1)),
    ],
)
def test_a_file_without_a_drawable_tasks_mapping_has_no_graph(harness: Harness, text: str) -> None:
    report = validate(harness, text)
    assert not report["valid"] and report["errors"]
    assert "graph" not in report
    assert all("task" not in e for e in report["errors"])


def test_hostile_task_entries_are_drawn_without_failing(harness: Harness) -> None:
    report = validate(
        harness,
        "version: 1\ntasks:\n"
        "  a: 7\n"  # not a mapping: a node all the same
        "  b: {join: true, next: 3}\n"
        "  c: {next: [{do: [1, 2]}, {do: {x: 1}}, 5, {do: 'a, b, a'}]}\n"
        f"  d: {{action: '{'x' * 5000}'}}\n",
    )
    graph = report["graph"]
    assert [n["id"] for n in graph["nodes"]] == ["a", "b", "c", "d"]
    assert [n["kind"] for n in graph["nodes"]] == ["passthrough", "join", "passthrough", "action"]
    assert len(graph["nodes"][3]["action"]) == 200
    assert [(e["from"], e["to"], e["transition"]) for e in graph["edges"]] == [
        ("c", "a", 3),
        ("c", "b", 3),
        ("c", "a", 3),
    ]
    assert {e.get("task") for e in report["errors"]} >= {"a", "b", "c"}
