"""Secrets at rest in Segue's own PostgreSQL: after runs with a secret input and a named
secret (and reruns of them), the whole database — every table, every column, as
`pg_dump` writes it — holds neither value in any spelling; the reruns still get the real
values, read back from the runs' (codec-sealed) history in Temporal."""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from engine.masking import spellings
from engine.temporal.types import InterpreterResult
from engine.temporal.worker import connect
from tests.api.conftest import OPEN_GATES, Harness, unique

API_KEY = "sk-at-rest-77aa31"
TOKEN = 'tok-at-"rest"-5e1f9a'
PIN = "Q9z"  # under 4 characters: masked by its field, not by value
OPEN = f"{API_KEY}/{TOKEN}/{PIN}"

# The gate opens only for the real key and token: a rerun given `***` fails again.
GATED = """\
version: 1
input:
  token: {type: string, secret: true}
  pin: {type: string, secret: true}
  who: {type: string}
tasks:
  prep:
    action: core.echo
    input: {key: <% $secret('api_key') %>, token: <% $ctx.token %>}
    next:
      - publish: {key: <% $result.key %>, tok: <% $result.token %>}
        do: gate
  gate:
    action: test.gate
    input: {gate: "<% $ctx.key %>/<% $ctx.tok %>/<% $ctx.pin %>"}
output: {passed: <% $task_status('gate') %>, seen: <% $ctx.tok %>, who: <% $ctx.who %>}
"""


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SEGUE_SECRET_API_KEY", API_KEY)  # the in-process worker's secret
    return API_KEY


def _database_text(harness: Harness) -> str:
    """Every row of every table of the API's database, as `pg_dump` writes it."""
    dumped = subprocess.run(
        ["pg_dump", "--data-only", "--no-owner", f"--dbname={harness.database_url}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dumped.stdout


def _assert_nowhere(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in spellings(secret):
            assert form not in text, f"{form!r} is stored in clear"


def test_no_secret_is_stored_and_reruns_get_the_real_values(harness: Harness, api_key: str) -> None:
    name = unique("atrest")
    harness.register(name, GATED)
    first = harness.start(name, {"token": TOKEN, "pin": PIN, "who": "bob"})
    failed = harness.wait_for(first)
    assert failed["status"] == "FAILED", failed
    assert "gate '***/***/" in json.dumps(failed)
    dump = _database_text(harness)
    assert first in dump and "bob" in dump  # the dump does hold the run (and its clear input)
    _assert_nowhere(dump, API_KEY, TOKEN)
    assert f'"{PIN}"' not in dump  # nor the short one as a field's value

    OPEN_GATES.add(OPEN)
    try:
        # From the start, without an input: the real input comes from Temporal.
        answer = harness.client.post(f"/runs/{first}/rerun", json={"from": "start"})
        assert answer.status_code == 201, answer.text
        again = harness.wait_for(answer.json()["runId"])
        # From the failed tasks: the real context the failed run stopped in.
        answer = harness.client.post(f"/runs/{first}/rerun", json={"from": "failed"})
        assert answer.status_code == 201, answer.text
        resumed = harness.wait_for(answer.json()["runId"])
    finally:
        OPEN_GATES.discard(OPEN)
    for final in (again, resumed):
        assert final["status"] == "COMPLETED", final
        assert final["output"] == {"passed": "succeeded", "seen": "***", "who": "bob"}
    dump = _database_text(harness)
    _assert_nowhere(dump, API_KEY, TOKEN)
    assert f'"{PIN}"' not in dump


NO_SECRETS = """\
version: 1
input:
  who: {type: string}
tasks:
  gate:
    action: test.gate
    input: {gate: <% $ctx.who %>}
output: {passed: <% $task_status('gate') %>}
"""


def test_runs_without_secrets_store_their_input_and_rerun_point_as_given(
    harness: Harness,
) -> None:
    """Nothing to hide: the store keeps the real values (a rerun needs no history)."""
    name = unique("clear")
    harness.register(name, NO_SECRETS)
    who = f"open-{name}"
    first = harness.start(name, {"who": who})
    assert harness.wait_for(first)["status"] == "FAILED"
    OPEN_GATES.add(who)
    try:
        answer = harness.client.post(f"/runs/{first}/rerun", json={"from": "failed"})
        assert answer.status_code == 201, answer.text
        final = harness.wait_for(answer.json()["runId"])
    finally:
        OPEN_GATES.discard(who)
    assert final["status"] == "COMPLETED", final
    assert "***" not in _database_text(harness).split(first, 1)[1].split("\n", 1)[0]


CHILD = """\
version: 1
input:
  creds: {type: object}
  note: {type: string}
tasks:
  use:
    action: core.echo
    input:
      auth: "Bearer <% $ctx.creds.key %>"
      token: <% $ctx.creds.token %>
      note: <% $ctx.note %>
    next:
      - publish: {used: <% $result %>}
output: {used: <% $ctx.used %>}
"""

PARENT = """\
version: 1
input:
  token: {type: string, secret: true}
tasks:
  call:
    workflow: {child}
    input:
      creds: {key: <% $secret('api_key') %>, token: <% $ctx.token %>}
      note: plain words
    next:
      - publish: {got: <% $result %>}
output: {got: <% $ctx.got %>}
"""


def test_a_childs_undeclared_inputs_stay_masked_when_the_parent_masks_them(
    harness: Harness, api_key: str
) -> None:
    """The child declares nothing secret; what the parent masks and passes in is masked in
    the child's trace and status too, while the child uses the real values."""
    child, parent = unique("child"), unique("parent")
    harness.register(child, CHILD)
    harness.register(parent, PARENT.replace("{child}", child))
    run_id = harness.start(parent, {"token": TOKEN})
    final = harness.wait_for(run_id)
    assert final["status"] == "COMPLETED", final
    [child_run] = harness.client.get("/runs", params={"workflow": child}).json()["runs"]
    child_final = harness.wait_for(child_run["runId"])
    shown = json.dumps([harness.trace(child_run["runId"]), child_final, final])
    _assert_nowhere(shown, API_KEY, TOKEN)
    assert "plain words" in shown  # the rest of the child's input shows as it is
    assert child_final["output"] == {
        "used": {"auth": "Bearer ***", "token": "***", "note": "plain words"}
    }
    _assert_nowhere(_database_text(harness), API_KEY, TOKEN)
    # The child had the real values (Temporal's record of it; no store in between).
    assert _temporal_output(harness, child_run["runId"]) == {
        "used": {"auth": f"Bearer {API_KEY}", "token": TOKEN, "note": "plain words"}
    }


def _temporal_output(harness: Harness, run_id: str) -> Any:
    async def read() -> Any:
        client = await connect(harness.temporal_address)
        handle = client.get_workflow_handle(run_id, result_type=InterpreterResult)
        return (await handle.result()).output

    return harness.loop.run(read())


def _forget_in_temporal(harness: Harness, *run_ids: str) -> None:
    """Delete the runs' executions in Temporal, as retention would, and wait until gone
    (the dev server deletes in the background: some seconds)."""

    async def gone(client: Client, run_id: str) -> bool:
        try:
            await client.get_workflow_handle(run_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return True
            raise
        return False

    async def forget() -> None:
        client = await connect(harness.temporal_address)
        for run_id in run_ids:
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=run_id),
                )
            )
        for _ in range(600):
            if all([await gone(client, run_id) for run_id in run_ids]):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"Temporal still has {run_ids}")

    harness.loop.run(forget())


