"""Runs through the API on the real Temporal dev server and a real worker: start, the
status payload, listing, trace pages, idempotency, rerun, cancel, pause/resume and
signals to a waiting approval."""

from __future__ import annotations

import time
from typing import Any

import pytest

from engine.temporal.worker import connect
from tests.api.conftest import OPEN_GATES, Harness, unique
from tests.api.test_workflows import problem

pytestmark = [pytest.mark.postgres, pytest.mark.temporal]

GREETING = """\
version: 1
input:
  who: {type: string, minLength: 2}
  times: {type: integer, minimum: 1, default: 2}
tasks:
  hello:
    action: core.echo
    input: {text: "hello <% $ctx.who %>"}
    next:
      - publish: {greeting: <% $result.text %>}
        do: rest
  rest:
    action: test.slow
    input: {seconds: 0.05}
    next: [{do: done}]
  done:
    action: core.noop
output:
  greeting: <% $ctx.greeting %>
  times: <% $ctx.times %>
"""

SLEEPER = """\
version: 1
tasks:
  nap:
    action: core.sleep
    input: {seconds: 300}
"""

TWO_STEPS = """\
version: 1
tasks:
  first:
    action: core.sleep
    input: {seconds: 1.5}
    next: [{do: second}]
  second:
    action: core.noop
"""

APPROVAL = """\
version: 1
tasks:
  approve:
    action: core.approval
    next:
      - when: <% $succeeded() %>
        publish: {decision: <% $result %>}
output:
  decision: <% $ctx.decision %>
"""

# `right` fails until its gate is opened; `left` publishes on the way to the join.
GATED = """\
version: 1
input:
  base: {type: integer}
tasks:
  prepare:
    action: core.echo
    input: {n: <% $ctx.base %>}
    next: [{publish: {total: <% $result.n %>}, do: [left, right]}]
  left:
    action: core.echo
    input: {n: 10}
    next: [{when: <% $succeeded() %>, publish: {total: <% $ctx.total + $result.n %>}, do: meet}]
  right:
    action: test.gate
    input: {gate: GATE}
    next: [{when: <% $succeeded() %>, publish: {right: <% $result %>}, do: meet}]
  meet:
    join: all
    action: core.noop
output:
  total: <% $ctx.total %>
  right: <% $ctx.right %>
"""

# Fails at its end (the join can never fire): no task to run again.
UNREACHABLE_JOIN = """\
version: 1
tasks:
  start:
    action: core.noop
    next: [{do: [a, b]}]
  a:
    action: core.noop
    next: [{do: meet}]
  b:
    action: core.noop
    next: [{when: <% $failed() %>, do: meet}]
  meet:
    join: all
    action: core.noop
"""

STATUS_FIELDS = {
    "runId",
    "workflowId",
    "status",
    "startedAt",
    "updatedAt",
    "taskQueue",
    "historyLength",
    "progress",
    "output",
    "errors",
}


@pytest.fixture(scope="module")
def greeting(harness: Harness) -> str:
    name = unique("greeting")
    harness.register(name, GREETING)
    return name


def test_a_run_completes_with_the_full_status_payload(harness: Harness, greeting: str) -> None:
    started = harness.client.post(f"/workflows/{greeting}/runs", json={"input": {"who": "ada"}})
    assert started.status_code == 201, started.text
    first = started.json()
    assert set(first) >= STATUS_FIELDS and first["status"] in {"QUEUED", "RUNNING"}
    run_id = first["runId"]

    final = harness.wait_for(run_id)
    assert final["status"] == "COMPLETED", final
    assert STATUS_FIELDS | {"completedAt"} <= set(final)
    assert final["runId"] == run_id and final["workflowId"] == greeting
    assert final["workflowVersion"] == 1 and final["taskQueue"] == harness.task_queue
    assert final["output"] == {"greeting": "hello ada", "times": 2}
    assert final["errors"] == [] and "failure" not in final
    assert final["progress"] == {"completedActions": 3, "totalActions": 3}
    assert final["historyLength"] > 0
    for field in ("startedAt", "updatedAt", "completedAt", "createdAt"):
        assert final[field].endswith("Z"), field
    assert final["startedAt"] <= final["completedAt"] <= final["updatedAt"]
    later = harness.client.get(f"/runs/{run_id}").json()
    assert later["updatedAt"] >= final["updatedAt"]


