"""Slow, deep and forged requests: bounded, and answered as problems with stable codes."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from api.app import create_app
from api.config import ApiConfig, ConfigError
from api.http_server import ServerLimits
from api.limits import json_depth
from tests.api.conftest import TOKEN, Harness, ServedApp, api_catalog, unique
from tests.api.test_auth_and_failures import dead_port
from tests.api.test_workflows import CHAIN, problem


@pytest.fixture
def impatient_server(harness: Harness) -> Iterator[ServedApp]:
    """The API with one-second read deadlines and room for 40 connections."""
    config = ApiConfig(
        database_url=harness.database_url,
        temporal_address=harness.temporal_address,
        task_queue=harness.task_queue,
        tokens=(TOKEN,),
    )
    limits = ServerLimits(header_timeout=1.0, body_timeout=1.0, max_connections=40)
    served = ServedApp(create_app(config, catalog=api_catalog()), limits)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def _closed_within(sock: socket.socket, seconds: float, drip: bytes | None) -> bytes:
    """Everything the server sent until it closed the connection; fails past `seconds`.
    With `drip`, one more header line is sent every 0.3 s meanwhile (a slow client)."""
    sock.settimeout(0.3)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            if drip is not None:
                try:
                    sock.sendall(drip)
                except OSError:
                    return received
            continue
        except OSError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the connection was still open after {seconds} s")


def test_slow_header_clients_are_cut_off(impatient_server: ServedApp) -> None:
    port = impatient_server.port
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
    try:
        for client in clients:
            client.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        answers = [_closed_within(c, 4.0, b"X-Slow: 1\r\n") for c in clients]
        assert time.monotonic() - started < 4.0
        assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers[0]
        assert b"REQUEST_TIMEOUT" in answers[0]
    finally:
        for client in clients:
            client.close()
    assert httpx.get(f"{impatient_server.url}/health", timeout=10).status_code == 200


def test_slow_bodies_and_silent_connections_are_cut_off(impatient_server: ServedApp) -> None:
    with socket.create_connection(("127.0.0.1", impatient_server.port), timeout=5) as silent:
        assert _closed_within(silent, 3.0, None).startswith(b"HTTP/1.1 408")
    with socket.create_connection(("127.0.0.1", impatient_server.port), timeout=5) as slow:
        slow.sendall(
            b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 1000\r\n\r\n{"
        )
        _closed_within(slow, 3.0, None)


def test_connections_past_the_cap_are_closed(impatient_server: ServedApp) -> None:
    held = [socket.create_connection(("127.0.0.1", impatient_server.port)) for _ in range(45)]
    try:
        time.sleep(0.2)
        extra = held[-1]
        assert _closed_within(extra, 2.0, None) == b""  # aborted, nothing answered
    finally:
        for sock in held:
            sock.close()


def test_deep_json_is_400_before_any_parser(harness: Harness) -> None:
    assert json_depth(b'{"a": "[[[[", "b": [[1]]}') == 3
    deep = b"[" * 10_000 + b"]" * 10_000
    for path in ("/events", f"/workflows/{unique('deep')}/runs"):
        answer = harness.client.post(
            path, content=deep, headers={"Content-Type": "application/json"}
        )
        problem(answer, 400, "BODY_INVALID")
    nested = {"event": "e", "payload": json.loads("[" * 60 + "]" * 60)}
    assert harness.client.post("/events", json=nested).status_code == 202


@pytest.mark.parametrize(
    "cursor",
    [
        "r:999999999999999999:abc",  # year 33658: beyond what a datetime holds
        "r:-999999999999999999:abc",
        "r:1:",
        "r::abc",
        "t:5",
        "x",
    ],
)
def test_every_malformed_runs_cursor_is_400(harness: Harness, cursor: str) -> None:
    if ":" in cursor:
        cursor = base64.urlsafe_b64encode(cursor.encode()).rstrip(b"=").decode()
    answer = harness.client.get("/runs", params={"cursor": cursor})
    problem(answer, 400, "INVALID_CURSOR")


def test_problems_do_not_reveal_internal_addresses(harness: Harness) -> None:
    port = dead_port()
    config = ApiConfig(
        database_url=harness.database_url,
        temporal_address=f"127.0.0.1:{port}",
        tokens=(TOKEN,),
    )
    from litestar.testing import TestClient

    name = unique("hidden")
    with TestClient(create_app(config, catalog=api_catalog())) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        client.post("/workflows", params={"name": name}, content=CHAIN.encode())
        answer = client.post(f"/workflows/{name}/runs", json={"input": {}})
        body = problem(answer, 503, "TEMPORAL_UNAVAILABLE")
        run = client.get(f"/runs/{body['runId']}").text
    for text in (answer.text, run):
        assert str(port) not in text and "127.0.0.1" not in text
        assert "/work" not in text and ".py" not in text


def test_short_tokens_are_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="shorter than 32 bytes"):
        create_app(ApiConfig(tokens=("a",)))
    with pytest.raises(ConfigError, match="shorter than 32 bytes"):
        ApiConfig.from_env({"SEGUE_API_TOKEN": f"{TOKEN},short"}).check()
    ApiConfig(tokens=("x" * 32,)).check()


SERVER_SETTINGS = [
    ({}, ServerLimits()),
    (
        {
            "SEGUE_API_HEADER_TIMEOUT": "2.5",
            "SEGUE_API_BODY_TIMEOUT": "60",
            "SEGUE_API_MAX_CONNECTIONS": "200",
            "SEGUE_API_KEEP_ALIVE": "2",
        },
        ServerLimits(header_timeout=2.5, body_timeout=60.0, max_connections=200, keep_alive=2),
    ),
]


@pytest.mark.parametrize(("environ", "limits"), SERVER_SETTINGS)
def test_server_limits_are_settings(environ: dict[str, str], limits: ServerLimits) -> None:
    assert ServerLimits.from_env(environ) == limits


REFUSED_SETTINGS = [
    ({"SEGUE_API_HEADER_TIMEOUT": "soon"}, "SEGUE_API_HEADER_TIMEOUT must be a number"),
    ({"SEGUE_API_HEADER_TIMEOUT": "3600"}, "SEGUE_API_HEADER_TIMEOUT must be between 0.1 and 300"),
    ({"SEGUE_API_BODY_TIMEOUT": "0"}, "SEGUE_API_BODY_TIMEOUT must be between 0.1 and 3600"),
    ({"SEGUE_API_MAX_CONNECTIONS": "0"}, "SEGUE_API_MAX_CONNECTIONS must be between 1 and"),
    ({"SEGUE_API_MAX_CONNECTIONS": "1.5"}, "SEGUE_API_MAX_CONNECTIONS must be a number"),
    ({"SEGUE_API_KEEP_ALIVE": "nan"}, "SEGUE_API_KEEP_ALIVE must be a number"),
    ({"SEGUE_API_HEADER_TIMEOUT": "nan"}, "SEGUE_API_HEADER_TIMEOUT must be between"),
]


@pytest.mark.parametrize(("environ", "message"), REFUSED_SETTINGS)
def test_unworkable_server_limits_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        ServerLimits.from_env(environ)
    assert str(refused.value).startswith(message)


@pytest.fixture
def named_host_server(harness: Harness) -> Iterator[ServedApp]:
    config = ApiConfig(
        database_url=harness.database_url,
        temporal_address=harness.temporal_address,
        task_queue=harness.task_queue,
        tokens=(TOKEN,),
        allowed_hosts=("api.example",),
    )
    served = ServedApp(create_app(config, catalog=api_catalog()))
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.mark.parametrize("path", ["/runs", "/no/such/route", "/schema/openapi.json", "/health"])
def test_the_host_is_checked_before_routing(named_host_server: ServedApp, path: str) -> None:
    """A rebound name is refused on every path, unknown ones included (not a 404 that
    tells a page which paths exist)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=named_host_server.url, timeout=10) as client:
        refused = client.get(path, headers={**headers, "Host": "evil.example"})
        assert refused.status_code == 400 and refused.json()["code"] == "HOST_NOT_ALLOWED"
        allowed = client.get(path, headers={**headers, "Host": "api.example"})
        assert allowed.status_code != 400
