"""The payload codec on the real Temporal dev server: what Temporal stores is ciphertext
(read raw, without the codec), runs work end to end through it, old runs stay readable
after a key is added, and the API's codec routes decode for token holders (or a codec
session cookie made with a token) and grant CORS to the Temporal UI's origin only."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from litestar.testing import TestClient
from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowFailureError

from api.app import create_app
from api.config import ApiConfig
from api.sessions import COOKIE_NAME, CodecSessions
from engine.actions.builtin import builtin_actions
from engine.actions.catalog import ActionCatalog
from engine.temporal.activities import SegueActivities
from engine.temporal.codec import ENCODING, KEY_ID, CodecKeys, data_converter
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.run_record import failed_rerun_point, started_input
from engine.temporal.types import InterpreterResult
from engine.temporal.worker import build_worker, connect
from tests.api.conftest import TOKEN, ServedApp
from tests.support.temporal import BackgroundLoop, start_interpreter

pytestmark = [pytest.mark.temporal]

OLD = CodecKeys.parse(f"old:{base64.b64encode(b'o' * 32).decode()}")
ROTATED = CodecKeys.parse(
    f"old:{base64.b64encode(b'o' * 32).decode()},new:{base64.b64encode(b'n' * 32).decode()}"
)
SECRET = "db-password-7f3e9a"
UI_ORIGIN = "http://temporal-ui.example:8080"

ECHO = """\
version: 1
input:
  password: {type: string, secret: true}
tasks:
  echo:
    action: core.echo
    input: {dsn: "postgres://app:<% $ctx.password %>@db/app"}
    next:
      - publish: {dsn: <% $result.dsn %>}
        do: check
  check:
    action: core.fail
    input: {message: "cannot reach <% $ctx.dsn %>"}
