"""Secrets seen from a run through the real API, worker and Temporal: the workflow uses
the real values, and the trace, live stream, status and errors show `***` instead."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from temporalio.client import Client

from engine.temporal.types import InterpreterResult
from engine.temporal.worker import connect
from tests.api.conftest import OPEN_GATES, Harness, unique
from tests.api.conftest import TOKEN as TOKEN_OF_THE_API

API_KEY = "sk-live-9f8e7d6c"
TOKEN = 'tok"en\\with-escapes'
PASSWORD = "correct-horse-battery"

USES_SECRETS = """\
version: 1
input:
  token: {type: string, secret: true}
  pin: {type: string, secret: true}
vars:
  auth: "Bearer <% $secret('api_key') %>"
tasks:
  login:
    action: test.login
    input: {user: bob, password: "correct-horse-battery"}
    next:
      - publish: {session: <% $result.session %>}
        do: echo
  echo:
    action: core.echo
    input:
      header: <% $ctx.auth %>
      url: "https://api.example/v1?key=<% $ctx.token %>"
      nested: '<% $string({"t": $ctx.token, "k": $secret("api_key")}) %>'
      session: <% $ctx.session %>
    next:
      - publish: {echoed: <% $result %>}
        do: gate
  gate:
    action: test.gate
    input: {gate: "<% $secret('api_key') %>"}
output:
  echoed: <% $ctx.echoed %>
"""


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    # The worker runs in this process: its environment is the deployment's secrets.
    monkeypatch.setenv("SEGUE_SECRET_API_KEY", API_KEY)
    return API_KEY


def _shown(harness: Harness, run_id: str) -> str:
    """Everything a reader of the run can see: status, trace, and the live stream."""
    status = harness.client.get(f"/runs/{run_id}").text
    trace = json.dumps(harness.trace(run_id))
    with harness.client.stream("GET", f"/runs/{run_id}/stream") as stream:
        streamed = "".join(stream.iter_text())
    return "\n".join([status, trace, streamed])


def _temporal_result(harness: Harness, run_id: str) -> Any:
    async def read() -> Any:
        client: Client = await connect(harness.temporal_address)
        handle = client.get_workflow_handle(run_id, result_type=InterpreterResult)
        try:
            return await handle.result()
        except Exception as failure:  # a failed run: its details carry the outcome
            return failure.cause.details[0]  # type: ignore[attr-defined]

    return harness.loop.run(read())


def test_secret_values_are_used_but_never_shown(harness: Harness, api_key: str) -> None:
    name = unique("secrets")
    harness.register(name, USES_SECRETS)
    run_id = harness.start(name, {"token": TOKEN, "pin": "7"})
    final = harness.wait_for(run_id)
    # The gate named after the secret is closed: the run fails with an error quoting it.
    assert final["status"] == "FAILED", final
    shown = _shown(harness, run_id)
    for secret in (API_KEY, TOKEN, PASSWORD, f"session-of-bob-{PASSWORD}"):
        assert secret not in shown
        assert json.dumps(secret)[1:-1] not in shown  # nor its JSON-escaped spelling
    assert "Bearer ***" in shown and "gate '***' is closed" in shown
    # Task logs (the action's own lines) are masked before they are stored.
    logs = harness.client.get(f"/runs/{run_id}/logs", params={"task": "login"})
    assert logs.status_code == 200, logs.text
    assert "logging in as bob with ***" in logs.text and PASSWORD not in logs.text
    assert "key=***" in shown
    started = next(e for e in harness.trace(run_id) if e["type"] == "WORKFLOW_STARTED")
    # Declared inputs are masked whatever their length (the 1-character pin included).
    assert started["outputSummary"] == '{"pin":"***","token":"***"}'
    # The workflow itself had the real values (Temporal's own record of the run).
    outcome = _temporal_result(harness, run_id)
    echoed = json.dumps(outcome)
    assert f"Bearer {API_KEY}" in echoed and f"session-of-bob-{PASSWORD}" in echoed


def test_a_missing_secret_fails_the_run_before_anything_runs(harness: Harness) -> None:
    name = unique("nosecret")
    harness.register(name, USES_SECRETS.replace("api_key", "never_provided"))
    run_id = harness.start(name, {"token": TOKEN, "pin": "7"})
    final = harness.wait_for(run_id)
    assert final["status"] == "FAILED", final
    assert final["errors"] and final["errors"][0]["type"] == "secret_unknown", final
    assert final["errors"][0]["message"].startswith(
        "secret 'never_provided' is not provided: set SEGUE_SECRET_NEVER_PROVIDED"
    )
    assert [e["type"] for e in harness.trace(run_id)] == ["WORKFLOW_STARTED", "WORKFLOW_FAILED"]
    assert TOKEN not in _shown(harness, run_id)


STRICT = """\
version: 1
input:
  token: {type: string, secret: true, minLength: 40, pattern: "^tok-"}
  pin: {type: string, secret: true, maxLength: 1}
