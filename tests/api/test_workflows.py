"""`/workflows`: register (new version only when the content changes), validate without
storing, every error at once with its position, the catalog, versions and the graph."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from engine.language.compact import decode_spec
from engine.language.loader import load_workflow
from engine.store import get_compiled_form
from tests.api.conftest import Harness, unique
from tests.support.spec_shape import strict_shape

pytestmark = [pytest.mark.postgres, pytest.mark.temporal]

CHAIN = """\
version: 1
description: A small chain with a join
input:
  name: {type: string, default: world}
tasks:
  greet:
    action: core.echo
    input: {greeting: "Hello <% $ctx.name %>"}
    next:
      - when: <% $succeeded() %>
        do: [left, right]
  left:
    next: [{do: both}]
  right:
    action: core.noop
    next: [{do: both}]
  both:
    join: all
    action: core.noop
output:
  done: true
"""

MALFORMED = """\
version: 1
tasks:
  a:
    action: core.noop
    next: [{do: b}
  b:
    action: core.noop
"""

SCHEMA_ERRORS = """\
version: 1
tasks:
  a:
    action: core.noop
    colour: blue
  b:
    action: core.noop
    max_iterations: lots
"""

UNKNOWN_ACTION = """\
version: 1
tasks:
  a:
    action: core.noop
    next: [{do: b}]
  b:
    action: core.nope
  c:
    action: "<% 'core.' & 'noop' %>"
"""


def problem(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    assert body["code"] == code and body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body


def test_register_same_content_then_new_version(harness: Harness) -> None:
    name = unique("chain")
    first = harness.client.post("/workflows", params={"name": name}, content=CHAIN.encode())
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["name"] == name and created["version"] == 1 and created["created"] is True
    assert len(created["contentHash"]) == 64 and created["createdAt"].endswith("Z")

    again = harness.client.post(
        "/workflows",
        params={"name": name},
        content=CHAIN.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 1 and again.json()["created"] is False
    assert again.json()["contentHash"] == created["contentHash"]

    changed = harness.client.post(
        "/workflows",
        params={"name": name},
        content=CHAIN.replace("world", "there").encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert changed.status_code == 201 and changed.json()["version"] == 2

    shown = harness.client.get(f"/workflows/{name}").json()
    assert shown["latest"]["version"] == 2 and "there" in shown["latest"]["yaml"]
    assert shown["latest"]["description"] == "A small chain with a join"
    assert [v["version"] for v in shown["versions"]] == [1, 2]

    listed = harness.client.get("/workflows").json()["workflows"]
    mine = [w for w in listed if w["name"] == name]
    assert mine == [
        {
            "name": name,
            "latestVersion": 2,
            "contentHash": changed.json()["contentHash"],
            "createdAt": mine[0]["createdAt"],
        }
    ]


def test_registration_stores_the_compiled_form_workers_load(harness: Harness) -> None:
    """Beside the YAML, the spec registration compiled, in its compact form: it decodes
    to the spec a worker would compile from that YAML (engine/language/compact.py)."""
    name = unique("chain")
    version = harness.register(name, CHAIN)["version"]
    form = harness.loop.run(get_compiled_form(harness.worker_pool, name, version), timeout=30)
    assert form is not None
    assert form.content_hash == hashlib.sha256(CHAIN.encode()).hexdigest()
    decoded = decode_spec(form.compiled)
    compiled = load_workflow(CHAIN, f"{name}.yaml", name=name)
    assert decoded is not None
    assert strict_shape(decoded) == strict_shape(compiled)


def test_validate_stores_nothing(harness: Harness) -> None:
    name = unique("checked")
    valid = harness.client.post(
        "/workflows/validate", params={"name": name}, content=CHAIN.encode()
    )
    assert valid.status_code == 200
    report = valid.json()
    # The file's graph as written (tests/api/test_validation_graph.py), then the findings.
    assert [node["id"] for node in report.pop("graph")["nodes"]] == [
        "greet",
        "left",
        "right",
        "both",
    ]
    assert report == {"valid": True, "errors": [], "warnings": []}
    invalid = harness.client.post("/workflows/validate", content=SCHEMA_ERRORS.encode())
    assert invalid.status_code == 200
    assert invalid.json()["valid"] is False and len(invalid.json()["errors"]) == 2
    problem(harness.client.get(f"/workflows/{name}"), 404, "WORKFLOW_NOT_FOUND")


def test_malformed_yaml_is_422_with_position_and_nothing_stored(harness: Harness) -> None:
    name = unique("broken")
    answer = harness.client.post("/workflows", params={"name": name}, content=MALFORMED.encode())
    body = problem(answer, 422, "WORKFLOW_INVALID")
    [error] = body["errors"]
    assert error["category"] == "yaml" and error["file"] == f"{name}.yaml"
    assert isinstance(error["line"], int) and isinstance(error["column"], int)
    assert error["line"] >= 5
    problem(harness.client.get(f"/workflows/{name}"), 404, "WORKFLOW_NOT_FOUND")
    names = [w["name"] for w in harness.client.get("/workflows").json()["workflows"]]
    assert name not in names


def test_schema_violations_all_at_once(harness: Harness) -> None:
    answer = harness.client.post(
        "/workflows", params={"name": unique("schema")}, content=SCHEMA_ERRORS.encode()
    )
    body = problem(answer, 422, "WORKFLOW_INVALID")
    places = [(e["line"], e["category"]) for e in body["errors"]]
    assert places == [(5, "schema"), (8, "schema")], body["errors"]
    assert all(set(e) >= {"file", "line", "column", "category", "message"} for e in body["errors"])


def test_unknown_action_points_at_the_action_key(harness: Harness) -> None:
    answer = harness.client.post(
        "/workflows", params={"name": unique("unknown")}, content=UNKNOWN_ACTION.encode()
    )
    body = problem(answer, 422, "WORKFLOW_INVALID")
    [error] = body["errors"]  # the computed action name is not checked
    assert (error["line"], error["column"]) == (7, 5)
    assert "core.nope" in error["message"] and "core.noop" in error["message"]


def test_bad_names_and_unknown_workflows(harness: Harness) -> None:
    problem(
        harness.client.post("/workflows", params={"name": "9lives"}, content=CHAIN.encode()),
        400,
        "NAME_INVALID",
    )
    problem(harness.client.post("/workflows", content=CHAIN.encode()), 400, "INVALID_REQUEST")
    problem(harness.client.get("/workflows/nothing_here/graph"), 404, "WORKFLOW_NOT_FOUND")
    name = unique("versions")
    harness.register(name, CHAIN)
    problem(
        harness.client.get(f"/workflows/{name}/graph", params={"version": 7}),
        404,
        "WORKFLOW_VERSION_NOT_FOUND",
    )


def test_graph_as_json_and_mermaid(harness: Harness) -> None:
    name = unique("graph")
    harness.register(name, CHAIN)
    graph = harness.client.get(f"/workflows/{name}/graph").json()
    kinds = {node["id"]: node["kind"] for node in graph["nodes"]}
    assert kinds == {"greet": "action", "left": "passthrough", "right": "action", "both": "join"}
    assert next(n for n in graph["nodes"] if n["id"] == "both")["join"] == "all"
    assert graph["entries"] == ["greet"]
    edges = {(e["from"], e["to"], e["transition"], e.get("when")) for e in graph["edges"]}
    assert edges == {
        ("greet", "left", 0, "$succeeded()"),
        ("greet", "right", 0, "$succeeded()"),
        ("left", "both", 0, None),
        ("right", "both", 0, None),
    }
    assert graph["mermaid"].startswith("flowchart TD\n")

    text = harness.client.get(f"/workflows/{name}/graph", params={"format": "mermaid"})
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert text.text == graph["mermaid"]
    lines = text.text.splitlines()
    assert "    start((start)) --> n0" in lines
    assert any(line.startswith("    n0 -->|") and line.endswith(" n1") for line in lines)


def test_oversize_body_is_413(harness: Harness) -> None:
    huge = CHAIN + "# " + "x" * (300 * 1024) + "\n"
    answer = harness.client.post("/workflows", params={"name": unique("huge")}, content=huge)
    problem(answer, 413, "BODY_TOO_LARGE")


UNREACHABLE = """\
version: 1
start: [greet]
tasks:
  greet:
    action: core.echo
    input: {message: hi}
    next: [{publish: {said: <% $result.message %>}}]
  stray:
    action: core.fail
output:
  said: <% $ctx.said %>
"""


def test_an_unreachable_task_is_a_warning_and_never_runs(harness: Harness) -> None:
    name = unique("stray")
    registered = harness.register(name, UNREACHABLE)
    assert [(w["line"], w["category"], w["severity"]) for w in registered["warnings"]] == [
        (8, "graph", "warning")
    ]
    assert "task 'stray' is unreachable" in registered["warnings"][0]["message"]
    final = harness.wait_for(harness.start(name))
    assert (final["status"], final["output"]) == ("COMPLETED", {"said": "hi"})
    traced = {event.get("nodeId") for event in harness.trace(final["runId"])}
    assert "greet" in traced and "stray" not in traced


def test_schema_and_semantic_errors_and_duplicate_entries_at_once(harness: Harness) -> None:
    text = UNREACHABLE.replace("[greet]", "[greet, greet]").replace(
        "action: core.fail", "action: core.fial\n    retries: 2"
    )
    body = problem(
        harness.client.post("/workflows", params={"name": unique("all")}, content=text.encode()),
        422,
        "WORKFLOW_INVALID",
    )
    assert [(e["line"], e["column"], e["category"]) for e in body["errors"]] == [
        (2, 16, "graph"),  # the second `greet`
        (9, 5, "reference"),  # core.fial: did you mean core.fail?
        (10, 5, "schema"),  # retries: did you mean retry?
    ]
    assert "did you mean 'core.fail'" in body["errors"][1]["message"]


def test_child_workflows_are_looked_up_in_the_catalog(harness: Harness) -> None:
    child = unique("child")
    parent = f"version: 1\ntasks:\n  call: {{workflow: {child}}}\n"
    before = harness.client.post("/workflows/validate", content=parent.encode()).json()
    assert [w["message"] for w in before["warnings"]] == [
        f"task 'call': workflow '{child}' is not registered (yet)"
    ]
    harness.register(child, "version: 1\ntasks: {x: {action: core.noop}}\n")
    after = harness.client.post("/workflows/validate", content=parent.encode()).json()
    assert after["graph"]["nodes"] == [{"id": "call", "kind": "workflow", "workflow": child}]
    del after["graph"]
    assert after == {"valid": True, "errors": [], "warnings": []}