def test_bad_input_is_422_and_starts_nothing(harness: Harness) -> None:
    name = unique("picky")
    harness.register(name, GREETING)
    answer = harness.client.post(
        f"/workflows/{name}/runs", json={"input": {"who": "x", "times": 0, "extra": 1}}
    )
    body = problem(answer, 422, "INPUT_INVALID")
    paths = sorted(error["path"] for error in body["errors"])
    assert paths == ["/", "/times", "/who"] or paths == ["", "/times", "/who"], body
    assert all(error["reason"] for error in body["errors"])
    missing = harness.client.post(f"/workflows/{name}/runs", json={"input": {}})
    assert problem(missing, 422, "INPUT_INVALID")["errors"][0]["reason"]
    not_object = harness.client.post(f"/workflows/{name}/runs", json={"input": [1]})
    problem(not_object, 422, "INPUT_INVALID")
    runs = harness.client.get("/runs", params={"workflow": name}).json()
    assert runs == {"runs": []}


def test_unknown_things_are_404_and_bad_cursors_400(harness: Harness, greeting: str) -> None:
    problem(harness.client.post("/workflows/nope/runs", json={}), 404, "WORKFLOW_NOT_FOUND")
    problem(
        harness.client.post(f"/workflows/{greeting}/runs", json={"input": {}, "version": 9}),
        404,
        "WORKFLOW_VERSION_NOT_FOUND",
    )
    for method, path in [
        ("GET", "/runs/missing"),
        ("GET", "/runs/missing/trace"),
        ("GET", "/runs/missing/stream"),
        ("POST", "/runs/missing/cancel"),
        ("POST", "/runs/missing/pause"),
        ("POST", "/runs/missing/resume"),
        ("POST", "/runs/missing/rerun"),
        ("POST", "/runs/missing/signals/approve"),
    ]:
        problem(harness.client.request(method, path), 404, "RUN_NOT_FOUND")
    run_id = harness.start(greeting, {"who": "bob"})
    for cursor in ("nope", "dDox=", "cjox"):  # garbage, `t:1` padded, a runs cursor
        problem(
            harness.client.get(f"/runs/{run_id}/trace", params={"cursor": cursor}),
            400,
            "INVALID_CURSOR",
        )
    problem(harness.client.get("/runs", params={"cursor": "garbage"}), 400, "INVALID_CURSOR")
    problem(
        harness.client.get(f"/runs/{run_id}/stream", headers={"Last-Event-ID": "12"}),
        400,
        "INVALID_CURSOR",
    )
    problem(harness.client.get("/runs", params={"status": "SLEEPY"}), 400, "INVALID_REQUEST")
    problem(harness.client.get("/runs", params={"limit": 0}), 400, "INVALID_REQUEST")
    harness.wait_for(run_id)


def test_trace_pages_by_cursor(harness: Harness, greeting: str) -> None:
    run_id = harness.start(greeting, {"who": "cy"})
    harness.wait_for(run_id)
    everything = harness.trace(run_id)
    types = [event["type"] for event in everything]
    assert types[0] == "WORKFLOW_STARTED" and types[-1] == "WORKFLOW_COMPLETED"
    # run start/end + 3 tasks x (STARTED, COMPLETED) + a TRANSITION of hello and of rest
    assert len(everything) == 10
    for event in everything:
        assert event["runId"] == run_id and event["level"] in {"info", "warn", "error", "debug"}
        if event["type"] in {"STARTED", "COMPLETED"}:
            assert {"iteration", "route", "attempt"} <= set(event["data"]) and event["nodeId"]

    paged: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = harness.client.get(f"/runs/{run_id}/trace", params=params).json()
        assert page["runId"] == run_id and len(page["events"]) <= 3
        if not page["events"]:
            assert page["cursor"] == cursor  # polling again from the same place
            break
        paged += page["events"]
        cursor = page["cursor"]
    assert paged == everything


