"""Idempotency keys bound to their request and their operation, and a latest version
that follows what was registered last."""

from __future__ import annotations

from tests.api.conftest import Harness, unique
from tests.api.test_runs import GREETING
from tests.api.test_workflows import problem


def _start(harness: Harness, name: str, body: bytes, key: str) -> object:
    return harness.client.post(
        f"/workflows/{name}/runs",
        content=body,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )


def test_a_key_with_another_body_is_422(harness: Harness) -> None:
    name = unique("idem")
    harness.register(name, GREETING)
    key = unique("key")
    first = _start(harness, name, b'{"input": {"who": "dee", "times": 2}}', key)
    assert first.status_code == 201, first.text  # type: ignore[attr-defined]
    run_id = first.json()["runId"]  # type: ignore[attr-defined]
    # The same request spelt differently: the same run.
    again = _start(harness, name, b'{ "input" : {"times": 2, "who": "dee"} }', key)
    assert again.status_code == 200 and again.json()["runId"] == run_id  # type: ignore[attr-defined]
    other = _start(harness, name, b'{"input": {"who": "eve", "times": 2}}', key)
    body = problem(other, 422, "IDEMPOTENCY_KEY_REUSED")
    assert body["runId"] == run_id
    harness.wait_for(run_id)


def test_keys_are_scoped_per_operation(harness: Harness) -> None:
    name = unique("scoped")
    harness.register(name, GREETING)
    key = unique("key")
    started = _start(harness, name, b'{"input": {"who": "fay"}}', key).json()  # type: ignore[attr-defined]
    harness.wait_for(started["runId"])
    rerun = harness.client.post(f"/runs/{started['runId']}/rerun", headers={"Idempotency-Key": key})
    assert rerun.status_code == 201, rerun.text
    assert rerun.json()["runId"] != started["runId"]  # a rerun, not the start it shares a key with
    again = harness.client.post(f"/runs/{started['runId']}/rerun", headers={"Idempotency-Key": key})
    assert again.status_code == 200 and again.json()["runId"] == rerun.json()["runId"]
    changed = harness.client.post(
        f"/runs/{started['runId']}/rerun",
        json={"input": {"who": "gus"}},
        headers={"Idempotency-Key": key},
    )
    problem(changed, 422, "IDEMPOTENCY_KEY_REUSED")
    harness.wait_for(rerun.json()["runId"])


def test_registering_older_content_makes_it_the_latest_again(harness: Harness) -> None:
    name = unique("revert")
    older = GREETING
    newer = GREETING.replace("hello", "hi")
    assert newer != older
    assert harness.register(name, older)["version"] == 1
    assert harness.register(name, newer)["version"] == 2
    reverted = harness.client.post("/workflows", params={"name": name}, content=older.encode())
    assert reverted.status_code == 200, reverted.text
    assert reverted.json()["version"] == 1 and reverted.json()["created"] is False
    shown = harness.client.get(f"/workflows/{name}").json()
    assert shown["latest"]["version"] == 1 and shown["latest"]["yaml"] == older
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    listed = [w for w in harness.client.get("/workflows").json()["workflows"] if w["name"] == name]
    assert listed[0]["latestVersion"] == 1
    run = harness.client.post(f"/workflows/{name}/runs", json={"input": {"who": "hal"}})
    assert run.json()["workflowVersion"] == 1
    graph = harness.client.get(f"/workflows/{name}/graph").json()
    assert graph["version"] == 1
    assert harness.register(name, newer)["version"] == 2  # and forward again
    assert harness.client.get(f"/workflows/{name}").json()["latest"]["version"] == 2
    harness.wait_for(run.json()["runId"])
