"""Live streams are capped per client and per process, and idle streams share one
backing-off end check instead of each asking Temporal on a fixed beat."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

import api.runs
from api.app import create_app
from api.config import ApiConfig
from api.problems import ApiProblem
from api.stream_limits import EndChecks, StreamLimits, next_check_delay
from tests.api.conftest import TOKEN, Harness, ServedApp, api_catalog, unique
from tests.api.test_workflows import problem

WAITS = """\
version: 1
tasks:
  wait:
    action: core.wait_event
    input: {event: never-comes}
"""


def _served(harness: Harness, **overrides: Any) -> ServedApp:
    config = ApiConfig(
        database_url=harness.database_url,
        temporal_address=harness.temporal_address,
        task_queue=harness.task_queue,
        tokens=(TOKEN,),
        **overrides,
    )
    served = ServedApp(create_app(config, catalog=api_catalog()))
    served.start()
    return served


@pytest.fixture
def waiting_run(harness: Harness) -> Iterator[str]:
    name = unique("idle")
    harness.register(name, WAITS)
    run_id = harness.start(name)
    harness.wait_for(run_id, lambda s: s["status"] == "RUNNING")
    yield run_id
    harness.client.post(f"/runs/{run_id}/cancel")


def _describe_calls_while_streaming(
    harness: Harness, run_id: str, monkeypatch: pytest.MonkeyPatch, streams: int, **config: Any
) -> int:
    calls: list[str] = []
    real = api.runs.describe_run

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(str(args[1]))
        return await real(*args, **kwargs)

    monkeypatch.setattr(api.runs, "describe_run", counting)
    served = _served(harness, sse_max_streams_per_client=streams, **config)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        with (
            httpx.Client(base_url=served.url, headers=headers, timeout=10) as client,
            ExitStack() as open_streams,
        ):
            for _ in range(streams):
                answer = open_streams.enter_context(client.stream("GET", f"/runs/{run_id}/stream"))
                assert answer.status_code == 200
            time.sleep(3.2)
    finally:
        served.stop()
        monkeypatch.setattr(api.runs, "describe_run", real)
    return len(calls)


def test_idle_streams_share_a_backing_off_end_check(
    harness: Harness, waiting_run: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What every stream used to do: check on its own, on a fixed beat.
    with monkeypatch.context() as old_way:
        old_way.setattr(EndChecks, "ended", lambda self, run_id, check: check())
        fixed = _describe_calls_while_streaming(
            harness,
            waiting_run,
            monkeypatch,
            4,
            sse_idle_check_seconds=0.5,
            sse_idle_check_max_seconds=0.5,
        )
    shared = _describe_calls_while_streaming(
        harness,
        waiting_run,
        monkeypatch,
        4,
        sse_idle_check_seconds=0.5,
        sse_idle_check_max_seconds=8.0,
    )
    print(f"describe calls in 3.2 s with 4 idle streams: fixed {fixed}, shared {shared}")
    assert shared <= 5  # checks at 0, 0.5, 1.5, 3.5 s, shared by the four streams
    assert shared < fixed


def test_streams_are_capped_per_client(harness: Harness, waiting_run: str) -> None:
    served = _served(harness, sse_max_streams_per_client=2)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        with httpx.Client(base_url=served.url, headers=headers, timeout=10) as client:
            url = f"/runs/{waiting_run}/stream"
            with client.stream("GET", url) as first, client.stream("GET", url) as second:
                assert first.status_code == second.status_code == 200
                third = client.get(url)
                body = problem(third, 429, "TOO_MANY_STREAMS")
                assert "Retry-After" in third.headers and body["code"] == "TOO_MANY_STREAMS"
            deadline = time.monotonic() + 10
            while True:  # the closed streams give their places back
                with client.stream("GET", url) as again:
                    if again.status_code == 200:
                        break
                assert time.monotonic() < deadline
                time.sleep(0.2)
    finally:
        served.stop()


def test_the_process_wide_cap_and_the_back_off() -> None:
    limits = StreamLimits(per_client=5, total=2)
    first, second = limits.admit("a"), limits.admit("b")
    with pytest.raises(ApiProblem) as refused:
        limits.admit("c")
    assert refused.value.status == 503 and refused.value.code == "TOO_MANY_STREAMS"
    first.release()
    first.release()  # idempotent
    limits.admit("c")
    second.release()
    assert limits.open == 1
    delays = [0.0]
    for _ in range(6):
        delays.append(next_check_delay(delays[-1], 5.0, 60.0))
    assert delays[1:] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