def test_runs_are_listed_newest_first_with_filters(harness: Harness) -> None:
    name = unique("listed")
    harness.register(name, GREETING)
    ids = [harness.start(name, {"who": f"p{index}"}) for index in range(3)]
    for run_id in ids:
        harness.wait_for(run_id)
    first = harness.client.get("/runs", params={"workflow": name, "limit": 2}).json()
    assert [run["runId"] for run in first["runs"]] == ids[::-1][:2]
    assert set(first["runs"][0]) >= STATUS_FIELDS
    second = harness.client.get(
        "/runs", params={"workflow": name, "limit": 2, "cursor": first["nextCursor"]}
    ).json()
    assert [run["runId"] for run in second["runs"]] == [ids[0]]
    assert "nextCursor" not in second
    done = harness.client.get("/runs", params={"workflow": name, "status": "COMPLETED"}).json()
    assert len(done["runs"]) == 3
    failed = harness.client.get("/runs", params={"workflow": name, "status": "FAILED"}).json()
    assert failed["runs"] == []


def test_idempotency_key_gives_the_same_run(harness: Harness, greeting: str) -> None:
    key = unique("key")
    first = harness.client.post(
        f"/workflows/{greeting}/runs",
        json={"input": {"who": "dee"}},
        headers={"Idempotency-Key": key},
    )
    assert first.status_code == 201
    again = harness.client.post(
        f"/workflows/{greeting}/runs",
        json={"input": {"who": "dee"}},
        headers={"Idempotency-Key": key},
    )
    assert again.status_code == 200 and again.json()["runId"] == first.json()["runId"]
    other = harness.client.post(f"/workflows/{greeting}/runs", json={"input": {"who": "dee"}})
    assert other.status_code == 201 and other.json()["runId"] != first.json()["runId"]
    harness.wait_for(first.json()["runId"])
    harness.wait_for(other.json()["runId"])


def test_rerun_from_start(harness: Harness, greeting: str) -> None:
    original = harness.start(greeting, {"who": "eve", "times": 5})
    harness.wait_for(original)
    answer = harness.client.post(f"/runs/{original}/rerun")
    assert answer.status_code == 201, answer.text
    rerun = answer.json()
    assert rerun["runId"] != original and rerun["rerunOf"] == original
    assert harness.wait_for(rerun["runId"])["output"] == {"greeting": "hello eve", "times": 5}

    changed = harness.client.post(
        f"/runs/{original}/rerun", json={"input": {"who": "fay"}, "from": "start"}
    ).json()
    assert harness.wait_for(changed["runId"])["output"] == {"greeting": "hello fay", "times": 2}
    problem(
        harness.client.post(f"/runs/{original}/rerun", json={"from": "failed"}),
        409,
        "RUN_NOT_FAILED",
    )
    problem(
        harness.client.post(f"/runs/{original}/rerun", json={"input": {"who": 3}}),
        422,
        "INPUT_INVALID",
    )


def test_rerun_from_failed_runs_only_what_failed(harness: Harness) -> None:
    name, gate = unique("gated"), unique("gate")
    harness.register(name, GATED.replace("GATE", gate))
    failed = harness.start(name, {"base": 5})
    assert harness.wait_for(failed)["status"] == "FAILED"
    problem(
        harness.client.post(f"/runs/{failed}/rerun", json={"from": "failed", "input": {}}),
        400,
        "INVALID_REQUEST",
    )

    OPEN_GATES.add(gate)  # the fault is fixed
    answer = harness.client.post(f"/runs/{failed}/rerun", json={"from": "failed"})
    assert answer.status_code == 201, answer.text
    rerun = answer.json()
    assert rerun["rerunOf"] == failed and rerun["rerunFrom"] == "failed"
    final = harness.wait_for(rerun["runId"])
    assert final["status"] == "COMPLETED", final
    # `prepare` and `left` are not repeated: their publishes came from the failed run.
    assert final["output"] == {"total": 15, "right": {"gate": gate, "passed": True}}
    started = [e["nodeId"] for e in harness.trace(rerun["runId"]) if e["type"] == "STARTED"]
    assert sorted(started) == ["meet", "right"]

    problem(
        harness.client.post(f"/runs/{rerun['runId']}/rerun", json={"from": "failed"}),
        409,
        "RUN_NOT_FAILED",
    )