tasks:
  idle: {action: core.noop}
"""


def test_refused_inputs_do_not_quote_secret_values(harness: Harness) -> None:
    name = unique("strict")
    harness.register(name, STRICT)
    answer = harness.client.post(
        f"/workflows/{name}/runs", json={"input": {"token": "hunter2-abc", "pin": "42"}}
    )
    assert answer.status_code == 422
    problem = answer.json()
    reasons = sorted((error["path"], error["reason"]) for error in problem["errors"])
    assert reasons == [
        ("/pin", "*** is too long"),
        ("/token", "*** does not match '^tok-'"),
        ("/token", "*** is too short"),
    ], reasons
    assert "hunter2" not in answer.text and "'42'" not in answer.text


SUCCEEDS = """\
version: 1
input:
  token: {type: string, secret: true}
tasks:
  echo:
    action: core.echo
    input: {auth: "Bearer <% $secret('api_key') %>", token: <% $ctx.token %>}
    next:
      - publish: {echoed: <% $result %>}
output:
  echoed: <% $ctx.echoed %>
"""


def test_the_cli_shows_no_secret(harness: Harness, api_key: str) -> None:
    """`segue run` (live progress, then the output) and `segue trace` read the API."""
    name = unique("cli")
    harness.register(name, SUCCEEDS)
    common = ["--api", harness.url, "--token", TOKEN_OF_THE_API]
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "run",
            name,
            *common,
            "--input",
            json.dumps({"token": TOKEN}),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    output = json.loads(ran.stdout)
    assert output == {"echoed": {"auth": "Bearer ***", "token": "***"}}
    run_id = harness.client.get("/runs", params={"workflow": name}).json()["runs"][0]["runId"]
    traced = subprocess.run(
        [sys.executable, "-m", "api.cli", "trace", run_id, *common, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert traced.returncode == 0, traced.stderr
    for shown in (ran.stdout + ran.stderr, traced.stdout):
        assert API_KEY not in shown and json.dumps(TOKEN)[1:-1] not in shown and TOKEN not in shown


GATED = """\
version: 1
tasks:
  prep:
    action: core.echo
    input: {key: <% $secret('api_key') %>}
    next:
      - publish: {key: <% $result.key %>}
        do: gate
  gate:
    action: test.gate
    input: {gate: <% $ctx.key %>}
output: {passed: <% $task_status('gate') %>}
"""


def test_a_rerun_from_the_failed_tasks_has_the_real_values(harness: Harness, api_key: str) -> None:
    """What is shown is masked; what a rerun starts from (the failed run's context) is
    not: the gate named after the secret opens on the rerun."""
    name = unique("gated")
    harness.register(name, GATED)
    first = harness.start(name)
    assert harness.wait_for(first)["status"] == "FAILED"
    OPEN_GATES.add(API_KEY)
    try:
        answer = harness.client.post(f"/runs/{first}/rerun", json={"from": "failed"})
        assert answer.status_code == 201, answer.text
        final = harness.wait_for(answer.json()["runId"])
    finally:
        OPEN_GATES.discard(API_KEY)
    assert final["status"] == "COMPLETED" and final["output"] == {"passed": "succeeded"}
    assert API_KEY not in json.dumps(harness.trace(first)) + json.dumps(final)
