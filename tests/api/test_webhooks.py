"""Signed webhooks on the real stack: a delivery signed with the hook's secret starts a
run with the payload mapped to the input; every bad delivery is refused with its own
problem code, and a refused one starts nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from api.webhooks import sign
from tests.api.conftest import Harness, unique

pytestmark = [pytest.mark.postgres, pytest.mark.temporal]

WORKFLOW = """\
version: 1
input:
  host: {type: string, maxLength: 50}
tasks:
  say:
    action: core.echo
    input: <% $ctx.host %>
output:
  host: <% $ctx.host %>
"""
# A payload without a repository maps to a string, not an input: refused.
MAPPING = '$exists(repository) ? {"host": repository.name} : "no repository"'


class Hook:
    def __init__(self, harness: Harness, **options: Any) -> None:
        self.harness = harness
        self.workflow = unique("hooked")
        harness.register(self.workflow, WORKFLOW)
        answer = harness.client.post(
            f"/workflows/{self.workflow}/webhooks",
            json={"name": "push", "input": MAPPING, **options},
        )
        assert answer.status_code == 201, answer.text
        self.view: dict[str, Any] = answer.json()
        self.secret: str = self.view["secret"]
        # Deliveries carry no bearer token: the signature is their proof.
        self.public = httpx.Client(
            base_url=harness.url, timeout=30, headers={"Content-Type": "application/json"}
        )

    def send(
        self,
        body: bytes,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
        signed_body: bytes | None = None,
    ) -> httpx.Response:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = sign(secret or self.secret, stamp, body if signed_body is None else signed_body)
        sent = {"Segue-Timestamp": stamp, "Segue-Signature": signature, **(headers or {})}
        return self.public.post(self.view["url"], content=body, headers=sent)


def payload(name: str = "segue") -> bytes:
    return json.dumps({"repository": {"name": name}, "ref": "main"}).encode()


def test_a_signed_delivery_starts_a_run_with_the_mapped_input(harness: Harness) -> None:
    hook = Hook(harness)
    listed = harness.client.get(f"/workflows/{hook.workflow}/webhooks").json()["webhooks"]
    assert [entry["name"] for entry in listed] == ["push"] and "secret" not in listed[0]
    answer = hook.send(payload("web-1"))
    assert answer.status_code == 201, answer.text
    run = harness.wait_for(answer.json()["runId"])
    assert run["status"] == "COMPLETED" and run["output"] == {"host": "web-1"}


def test_a_replay_is_refused_and_names_the_run(harness: Harness) -> None:
    hook = Hook(harness)
    stamp = int(time.time())
    first = hook.send(payload(), timestamp=stamp)
    assert first.status_code == 201, first.text
    again = hook.send(payload(), timestamp=stamp)
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "WEBHOOK_REPLAYED"
    assert again.json()["runId"] == first.json()["runId"]
    # The same body signed at another second is another delivery.
    assert hook.send(payload(), timestamp=stamp - 1).status_code == 201


Send = Callable[[Hook], httpx.Response]
REFUSALS: list[tuple[str, Send, int, str]] = [
    (
        "bad signature",
        lambda h: h.send(payload(), secret="x" * 43),
        401,
        "WEBHOOK_SIGNATURE_INVALID",
    ),
    (
        "tampered body",
        lambda h: h.send(payload("evil"), signed_body=payload()),
        401,
        "WEBHOOK_SIGNATURE_INVALID",
    ),
    (
        "old timestamp",
        lambda h: h.send(payload(), timestamp=int(time.time()) - 400),
        401,
        "WEBHOOK_TIMESTAMP_EXPIRED",
    ),
    (
        "future timestamp",
        lambda h: h.send(payload(), timestamp=int(time.time()) + 400),
        401,
        "WEBHOOK_TIMESTAMP_EXPIRED",
    ),
    (
        "no headers",
        lambda h: h.public.post(h.view["url"], content=payload()),
        401,
        "WEBHOOK_SIGNATURE_MISSING",
    ),
    (
        "not sha256",
        lambda h: h.send(payload(), headers={"Segue-Signature": "md5=abc"}),
        401,
        "WEBHOOK_SIGNATURE_INVALID",
    ),
    (
        "timestamp not digits",
        lambda h: h.send(payload(), headers={"Segue-Timestamp": "-1e9"}),
        401,
        "WEBHOOK_TIMESTAMP_INVALID",
    ),
    (
        "huge timestamp",
        lambda h: h.send(payload(), headers={"Segue-Timestamp": "9" * 40}),
        401,
        "WEBHOOK_TIMESTAMP_INVALID",
    ),
    (
        "body too large",
        lambda h: h.send(b'{"pad": "' + b"x" * 600 + b'"}'),
        413,
        "WEBHOOK_BODY_TOO_LARGE",
    ),
    ("not a JSON object", lambda h: h.send(b"[1, 2]"), 400, "WEBHOOK_PAYLOAD_INVALID"),
    ("not JSON", lambda h: h.send(b"\xff\xfe"), 400, "WEBHOOK_PAYLOAD_INVALID"),
    ("mapping gives nothing", lambda h: h.send(b'{"other": 1}'), 422, "WEBHOOK_MAPPING_FAILED"),
    ("input breaks the schema", lambda h: h.send(payload("x" * 60)), 422, "INPUT_INVALID"),
    (
        "unknown hook",
        lambda h: h.public.post("/hooks/" + "A" * 24, content=payload()),
        404,
        "WEBHOOK_NOT_FOUND",
    ),
]


@pytest.fixture(scope="module")
def small_hook(harness: Harness) -> Hook:
    return Hook(harness, maxBodyBytes=500, toleranceSeconds=300)


@pytest.mark.parametrize(
    ("what", "send", "status", "code"), REFUSALS, ids=[case[0] for case in REFUSALS]
)
def test_refused_deliveries(
    harness: Harness, small_hook: Hook, what: str, send: Send, status: int, code: str
) -> None:
    before = harness.client.get("/runs", params={"workflow": small_hook.workflow}).json()["runs"]
    answer = send(small_hook)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code
    after = harness.client.get("/runs", params={"workflow": small_hook.workflow}).json()["runs"]
    assert after == before  # nothing started


def test_a_delivery_whose_run_could_not_start_may_be_sent_again(harness: Harness) -> None:
    hook = Hook(harness)
    stamp = int(time.time())
    for _ in range(2):  # the same delivery: refused on its input both times, not a replay
        answer = hook.send(payload("y" * 60), timestamp=stamp)
        assert answer.json()["code"] == "INPUT_INVALID", answer.text


BAD_HOOKS = [
    ({"name": "a", "input": "{"}, 422, "EXPRESSION_INVALID"),
    ({"name": "a", "input": ""}, 422, "EXPRESSION_INVALID"),
    ({"name": "a", "input": "x" * 2001}, 422, "EXPRESSION_INVALID"),
    ({"name": "a.b"}, 400, "INVALID_REQUEST"),
    ({"name": "a", "toleranceSeconds": 5}, 400, "INVALID_REQUEST"),
    ({"name": "a", "maxBodyBytes": 2 * 1024 * 1024}, 400, "INVALID_REQUEST"),
    ({"name": "a", "secret": "mine"}, 400, "INVALID_REQUEST"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_HOOKS)
def test_bad_webhook_definitions(
    harness: Harness, small_hook: Hook, body: dict[str, Any], status: int, code: str
) -> None:
    answer = harness.client.post(f"/workflows/{small_hook.workflow}/webhooks", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code


def test_names_are_unique_per_workflow_and_a_removed_hook_refuses(
    harness: Harness, small_hook: Hook
) -> None:
    again = harness.client.post(f"/workflows/{small_hook.workflow}/webhooks", json={"name": "push"})
    assert again.status_code == 409 and again.json()["code"] == "WEBHOOK_EXISTS"
    hook = Hook(harness)
    assert harness.client.delete(f"/workflows/{hook.workflow}/webhooks/push").status_code == 204
    assert hook.send(payload()).json()["code"] == "WEBHOOK_NOT_FOUND"