def test_a_run_failed_by_an_unreachable_join_has_nothing_to_rerun(harness: Harness) -> None:
    name = unique("unreachable")
    harness.register(name, UNREACHABLE_JOIN)
    failed = harness.start(name)
    assert harness.wait_for(failed)["status"] == "FAILED"
    problem(
        harness.client.post(f"/runs/{failed}/rerun", json={"from": "failed"}),
        409,
        "NOTHING_TO_RERUN",
    )


def test_cancel_is_reported_once_temporal_ended_the_run(harness: Harness) -> None:
    name = unique("sleeper")
    harness.register(name, SLEEPER)
    run_id = harness.start(name)
    harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED")
    answer = harness.client.post(f"/runs/{run_id}/cancel")
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] in {"CANCELLING", "CANCELLED"}
    final = harness.wait_for(run_id, timeout=15)
    assert final["status"] == "CANCELLED", final
    assert harness.trace(run_id)[-1]["type"] == "WORKFLOW_CANCELLED"
    problem(harness.client.post(f"/runs/{run_id}/cancel"), 409, "RUN_NOT_RUNNING")


def test_pause_holds_new_tasks_until_resume(harness: Harness) -> None:
    name = unique("steps")
    harness.register(name, TWO_STEPS)
    run_id = harness.start(name)
    harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED" and e["nodeId"] == "first")
    paused = harness.client.post(f"/runs/{run_id}/pause")
    assert paused.status_code == 202, paused.text
    assert paused.json()["status"] == "PAUSED"
    # `first` finishes while paused; `second` must not start.
    harness.wait_for_event(run_id, lambda e: e["type"] == "COMPLETED" and e["nodeId"] == "first")
    time.sleep(0.5)
    assert not [e for e in harness.trace(run_id) if e.get("nodeId") == "second"]
    assert harness.client.get(f"/runs/{run_id}").json()["status"] == "PAUSED"
    listed = harness.client.get("/runs", params={"workflow": name}).json()["runs"]
    assert listed[0]["status"] == "PAUSED"

    resumed = harness.client.post(f"/runs/{run_id}/resume")
    assert resumed.status_code == 202 and resumed.json()["status"] in {"RUNNING", "COMPLETED"}
    assert harness.wait_for(run_id)["status"] == "COMPLETED"
    problem(harness.client.post(f"/runs/{run_id}/pause"), 409, "RUN_NOT_PAUSABLE")
    problem(harness.client.post(f"/runs/{run_id}/resume"), 409, "RUN_NOT_RUNNING")


def test_signal_resumes_a_waiting_approval(harness: Harness) -> None:
    name = unique("approval")
    harness.register(name, APPROVAL)
    run_id = harness.start(name)
    harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED")
    problem(
        harness.client.post(f"/runs/{run_id}/signals/other", json={"payload": 1}),
        409,
        "TASK_NOT_WAITING",
    )
    decision = {"approved": True, "by": "gil"}
    answer = harness.client.post(f"/runs/{run_id}/signals/approve", json={"payload": decision})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "runId": run_id,
        "task": "approve",
        "accepted": True,
        "confirmed": True,
    }
    final = harness.wait_for(run_id)
    assert final["status"] == "COMPLETED" and final["output"] == {"decision": decision}
    problem(
        harness.client.post(f"/runs/{run_id}/signals/approve", json={"payload": 2}),
        409,
        "RUN_NOT_RUNNING",
    )