def test_a_rerun_without_the_history_refuses_rather_than_start_with_masks(
    harness: Harness, api_key: str
) -> None:
    """Retention removed the history of a run with secrets: the database's `***` is never
    started with (409 RERUN_SOURCE_GONE); a run without secrets reruns from the store."""
    name, plain = unique("gone"), unique("plain")
    harness.register(name, GATED)
    harness.register(plain, NO_SECRETS)
    with_secrets = harness.start(name, {"token": TOKEN, "pin": PIN, "who": "bob"})
    without = harness.start(plain, {"who": f"open-{plain}"})
    for run_id in (with_secrets, without):
        assert harness.wait_for(run_id)["status"] == "FAILED"
    _forget_in_temporal(harness, with_secrets, without)
    for start in ("start", "failed"):
        answer = harness.client.post(f"/runs/{with_secrets}/rerun", json={"from": start})
        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == "RERUN_SOURCE_GONE", answer.text
    # A new input from the start needs nothing of the old run.
    given = {"token": TOKEN, "pin": PIN, "who": "eve"}
    answer = harness.client.post(f"/runs/{with_secrets}/rerun", json={"input": given})
    assert answer.status_code == 201, answer.text
    OPEN_GATES.add(f"open-{plain}")
    try:
        answer = harness.client.post(f"/runs/{without}/rerun", json={"from": "failed"})
        assert answer.status_code == 201, answer.text
        assert harness.wait_for(answer.json()["runId"])["status"] == "COMPLETED"
    finally:
        OPEN_GATES.discard(f"open-{plain}")
