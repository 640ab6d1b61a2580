"""Answers bound to their wait (issue 11 case 5), on the real stack: of two answers
racing for one approval exactly one is taken (202) and the other refused (409, in the
run's trace as a warning); it never approves the next stage. Each race runs on many
runs at once, so a one-in-ten interleaving shows."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.api.conftest import TOKEN, Harness, unique
from tests.api.test_workflows import problem

pytestmark = [pytest.mark.postgres, pytest.mark.temporal]

RACES = 30
REFUSED = {"WAIT_ALREADY_ANSWERED", "TASK_NOT_WAITING"}

TWO_STAGES = """\
version: 1
tasks:
  first:
    action: core.approval
    next:
      - when: <% $succeeded() %>
        publish: {first: <% $result %>}
        do: second
  second:
    action: core.approval
    input: {timeout: 60}
    next:
      - publish: {second: <% $result %>}
output:
  first: <% $ctx.first %>
"""

# A rejection of `first` is handled: the run goes on, so the refused answer can be traced.
DECIDE = """\
version: 1
tasks:
  first:
    action: core.approval
    next:
      - when: <% $succeeded() %>
        publish: {decision: approved}
        do: second
      - when: <% $failed() %>
        publish: {decision: <% $error.type %>}
        do: second
  second:
    action: core.approval
    input: {timeout: 60}
output:
  decision: <% $ctx.decision %>
"""


def _waiting_runs(harness: Harness, name: str, count: int) -> list[str]:
    """Start `count` runs and return them once each waits in `first`."""
    runs = [harness.start(name) for _ in range(count)]
    for run_id in runs:
        harness.wait_for_event(
            run_id, lambda e: e["type"] == "STARTED" and e.get("nodeId") == "first"
        )
    return runs


def _race(harness: Harness, run_id: str, payloads: list[Any]) -> list[httpx.Response]:
    """POST the answers to `first` at the same moment, each on its own connection."""
    start = threading.Barrier(len(payloads))

    def send(payload: Any) -> httpx.Response:
        with httpx.Client(
            base_url=harness.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as client:
            start.wait()
            return client.post(f"/runs/{run_id}/signals/first", json={"payload": payload})

    with ThreadPoolExecutor(len(payloads)) as pool:
        return list(pool.map(send, payloads))


def _refusal_traced(harness: Harness, run_id: str, code: str) -> dict[str, Any]:
    return harness.wait_for_event(
        run_id,
        lambda e: (
            e["level"] == "warn"
            and e.get("nodeId") == "first"
            and (e.get("data") or {}).get("code") == code
        ),
    )


def test_two_concurrent_approvals_one_is_taken_one_refused(harness: Harness) -> None:
    name = unique("two-stages")
    harness.register(name, TWO_STAGES)
    codes: list[str] = []
    for run_id in _waiting_runs(harness, name, RACES):
        answers = _race(harness, run_id, [{"by": "ada"}, {"by": "bob"}])
        assert sorted(a.status_code for a in answers) == [202, 409], [a.text for a in answers]
        [refused] = [a for a in answers if a.status_code == 409]
        code = problem(refused, 409, refused.json()["code"])["code"]
        assert code in REFUSED, refused.text
        codes.append(code)
        _refusal_traced(harness, run_id, code)
        # The loser approved nothing: `second` waits for its own answer.
        harness.wait_for_event(
            run_id, lambda e: e["type"] == "STARTED" and e.get("nodeId") == "second"
        )
        assert not [
            e
            for e in harness.trace(run_id)
            if e["type"] == "COMPLETED" and e.get("nodeId") == "second"
        ]
        assert harness.client.post(f"/runs/{run_id}/cancel").status_code == 202
    assert "WAIT_ALREADY_ANSWERED" in codes  # the pinned case happened, not only the late one


def test_approve_and_reject_racing_one_wins_the_other_is_refused(harness: Harness) -> None:
    name = unique("approve-reject")
    harness.register(name, DECIDE)
    approve, reject = {"approved": True}, {"approved": False, "comment": "no"}
    winners = []
    for run_id in _waiting_runs(harness, name, RACES):
        answers = _race(harness, run_id, [approve, reject])
        assert sorted(a.status_code for a in answers) == [202, 409], [a.text for a in answers]
        approved = answers[0].status_code == 202
        winners.append(approved)
        loser = answers[1] if approved else answers[0]
        assert loser.json()["code"] in REFUSED, loser.text
        _refusal_traced(harness, run_id, loser.json()["code"])
        harness.wait_for_event(
            run_id, lambda e: e["type"] == "STARTED" and e.get("nodeId") == "second"
        )
        first = [e for e in harness.trace(run_id) if e.get("nodeId") == "first"]
        ended = [e for e in first if e["type"] in {"COMPLETED", "FAILED"}]
        # The winner decided: `first` ended as the winning answer says, once.
        assert [e["type"] for e in ended] == ["COMPLETED" if approved else "FAILED"]
        if not approved:
            assert ended[0]["error"]["code"] == "rejected"
        assert harness.client.post(f"/runs/{run_id}/cancel").status_code == 202
    assert len(winners) == RACES


def test_an_answer_for_a_task_that_is_not_waiting_is_refused_and_traced(
    harness: Harness,
) -> None:
    name = unique("not-waiting")
    harness.register(name, TWO_STAGES)
    [run_id] = _waiting_runs(harness, name, 1)
    refused = problem(
        harness.client.post(f"/runs/{run_id}/signals/second", json={"payload": 1}),
        409,
        "TASK_NOT_WAITING",
    )
    assert refused["waiting"] == ["first"]
    harness.wait_for_event(
        run_id,
        lambda e: (
            e["level"] == "warn"
            and e.get("nodeId") == "second"
            and e["data"]["code"] == "TASK_NOT_WAITING"
        ),
    )
    # A task the workflow does not have: refused at once, and nothing to trace it on.
    problem(
        harness.client.post(f"/runs/{run_id}/signals/nope", json={"payload": 1}),
        409,
        "TASK_NOT_WAITING",
    )
    assert harness.client.post(f"/runs/{run_id}/signals/first", json={"payload": 1}).is_success
    harness.wait_for_event(run_id, lambda e: e["type"] == "STARTED" and e["nodeId"] == "second")
    assert harness.client.post(f"/runs/{run_id}/signals/second", json={"payload": 2}).is_success
    assert harness.wait_for(run_id)["status"] == "COMPLETED"