ITEM_APPROVALS = """\
version: 1
tasks:
  approve:
    with: {items: [ada, bob]}
    action: core.approval
    next:
      - when: <% $succeeded() %>
        publish: {decisions: <% $result %>}
output:
  decisions: <% $ctx.decisions %>
"""


def waiting_items(harness: Harness, run_id: str, task: str) -> list[int]:
    """The items of `task` the run reports waiting (by their absence, what was answered)."""
    answer = problem(
        harness.client.post(f"/runs/{run_id}/signals/{task}", json={"payload": None}),
        409,
        "ITEM_REQUIRED",
    )
    return list(answer["waitingItems"])


def test_signals_answer_one_item_at_a_time(harness: Harness) -> None:
    name = unique("item-approval")
    harness.register(name, ITEM_APPROVALS)
    run_id = harness.start(name)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        answer = harness.client.post(f"/runs/{run_id}/signals/approve", json={"payload": 1})
        if answer.status_code == 409 and answer.json()["code"] == "ITEM_REQUIRED":
            break
        time.sleep(0.1)
    assert waiting_items(harness, run_id, "approve") == [0, 1]
    signals = f"/runs/{run_id}/signals/approve"
    missing = problem(
        harness.client.post(signals, json={"item": 5, "payload": 1}), 409, "ITEM_NOT_WAITING"
    )
    assert missing["waitingItems"] == [0, 1]
    problem(harness.client.post(signals, json={"item": -1, "payload": 1}), 400, "INVALID_REQUEST")

    answer = harness.client.post(signals, json={"item": 1, "payload": {"by": "bob"}})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "runId": run_id,
        "task": "approve",
        "item": 1,
        "accepted": True,
        "confirmed": True,
    }
    deadline = time.monotonic() + 20
    while waiting_items(harness, run_id, "approve") != [0] and time.monotonic() < deadline:
        time.sleep(0.1)
    # A second answer for item 1: refused, and it approves nothing.
    again = problem(
        harness.client.post(signals, json={"item": 1, "payload": {"by": "eve"}}),
        409,
        "ITEM_NOT_WAITING",
    )
    assert again["waitingItems"] == [0]

    assert harness.client.post(signals, json={"item": 0, "payload": {"by": "ada"}}).is_success
    final = harness.wait_for(run_id)
    assert final["status"] == "COMPLETED"
    assert final["output"] == {"decisions": [{"by": "ada"}, {"by": "bob"}]}


def test_temporal_is_the_authority_for_a_terminated_run(harness: Harness) -> None:
    name = unique("terminated")
    harness.register(name, SLEEPER)
    answer = harness.client.post(f"/workflows/{name}/runs")  # no body: empty input
    assert answer.status_code == 201, answer.text
    run_id = answer.json()["runId"]
    harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED")
    running = harness.client.get(f"/runs/{run_id}").json()
    assert running["status"] == "RUNNING" and running["historyLength"] > 0
    assert running["progress"] == {"completedActions": 0, "totalActions": 1}

    async def terminate() -> None:
        client = await connect(harness.temporal_address)
        await client.get_workflow_handle(run_id).terminate(reason="by hand")

    harness.loop.run(terminate())
    # The workflow cannot write its end: the API asks Temporal and records what it says.
    final = harness.client.get(f"/runs/{run_id}").json()
    assert final["status"] == "TERMINATED" and final["failure"]["temporalCode"] == "TERMINATED"
    assert "completedAt" in final
    listed = harness.client.get("/runs", params={"workflow": name}).json()["runs"]
    assert listed[0]["status"] == "TERMINATED"
    # Its stream ends although no terminal event was ever written.
    with harness.client.stream("GET", f"/runs/{run_id}/stream") as response:
        lines = [line for line in response.iter_lines() if line.startswith("id:")]
    assert len(lines) == len(harness.trace(run_id)) == 2
    problem(harness.client.post(f"/runs/{run_id}/cancel"), 409, "RUN_NOT_RUNNING")