"""


def _payloads_of(event: HistoryEvent) -> list[Any]:
    """Every Payload message inside a history event."""
    found: list[Any] = []
    stack: list[Any] = [event]
    while stack:
        message = stack.pop()
        for field, value in message.ListFields():
            if field.message_type is None:
                continue
            if hasattr(value, "ListFields"):
                values = [value]
            elif hasattr(value, "keys"):  # a map: its values
                values = list(value.values())
            else:
                values = list(value)
            for item in values:
                if not hasattr(item, "ListFields"):
                    continue
                if item.DESCRIPTOR.full_name == "temporal.api.common.v1.Payload":
                    found.append(item)
                else:
                    stack.append(item)
    return found


async def _run(client: Client, queue: str, run_input: dict[str, Any]) -> str:
    activities = SegueActivities(ActionCatalog(builtin_actions()))
    async with build_worker(client, activities, task_queue=queue):
        handle = await start_interpreter(client, queue, ECHO, run_input, name="codec")
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    return handle.id


@pytest.fixture(scope="module")
def runs(temporal_address: str, background_loop: BackgroundLoop) -> Iterator[dict[str, Any]]:
    """One run sealed with the old key, then one after rotation; the raw histories."""

    async def scenario() -> dict[str, Any]:
        old = await connect(temporal_address, data_converter=data_converter(OLD))
        rotated = await connect(temporal_address, data_converter=data_converter(ROTATED))
        raw = await connect(temporal_address, data_converter=DATA_CONVERTER)
        first = await _run(old, f"codec-{uuid.uuid4().hex[:8]}", {"password": SECRET})
        second = await _run(rotated, f"codec-{uuid.uuid4().hex[:8]}", {"password": SECRET})
        histories = {
            run_id: await raw.get_workflow_handle(run_id).fetch_history()
            for run_id in (first, second)
        }
        # After rotation the run sealed with the old key still reads in full.
        try:
            await rotated.get_workflow_handle(first, result_type=InterpreterResult).result()
        except WorkflowFailureError as failure:
            old_outcome = failure.cause
        return {"first": first, "second": second, "histories": histories, "old": old_outcome}

    yield background_loop.run(scenario())


def test_what_temporal_stores_is_ciphertext(runs: dict[str, Any]) -> None:
    for run_id, key_id in ((runs["first"], b"old"), (runs["second"], b"new")):
        history = runs["histories"][run_id]
        raw = b"".join(event.SerializeToString() for event in history.events)
        assert SECRET.encode() not in raw and b"db-password" not in raw
        # The SDK writes its patch markers (`segue-behaviour-3`, and the search attribute
        # listing them) without the codec: names of releases, never run data.
        payloads = [
            p
            for event in history.events
            for p in _payloads_of(event)
            if b"segue-behaviour-" not in p.data
        ]
        assert len(payloads) >= 3  # the start input, the failure and its details
        assert {p.metadata["encoding"] for p in payloads} == {ENCODING}
        assert {p.metadata[KEY_ID] for p in payloads} == {key_id}
        failed = history.events[-1].workflow_execution_failed_event_attributes.failure
        assert failed.message == "Encoded failure"  # the message is sealed too


def test_old_runs_stay_readable_after_a_key_is_added(runs: dict[str, Any]) -> None:
    outcome = runs["old"]
    assert "run failed" in outcome.message and outcome.details[0]["status"] == "failed"


def test_a_rerun_reads_the_real_values_through_the_codec(
    runs: dict[str, Any], temporal_address: str, background_loop: BackgroundLoop
) -> None:
    """What a rerun reads back from a sealed run (engine/temporal/run_record.py): the real
    input and rerun point through a client with the keys; ciphertext without them."""

    async def read() -> tuple[Any, Any]:
        sealed = await connect(temporal_address, data_converter=data_converter(ROTATED))
        raw = await connect(temporal_address, data_converter=DATA_CONVERTER)
        given = await started_input(sealed, runs["second"])
        point = await failed_rerun_point(sealed, runs["second"])
        with pytest.raises(KeyError, match="binary/encrypted"):  # sealed, not JSON
            await failed_rerun_point(raw, runs["second"])
        return given, point

    given, point = background_loop.run(read())
    assert given == {"password": SECRET}
    assert SECRET in json.dumps(point) and [t["task"] for t in point["tasks"]] == ["check"]


@pytest.fixture(scope="module")
def codec_api(postgres_url: str, temporal_address: str) -> Iterator[httpx.Client]:
    config = ApiConfig(
        database_url=postgres_url,
        temporal_address=temporal_address,
        tokens=(TOKEN,),
        codec_keys=ROTATED,
        temporal_ui_origin=UI_ORIGIN,
    )
    served = ServedApp(create_app(config, catalog=ActionCatalog(builtin_actions())))
    served.start()
    try:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            yield client
    finally:
        served.stop()


def _body(history: Any) -> bytes:
    started = history.events[0].workflow_execution_started_event_attributes.input
    return json_format.MessageToJson(Payloads(payloads=list(started.payloads))).encode()


def test_the_codec_routes_decode_for_token_holders(
    codec_api: httpx.Client, runs: dict[str, Any]
) -> None:
    body = _body(runs["histories"][runs["first"]])
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    assert codec_api.post("/codec/decode", content=body).status_code in (401, 415)
    answer = codec_api.post("/codec/decode", content=body, headers=auth)
    assert answer.status_code == 200, answer.text
    decoded = json_format.Parse(answer.content, Payloads())
    assert SECRET.encode() in decoded.payloads[0].data
    assert decoded.payloads[0].metadata["encoding"] == b"json/plain"
    # Encoding seals with the newest key; decoding it again gives the same payload back.
    sealed = codec_api.post("/codec/encode", content=answer.content, headers=auth)
    assert b"bmV3" in sealed.content  # base64 of the key id `new`
    again = codec_api.post("/codec/decode", content=sealed.content, headers=auth)
    assert json_format.Parse(again.content, Payloads()) == decoded
    bad = codec_api.post("/codec/decode", content=b'{"payloads": 3}', headers=auth)
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_REQUEST"


def test_only_the_temporal_ui_origin_gets_cors_and_only_on_codec_routes(
    codec_api: httpx.Client,
) -> None:
    preflight = {"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST"}
    granted = codec_api.options("/codec/decode", headers=preflight)
    assert granted.status_code == 204
    assert granted.headers["access-control-allow-origin"] == UI_ORIGIN
    assert "authorization" in granted.headers["access-control-allow-headers"]
    other = codec_api.options(
        "/codec/decode", headers={**preflight, "Origin": "http://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers
    elsewhere = codec_api.options("/runs", headers=preflight)
    assert "access-control-allow-origin" not in elsewhere.headers
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    empty = b'{"payloads": []}'
    from_ui = codec_api.post("/codec/decode", content=empty, headers={**auth, "Origin": UI_ORIGIN})
    assert (
        from_ui.status_code == 200 and from_ui.headers["access-control-allow-origin"] == UI_ORIGIN
    )
    from_evil = codec_api.post(
        "/codec/decode", content=empty, headers={**auth, "Origin": "http://evil.example"}
    )
    assert from_evil.status_code == 403
    # The UI's origin may not write anywhere else.
    runs_from_ui = codec_api.post(
        "/workflows/x/runs", json={}, headers={**auth, "Origin": UI_ORIGIN}
    )
    assert runs_from_ui.status_code == 403


def test_the_temporal_cli_decodes_through_the_codec_routes(
    codec_api: httpx.Client, runs: dict[str, Any], temporal_address: str
) -> None:
    """Temporal's own client, `temporal workflow show --codec-endpoint`, reads a history
    in clear through the API; without the endpoint it sees only ciphertext."""
    show = [
        shutil.which("temporal") or "temporal",
        "workflow",
        "show",
        "--address",
        temporal_address,
        "--workflow-id",
        runs["first"],
        "--output",
        "json",
    ]
    endpoint = [
        "--codec-endpoint",
        f"{codec_api.base_url}/codec",
        "--codec-auth",
        f"Bearer {TOKEN}",
    ]
    decoded = subprocess.run([*show, *endpoint], capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0, decoded.stderr
    assert SECRET in _started_input(decoded.stdout)
    raw = subprocess.run(show, capture_output=True, text=True, timeout=60)
    assert raw.returncode == 0 and SECRET not in _started_input(raw.stdout)


def _started_input(shown: str) -> str:
    """The start input's payload data, as text, from `temporal workflow show` JSON."""
    started = json.loads(shown)["events"][0]["workflowExecutionStartedEventAttributes"]
    data = base64.b64decode(started["input"]["payloads"][0]["data"])
    return data.decode("utf-8", "replace")


