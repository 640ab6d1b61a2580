"""Rules on `POST /events`: an event whose rule criteria holds starts a run with the
mapped input, beside the correlation routing; a rule that cannot start its run says why
in the answer without stopping the other rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Harness, unique

pytestmark = [pytest.mark.postgres, pytest.mark.temporal]

WORKFLOW = """\
version: 1
input:
  host: {type: string}
  severity: {type: string, enum: [high, low], default: low}
tasks:
  page:
    action: core.echo
    input: <% $ctx.host %>
output:
  paged: <% $ctx.host %>
  severity: <% $ctx.severity %>
"""


def put_rule(harness: Harness, name: str, **rule: Any) -> dict[str, Any]:
    answer = harness.client.put(f"/rules/{name}", json=rule)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def send(harness: Harness, event: str, payload: Any, key: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"event": event, "payload": payload}
    if key is not None:
        body["key"] = key
    answer = harness.client.post("/events", json=body)
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_a_rule_starts_a_run_when_its_criteria_holds(harness: Harness) -> None:
    workflow, event = unique("paging"), unique("host.down")
    harness.register(workflow, WORKFLOW)
    put_rule(
        harness,
        unique("page_on_high"),
        event=event,
        workflow=workflow,
        criteria='payload.severity = "high"',
        input='{"host": payload.host, "severity": payload.severity}',
    )
    low = send(harness, event, {"host": "db-1", "severity": "low"})
    assert low["matchedRuns"] == [] and "rules" not in low
    high = send(harness, event, {"host": "db-2", "severity": "high"}, key="db-2")
    (started,) = high["rules"]
    run = harness.wait_for(started["runId"])
    assert run["output"] == {"paged": "db-2", "severity": "high"}
    # Shown by the rule list, and gone once removed.
    names = [rule["name"] for rule in harness.client.get("/rules").json()["rules"]]
    assert started["rule"] in names
    assert harness.client.delete(f"/rules/{started['rule']}").status_code == 204
    assert "rules" not in send(harness, event, {"host": "db-3", "severity": "high"})


def test_each_rule_reports_what_it_did(harness: Harness) -> None:
    workflow, event = unique("paging"), unique("disk.full")
    harness.register(workflow, WORKFLOW)
    rules = {
        "a_ok": {"input": '{"host": payload.host}'},
        "b_not_boolean": {"criteria": "payload.host", "input": '{"host": payload.host}'},
        "c_not_an_object": {"input": "payload.host"},
        "d_bad_input": {"input": '{"host": 5}'},
        "e_failing": {"input": '$error("no")'},
        "f_payload_as_input": {},
    }
    prefix = unique("r")
    for name, rule in rules.items():
        put_rule(harness, f"{prefix}_{name}", event=event, workflow=workflow, **rule)
    outcomes = {
        outcome["rule"].removeprefix(prefix + "_"): outcome
        for outcome in send(harness, event, {"host": "web-9"})["rules"]
    }
    assert set(outcomes) == {
        "a_ok",
        "c_not_an_object",
        "d_bad_input",
        "e_failing",
        "f_payload_as_input",
    }
    assert harness.wait_for(outcomes["a_ok"]["runId"])["output"]["paged"] == "web-9"
    assert harness.wait_for(outcomes["f_payload_as_input"]["runId"])["status"] == "COMPLETED"
    assert outcomes["c_not_an_object"]["code"] == "RULE_INPUT_INVALID"
    assert outcomes["d_bad_input"]["code"] == "INPUT_INVALID"
    assert outcomes["e_failing"]["code"] == "RULE_EXPRESSION_FAILED"
    assert "no" in outcomes["e_failing"]["detail"]


BAD_RULES = [
    ("unknown workflow", "r1", {"event": "e", "workflow": "nope_nope"}, 404, "WORKFLOW_NOT_FOUND"),
    (
        "criteria does not compile",
        "r1",
        {"event": "e", "workflow": "W", "criteria": "(("},
        422,
        "EXPRESSION_INVALID",
    ),
    (
        "input does not compile",
        "r1",
        {"event": "e", "workflow": "W", "input": "{"},
        422,
        "EXPRESSION_INVALID",
    ),
    (
        "expression too long",
        "r1",
        {"event": "e", "workflow": "W", "input": "1+" * 1001},
        422,
        "EXPRESSION_INVALID",
    ),
    ("empty event", "r1", {"event": "", "workflow": "W"}, 400, "INVALID_REQUEST"),
    ("unknown field", "r1", {"event": "e", "workflow": "W", "when": "x"}, 400, "INVALID_REQUEST"),
    ("bad name", "r.1", {"event": "e", "workflow": "W"}, 400, "NAME_INVALID"),
]


@pytest.mark.parametrize(
    ("what", "name", "body", "status", "code"), BAD_RULES, ids=[case[0] for case in BAD_RULES]
)
def test_bad_rules(
    harness: Harness, what: str, name: str, body: dict[str, Any], status: int, code: str
) -> None:
    workflow = unique("ruled")
    harness.register(workflow, WORKFLOW)
    if body.get("workflow") == "W":
        body = {**body, "workflow": workflow}
    answer = harness.client.put(f"/rules/{name}", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    assert harness.client.get(f"/rules/{name}").status_code == 404
