"""Issue 16's third fault: the API restarted while one run holds a slot and another
waits for it. Slots live in PostgreSQL and are taken and given back by the runs' own
activities, so the API going away loses nothing: after the restart the queued run is
still QUEUED, `GET /limits` still counts one holder and one waiter, the holder's approval
(through the new API process) frees the slot, the waiter runs, and nothing is left."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from engine.temporal.devserver import free_port
from tests.support.limits import until
from tests.support.processes import start_api, start_worker, stop_process, wait_for_api

pytestmark = [pytest.mark.temporal, pytest.mark.postgres]


def approval_under_limit(limit: str) -> str:
    """Holds `limit` (one slot) until its approval is answered."""
    return f"""
version: 1
concurrency_limits:
  {limit}: {{limit: 1}}
tasks:
  approve:
    action: core.approval
    input: {{timeout: 300}}
"""


def _status(api: str, run_id: str) -> str:
    return str(httpx.get(f"{api}/runs/{run_id}", timeout=10).json()["status"])


def _usage(api: str, limit: str) -> tuple[int, int]:
    answer = httpx.get(f"{api}/limits", params={"name": limit}, timeout=10)
    assert answer.status_code == 200, answer.text
    found = answer.json()["limits"]
    return (found[0]["holders"], found[0]["waiters"]) if found else (0, 0)


def _approve(api: str, run_id: str) -> None:
    answer = httpx.post(
        f"{api}/runs/{run_id}/signals/approve", json={"payload": {"approved": True}}, timeout=30
    )
    assert answer.status_code in (200, 202), answer.text


def test_an_api_restart_loses_no_slot_and_no_waiter(
    tmp_path: Path, temporal_address: str, postgres_url: str
) -> None:
    queue = f"limit-api-{uuid.uuid4().hex[:8]}"
    limit = f"one_{uuid.uuid4().hex[:8]}"
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    worker = start_worker(temporal_address, queue, postgres_url, tmp_path / "worker.log")
    process = start_api(port, postgres_url, temporal_address, queue, tmp_path / "api.log")
    try:
        wait_for_api(api, process)
        name = f"limited_{uuid.uuid4().hex[:8]}"
        registered = httpx.post(
            f"{api}/workflows",
            params={"name": name},
            content=approval_under_limit(limit),
            headers={"Content-Type": "application/yaml"},
            timeout=30,
        )
        assert registered.status_code in (200, 201), registered.text

        def start() -> str:
            answer = httpx.post(f"{api}/workflows/{name}/runs", json={}, timeout=30)
            assert answer.status_code in (200, 201, 202), answer.text
            return str(answer.json()["runId"])

        holder = start()
        until(lambda: _usage(api, limit) == (1, 0), "the first run holds the slot")
        waiter = start()
        until(lambda: _usage(api, limit) == (1, 1), "the second run waits")
        until(lambda: _status(api, waiter) == "QUEUED", "the second run is QUEUED")

        stop_process(process)
        process = start_api(port, postgres_url, temporal_address, queue, tmp_path / "api.log")
        wait_for_api(api, process)

        assert _usage(api, limit) == (1, 1)
        assert _status(api, waiter) == "QUEUED"
        assert _status(api, holder) == "RUNNING"
        _approve(api, holder)
        until(lambda: _status(api, holder) == "COMPLETED", "the holder completes")
        until(lambda: _status(api, waiter) == "RUNNING", "the waiter takes the slot")
        assert _usage(api, limit) == (1, 0)
        until(
            lambda: (
                httpx.post(
                    f"{api}/runs/{waiter}/signals/approve",
                    json={"payload": {"approved": True}},
                    timeout=30,
                ).status_code
                in (200, 202)
            ),
            "the waiter's approval is open",
        )
        until(lambda: _status(api, waiter) == "COMPLETED", "the waiter completes")
        assert _usage(api, limit) == (0, 0)
    finally:
        stop_process(process)
        stop_process(worker)
