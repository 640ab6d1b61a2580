"""Secrets at rest in Segue's own PostgreSQL: after runs with a secret input and a named
secret (and reruns of them), the whole database — every table, every column, as
`pg_dump` writes it — holds neither value in any spelling; the reruns still get the real
values, read back from the runs' (codec-sealed) history in Temporal."""

from __future__ import annotations

import json
import subprocess

import pytest

from engine.masking import spellings
from tests.api.conftest import OPEN_GATES, Harness, unique

API_KEY = "sk-at-rest-77aa31"
TOKEN = 'tok-at-"rest"-5e1f9a'

# The gate opens only for the real key and token: a rerun given `***` fails again.
GATED = """\
version: 1
input:
  token: {type: string, secret: true}
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
    input: {gate: "<% $ctx.key %>/<% $ctx.tok %>"}
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
    first = harness.start(name, {"token": TOKEN, "who": "bob"})
    failed = harness.wait_for(first)
    assert failed["status"] == "FAILED", failed
    assert "gate '***/***' is closed" in json.dumps(failed)
    dump = _database_text(harness)
    assert first in dump and "bob" in dump  # the dump does hold the run (and its clear input)
    _assert_nowhere(dump, API_KEY, TOKEN)

    OPEN_GATES.add(f"{API_KEY}/{TOKEN}")
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
        OPEN_GATES.discard(f"{API_KEY}/{TOKEN}")
    for final in (again, resumed):
        assert final["status"] == "COMPLETED", final
        assert final["output"] == {"passed": "succeeded", "seen": "***", "who": "bob"}
    _assert_nowhere(_database_text(harness), API_KEY, TOKEN)


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
