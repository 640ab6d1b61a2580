"""What if (`POST /workflows/{name}/simulate`): a real run's export, one mock changed,
and the path the simulator says the run would take instead; every hostile input bounded
with a precise problem. Against the real API, worker, Temporal and PostgreSQL."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from api.what_if import MAX_MOCK_ENTRIES, SIMULATE_DEADLINE_SECONDS
from tests.api.conftest import Harness, unique
from tests.api.test_console import EXAMPLES, health_service  # noqa: F401 (a fixture)

Mocks = list[dict[str, Any]]


def _check_answers(status: int) -> Callable[[Mocks], Mocks]:
    """Every `check` answers HTTP `status` (the monitoring example's one action)."""

    def change(mocks: Mocks) -> Mocks:
        return [
            {**mock, "result": {**mock["result"], "status": status}}
            if mock["task"] == "check"
            else mock
            for mock in mocks
        ]

    return change


def _first_check_healthy(mocks: Mocks) -> Mocks:
    changed = copy.deepcopy(mocks)
    first = next(m for m in changed if m["task"] == "check" and m["iteration"] == 1)
    first["result"]["status"] = 200
    return changed


def _every_check_fails(mocks: Mocks) -> Mocks:
    return [{"task": "check", "status": "failed", "error": {"type": "http", "message": "down"}}]


@pytest.mark.parametrize(
    ("change", "status", "tasks", "taken"),
    [
        # As recorded: 503, 503, 200 -> three checks, two waits, the report.
        (
            lambda mocks: mocks,
            "succeeded",
            {"check": 3, "wait": 2, "report": 1},
            {"check->wait": 2, "wait->check": 2, "check->report": 1},
        ),
        # The service healthy at once: one check, no wait.
        (_first_check_healthy, "succeeded", {"check": 1, "report": 1}, {"check->report": 1}),
        # A different status code every time: five checks, then the loop gives up.
        (
            _check_answers(500),
            "failed",
            {"check": 5, "wait": 4},
            {"check->wait": 4, "wait->check": 4},
        ),
        # An error instead of a result: the same five laps, each check failed.
        (
            _every_check_fails,
            "failed",
            {"check": 5, "wait": 4},
            {"check->wait": 4, "wait->check": 4},
        ),
    ],
)
def test_what_if_a_mocked_outcome_changes(
    harness: Harness,
    health_service: str,  # noqa: F811
    change: Callable[[Mocks], Mocks],
    status: str,
    tasks: dict[str, int],
    taken: dict[str, int],
) -> None:
    name = unique("monitoring")
    harness.register(name, (EXAMPLES / "monitoring.yaml").read_text())
    run_id = harness.start(name, {"url": health_service, "interval": 0, "max_checks": 5})
    harness.wait_for(run_id, timeout=60)
    case = harness.client.get(f"/runs/{run_id}/export").json()
    answer = harness.client.post(
        f"/workflows/{name}/simulate",
        json={
            "version": case["source"]["version"],
            "input": case["input"],
            "mocks": change(case["mocks"]),
        },
    )
    assert answer.status_code == 200, answer.text
    what_if = answer.json()
    assert what_if["status"] == status
    assert {task: s["executions"] for task, s in what_if["tasks"].items()} == tasks
    assert {f"{e['from']}->{e['to']}": e["taken"] for e in what_if["edges"]} == taken
    assert what_if["sequenceTotal"] == sum(tasks.values()) == len(what_if["sequence"])
    assert what_if["version"] == 1 and what_if["warnings"] == []
    if status == "succeeded":
        assert what_if["output"] == {"healthy": True, "checks": tasks["check"]}
    # Nothing was started: the workflow still has just the one run.
    runs = harness.client.get("/runs", params={"workflow": name}).json()["runs"]
    assert [run["runId"] for run in runs] == [run_id]


SPIN = """\
version: 1
start: [spin]
tasks:
  spin:
    next:
      - when: <% $count([1..1000][$ % 7 = 0]) > 0 %>
        do: spin
"""

BLOWUP = """\
version: 1
input:
  token: {type: string, secret: true}
tasks:
  fetch:
    action: http.request
    input: {url: "http://127.0.0.1:1/", headers: {x: <% $ctx.token %>}}
    next:
      - when: <% $count([1..$result.n]) > 0 %>
        do: done
  done:
    action: core.echo
    input: {key: <% $secret('api_key') %>, token: <% $ctx.token %>}
output:
  echoed: <% $ctx.token & " " & $secret('api_key') %>
"""


def _deep(levels: int) -> Any:
    value: Any = {}
    for _ in range(levels):
        value = {"result": value}
    return value


@pytest.mark.parametrize(
    ("body", "status", "code", "detail"),
    [
        (
            {"mocks": [{"task": "fetch"}] * (MAX_MOCK_ENTRIES + 1)},
            422,
            "MOCKS_TOO_MANY",
            f"the mocks document has {MAX_MOCK_ENTRIES + 1} entries; a what-if takes at most "
            f"{MAX_MOCK_ENTRIES}",
        ),
        ({"mocks": "all succeed"}, 422, "MOCKS_INVALID", "the mocks file must hold a list"),
        (
            {"mocks": [{"task": "fetch", "result": 1, "when": "x"}]},
            422,
            "MOCKS_INVALID",
            "mock entry 1: unknown keys ['when']",
        ),
        (
            {"mocks": [{"task": "fetch", "status": "maybe"}]},
            422,
            "MOCKS_INVALID",
            "mock entry 1: status must be one of",
        ),
        (
            {"mocks": [{"task": "fetch", "times": 0}]},
            422,
            "MOCKS_INVALID",
            "mock entry 1: times must be an integer >= 1, got 0",
        ),
        (
            {"mocks": [{"task": "fetch", **_deep(100)}]},
            400,
            "BODY_INVALID",
            "the JSON body nests deeper than 64 levels",
        ),
        ({"mocks": [{"task": "fetch", "result": "x" * (1024 * 1024)}]}, 413, "BODY_TOO_LARGE", ""),
        ({"input": {"token": 7}}, 422, "INPUT_INVALID", "breaks the input schema"),
        ({"version": 9}, 404, "WORKFLOW_VERSION_NOT_FOUND", ""),
        ({"mock": []}, 400, "INVALID_REQUEST", ""),
    ],
)
def test_hostile_what_ifs_are_refused_precisely(
    harness: Harness, body: dict[str, Any], status: int, code: str, detail: str
) -> None:
    name = unique("blowup")
    harness.register(name, BLOWUP)
    answer = harness.client.post(
        f"/workflows/{name}/simulate", json={"input": {"token": "t0ken"}, **body}
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    assert detail in answer.json()["detail"]


def test_an_expression_that_would_never_end_fails_the_simulated_run_within_its_budget(
    harness: Harness,
) -> None:
    name = unique("blowup")
    harness.register(name, BLOWUP)
    answer = harness.client.post(
        f"/workflows/{name}/simulate",
        json={
            "input": {"token": "s3cr3t-token"},
            "mocks": [{"task": "fetch", "result": {"n": 10**12}}],
        },
    )
    assert answer.status_code == 200, answer.text
    what_if = answer.json()
    assert what_if["status"] == "failed"
    [error] = what_if["errors"]
    assert error["type"] == "expression" and error["task"] == "fetch"
    assert "would build lists of more than 1,000,000 items" in error["message"]
    # A `when` that fails the run sends nowhere; `done` is never reached.
    assert set(what_if["tasks"]) == {"fetch"} and what_if["edges"] == []
    # The same file, healthy: a secret input is masked, a named secret never read.
    answer = harness.client.post(
        f"/workflows/{name}/simulate",
        json={"input": {"token": "s3cr3t-token"}, "mocks": [{"task": "fetch", "result": {"n": 1}}]},
    )
    what_if = answer.json()
    assert what_if["status"] == "succeeded", what_if
    assert what_if["output"] == {"echoed": "*** <secret api_key>"}
    assert "s3cr3t-token" not in json.dumps(what_if)
    # Named for the console, which keeps them out of a what-if link.
    assert what_if["secretInputs"] == ["token"]


def test_a_simulation_that_runs_too_long_is_stopped(harness: Harness) -> None:
    name = unique("spin")
    harness.register(name, SPIN)
    answer = harness.client.post(f"/workflows/{name}/simulate", json={}, timeout=60)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "TOO_COSTLY"
    assert answer.json()["detail"] == (
        f"simulating the run took more than {SIMULATE_DEADLINE_SECONDS:g} s of CPU and was stopped"
    )
    assert harness.client.get("/health").status_code == 200  # the API went on serving
