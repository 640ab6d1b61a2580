"""Which tasks `segue simulate --temporal` serves by its activity: only those the workflow
would carry out itself but the simulator serves (engine/simulator/served.py)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from engine.language.loader import load_workflow
from engine.simulator.mocks import parse_mocks
from engine.simulator.served import SERVED_ACTION, served_document

WORKFLOW = """
version: 1
start: [echo, nothing, sleep, wait, approve, child, call, computed]
tasks:
  echo: {action: core.echo, input: {message: hi}}
  nothing: {action: core.noop}
  sleep: {action: core.sleep, input: {seconds: 5}}
  wait: {action: core.wait_event, input: {event: paid}}
  approve: {action: core.approval}
  child: {workflow: other, input: {x: 1}}
  call: {action: svc.call}
  computed: {action: '<% "core." + "noop" %>'}
"""


@pytest.mark.parametrize(
    ("mocks", "served"),
    [
        # Waits (nobody answers them) and child runs are always served.
        ([], {"wait": "core.wait_event", "approve": "core.approval", "child": "workflow:child"}),
        # A mocked inline action is served; an unmocked one runs inline as in production.
        (
            [{"task": "nothing", "status": "failed"}, {"task": "echo", "result": "x"}],
            {
                "wait": "core.wait_event",
                "approve": "core.approval",
                "child": "workflow:child",
                "nothing": "core.noop",
                "echo": "core.echo",
            },
        ),
        # An activity is served by the harness's activity as it is; a mocked core.sleep
        # is served (unmocked, it stays a durable timer).
        (
            [{"task": "call"}, {"task": "sleep"}],
            {
                "wait": "core.wait_event",
                "approve": "core.approval",
                "child": "workflow:child",
                "sleep": "core.sleep",
            },
        ),
        # A name computed at run time cannot be known here: it runs as computed.
        (
            [{"task": "computed", "status": "failed"}],
            {"wait": "core.wait_event", "approve": "core.approval", "child": "workflow:child"},
        ),
    ],
)
def test_served_tasks(mocks: list[dict[str, Any]], served: dict[str, str]) -> None:
    spec = load_workflow(WORKFLOW, "served.yaml", name="served")
    document = served_document(WORKFLOW, spec, parse_mocks(mocks))
    assert document.originals == served
    tasks = yaml.safe_load(document.yaml)["tasks"]
    for name, body in tasks.items():
        if name in served:
            assert body["action"] == SERVED_ACTION and "workflow" not in body
        else:
            assert body == yaml.safe_load(WORKFLOW)["tasks"][name]
    # What is served still loads, with the same inputs.
    rewritten = load_workflow(document.yaml, "served.yaml", name="served")
    assert set(rewritten.tasks) == set(spec.tasks)


def test_a_workflow_with_nothing_to_serve_is_started_verbatim() -> None:
    text = "version: 1\ntasks:\n  a: {action: svc.a}  # a comment survives\n"
    spec = load_workflow(text, "plain.yaml", name="plain")
    assert served_document(text, spec, parse_mocks([{"task": "a"}])).yaml == text


def test_concurrency_limits_are_left_out_as_segue_simulate_ignores_them() -> None:
    """A simulated run holds no slot of the deployment's: neither the run's limits nor a
    task's are in the document the harness starts; the rest is as written."""
    text = """
version: 1
concurrency_limits:
  per_run: {limit: 1}
tasks:
  probe:
    action: svc.probe
    concurrency_limits:
      per_host: {key: <% "h" %>, limit: 1}
"""
    spec = load_workflow(text, "limited.yaml", name="limited")
    document = served_document(text, spec, [])
    started: Any = yaml.safe_load(document.yaml)
    assert "concurrency_limits" not in started
    assert started["tasks"]["probe"] == {"action": "svc.probe"}
    assert document.originals == {}
