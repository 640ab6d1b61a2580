"""Bearer tokens on every route but /health and the schema; problem JSON (never a 500)
when PostgreSQL or Temporal is unreachable; the start-up refusals of `segue api`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.cli import main as segue_main
from api.config import ApiConfig, ConfigError
from api.serve import serving_config
from tests.api.conftest import OTHER_TOKEN, TOKEN, Harness, api_catalog, unique
from tests.api.test_workflows import CHAIN, problem

pytestmark = [pytest.mark.postgres, pytest.mark.temporal]
ROOT = Path(__file__).resolve().parents[2]


def dead_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def routes(harness: Harness) -> Iterator[tuple[str, str]]:
    """Every (method, path) of the OpenAPI document, with sample path parameters."""
    schema = httpx.get(f"{harness.url}/schema/openapi.json").json()
    for path, operations in schema["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "sample", path)
        for method in operations:
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method.upper(), concrete


def test_every_route_but_health_needs_a_token(harness: Harness) -> None:
    checked = list(routes(harness))
    assert len(checked) >= 15
    with httpx.Client(base_url=harness.url) as anonymous:
        for method, path in checked:
            if path == "/health" or path.startswith("/hooks/"):
                continue  # /hooks/ deliveries prove themselves by signature (test_webhooks)
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
                answer = anonymous.request(method, path, headers=headers, json={})
                body = problem(answer, 401, "UNAUTHORIZED")
                assert "Bearer" in answer.headers["www-authenticate"], (method, path, body)
    # The second configured token works as well as the first.
    other = httpx.get(
        f"{harness.url}/workflows", headers={"Authorization": f"Bearer {OTHER_TOKEN}"}
    )
    assert other.status_code == 200


def test_health_and_schema_are_public(harness: Harness) -> None:
    health = httpx.get(f"{harness.url}/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "postgres": "ok", "temporal": "ok"}
    schema = httpx.get(f"{harness.url}/schema/openapi.json")
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "Segue"
    register = schema.json()["paths"]["/workflows"]["post"]
    assert "application/yaml" in register["requestBody"]["content"]


def test_an_unreachable_database_is_503_not_500(harness: Harness) -> None:
    config = ApiConfig(
        database_url=f"postgresql://postgres@127.0.0.1:{dead_port()}/segue",
        temporal_address=harness.temporal_address,
        tokens=(TOKEN,),
    )
    with TestClient(create_app(config, catalog=api_catalog())) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        for method, path in [
            ("GET", "/workflows"),
            ("GET", "/workflows/x"),
            ("GET", "/runs"),
            ("GET", "/runs/abc"),
            ("GET", "/runs/abc/trace"),
            ("POST", "/runs/abc/cancel"),
        ]:
            problem(client.request(method, path), 503, "STORE_UNAVAILABLE")
        registered = client.post("/workflows", params={"name": "x"}, content=CHAIN.encode())
        problem(registered, 503, "STORE_UNAVAILABLE")
        event = client.post("/events", json={"event": "e", "key": "k", "payload": {}})
        problem(event, 503, "STORE_UNAVAILABLE")
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["postgres"] == "unavailable" and health.json()["temporal"] == "ok"
        assert health.json()["code"] == "UNHEALTHY"


def test_an_unreachable_temporal_fails_the_start_with_503(harness: Harness) -> None:
    config = ApiConfig(
        database_url=harness.database_url,
        temporal_address=f"127.0.0.1:{dead_port()}",
        tokens=(TOKEN,),
    )
    name = unique("orphan")
    with TestClient(create_app(config, catalog=api_catalog())) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        assert client.post("/workflows", params={"name": name}, content=CHAIN.encode()).is_success
        answer = client.post(f"/workflows/{name}/runs", json={"input": {}})
        body = problem(answer, 503, "TEMPORAL_UNAVAILABLE")
        run = client.get(f"/runs/{body['runId']}").json()
        assert run["status"] == "FAILED"
        assert run["failure"]["temporalCode"] == "UNAVAILABLE" and run["failure"]["reason"]
        health = client.get("/health")
        assert health.status_code == 503 and health.json()["temporal"] == "unavailable"


def test_a_start_temporal_does_not_confirm_in_time_is_not_recorded_failed(
    harness: Harness,
) -> None:
    """A start whose answer times out may still have happened: the run stays QUEUED (never
    FAILED while Temporal may be running it) and a retry with the same key makes sure."""
    name = unique("unconfirmed")
    harness.register(name, CHAIN)
    impatient = ApiConfig(
        database_url=harness.database_url,
        temporal_address=harness.temporal_address,
        task_queue=harness.task_queue,
        tokens=(TOKEN,),
        temporal_timeout_seconds=0.000_001,  # every Temporal call times out
    )
    with TestClient(create_app(impatient, catalog=api_catalog())) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        answer = client.post(
            f"/workflows/{name}/runs", json={"input": {}}, headers={"Idempotency-Key": "k1"}
        )
        body = problem(answer, 503, "START_UNCONFIRMED")
        assert answer.headers["Retry-After"] == "5"
    run_id = body["runId"]
    assert harness.client.get(f"/runs/{run_id}").json()["status"] != "FAILED"

    again = harness.client.post(
        f"/workflows/{name}/runs", json={"input": {}}, headers={"Idempotency-Key": "k1"}
    )
    assert again.status_code == 200 and again.json()["runId"] == run_id, again.text
    assert harness.wait_for(run_id)["status"] == "COMPLETED"


def test_no_token_refuses_to_start_unless_dev_mode_on_loopback() -> None:
    with pytest.raises(ConfigError):
        create_app(ApiConfig(tokens=()))
    assert create_app(ApiConfig(tokens=(), auth_disabled=True)) is not None
    with pytest.raises(ConfigError):
        serving_config("127.0.0.1", insecure_dev=False, config=ApiConfig())
    with pytest.raises(ConfigError):
        serving_config("0.0.0.0", insecure_dev=True, config=ApiConfig())
    assert serving_config("::1", insecure_dev=True, config=ApiConfig()).auth_disabled
    assert not serving_config(
        "0.0.0.0", insecure_dev=True, config=ApiConfig(tokens=(TOKEN,))
    ).auth_disabled
    os.environ.pop("SEGUE_API_TOKEN", None)
    assert segue_main(["api", "--host", "0.0.0.0", "--insecure-dev"]) == 2


def test_segue_api_serves(harness: Harness) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "SEGUE_API_TOKEN": "cli-token-0123456789abcdef0123456789",
        "SEGUE_DATABASE_URL": harness.database_url,
        "SEGUE_TEMPORAL_ADDRESS": harness.temporal_address,
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "api.cli", "api", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert health.status_code == 200
        headers = {"Authorization": "Bearer cli-token-0123456789abcdef0123456789"}
        assert httpx.get(f"http://127.0.0.1:{port}/workflows", headers=headers).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/workflows").status_code == 401
    finally:
        process.terminate()
        process.wait(15)