def test_the_codec_routes_resolve_claim_check_references(codec_api: httpx.Client) -> None:
    """A payload over the claim-check threshold encodes to a small reference (its blob in
    the database); decoding resolves it for token holders only, and a reference to a blob
    the store does not hold (a guessed hash) is refused, not resolved."""
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    value = b'"' + uuid.uuid4().hex.encode() * 5000 + b'"'  # 160 KB
    body = json.dumps(
        {
            "payloads": [
                {
                    "metadata": {"encoding": "anNvbi9wbGFpbg=="},
                    "data": base64.b64encode(value).decode(),
                }
            ]
        }
    )
    encoded = codec_api.post("/codec/encode", content=body, headers=auth)
    assert encoded.status_code == 200, encoded.text
    (reference,) = json_format.Parse(encoded.content, Payloads()).payloads
    assert reference.metadata["encoding"] == b"binary/claim-check" and not reference.data
    assert len(encoded.content) < 1000
    assert codec_api.post("/codec/decode", content=encoded.content).status_code in (401, 415)
    decoded = codec_api.post("/codec/decode", content=encoded.content, headers=auth)
    assert decoded.status_code == 200, decoded.text
    assert json_format.Parse(decoded.content, Payloads()).payloads[0].data == value
    guessed = encoded.content.replace(
        base64.b64encode(reference.metadata["claim-sha256"]), base64.b64encode(b"0" * 64)
    )
    refused = codec_api.post("/codec/decode", content=guessed, headers=auth)
    assert refused.status_code == 422 and "not in the store" in refused.json()["detail"]


def _codec_session(api: str, token: str = TOKEN) -> httpx.Response:
    return httpx.post(
        f"{api}/session", json={}, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_a_session_cookie_opens_the_codec_routes_and_nothing_else(
    codec_api: httpx.Client, runs: dict[str, Any]
) -> None:
    """What the Temporal UI's browser sends: the cookie from `POST /session`, no token."""
    api = str(codec_api.base_url).rstrip("/")
    body = _body(runs["histories"][runs["first"]])
    started = _codec_session(api)
    assert started.status_code == 200, started.text
    set_cookie = started.headers["set-cookie"]
    for attribute in ("Path=/codec/", "Max-Age=3600", "HttpOnly", "SameSite=Strict"):
        assert attribute in set_cookie
    assert "Secure" not in set_cookie  # plain HTTP here; over TLS it is set
    assert started.json()["cookie"] == COOKIE_NAME and started.json()["expiresInSeconds"] == 3600
    value = set_cookie.split(";")[0].split("=", 1)[1]
    cookie = {"Cookie": f"{COOKIE_NAME}={value}", "Content-Type": "application/json"}

    decoded = httpx.post(f"{api}/codec/decode", content=body, headers=cookie, timeout=30)
    assert decoded.status_code == 200, decoded.text
    assert SECRET.encode() in json_format.Parse(decoded.content, Payloads()).payloads[0].data
    from_ui = httpx.post(
        f"{api}/codec/decode", content=body, headers={**cookie, "Origin": UI_ORIGIN}, timeout=30
    )
    assert from_ui.status_code == 200
    assert from_ui.headers["access-control-allow-credentials"] == "true"

    # Everywhere else the cookie counts for nothing: the bearer token is still needed,
    # so a page that makes the browser send the cookie cannot change or read anything.
    for method, path in (
        ("GET", "/runs"),
        ("GET", f"/runs/{runs['first']}"),
        ("POST", "/workflows/x/runs"),
        ("POST", "/session"),  # a cookie never makes another cookie
        ("DELETE", "/session"),
    ):
        refused = httpx.request(method, f"{api}{path}", json={}, headers=cookie, timeout=30)
        assert refused.status_code == 401, (method, path, refused.text)
        assert "set-cookie" not in refused.headers
    # A foreign page's request is refused before the cookie is even looked at.
    evil = {**cookie, "Origin": "http://evil.example"}
    assert httpx.post(f"{api}/codec/decode", content=body, headers=evil).status_code == 403
    # A token, when given, is what counts: a wrong one is refused even with a good cookie.
    wrong = {**cookie, "Authorization": "Bearer " + "x" * 40}
    assert httpx.post(f"{api}/codec/decode", content=body, headers=wrong).status_code == 401

    ended = httpx.delete(f"{api}/session", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ended.status_code == 204
    assert f"{COOKIE_NAME}=;" in ended.headers["set-cookie"]
    assert "Max-Age=0" in ended.headers["set-cookie"]


def _stale(now: float) -> str:
    return CodecSessions((TOKEN,), 60, clock=lambda: now).issue(TOKEN).value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (lambda: _stale(time.time() - 61), "the codec session has expired"),
        (lambda: "v1.9999999999.AAAAAAAAAAAAAAAAAAAAAA." + "A" * 43, "not signed by a current"),
        # Made for a token this API no longer has (rotated out): revoked with it.
        (
            lambda: CodecSessions(("r" * 32,)).issue("r" * 32).value,
            "not signed by a current API token",
        ),
        (lambda: "garbage", "not one this API issued"),
    ],
)
def test_stale_and_forged_session_cookies_are_401(
    codec_api: httpx.Client, value: Any, problem: str
) -> None:
    api = str(codec_api.base_url).rstrip("/")
    refused = httpx.post(
        f"{api}/codec/decode",
        content=b'{"payloads": []}',
        headers={"Cookie": f"{COOKIE_NAME}={value()}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert refused.status_code == 401 and refused.json()["code"] == "UNAUTHORIZED"
    assert problem in refused.json()["detail"]
    assert "www-authenticate" in refused.headers


def test_without_authentication_no_session_is_needed(
    postgres_url: str, temporal_address: str
) -> None:
    """`segue dev` (authentication off): the codec routes answer as is; `POST /session`
    says so instead of making a cookie that nothing checks."""
    config = ApiConfig(
        database_url=postgres_url,
        temporal_address=temporal_address,
        auth_disabled=True,
        codec_keys=ROTATED,
    )
    app = create_app(config, catalog=ActionCatalog(builtin_actions()))
    with TestClient(app, base_url="http://127.0.0.1") as client:  # loopback: dev mode
        answer = client.post("/session", json={})
        assert answer.status_code == 409 and answer.json()["code"] == "SESSION_NOT_NEEDED"
        assert "set-cookie" not in answer.headers
        empty = client.post("/codec/decode", json={"payloads": []})
        assert empty.status_code == 200
