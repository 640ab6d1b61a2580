"""Issue 11 at the API: request bodies nested too deep are refused before any recursive
code reads them (case 1); costly validation runs in worker processes with a deadline,
on a linear-time regex engine, and `/health` stays fast meanwhile (case 7)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.api.conftest import Harness, unique
from tests.api.test_workflows import problem
from tests.bounded.test_trace_sink import nested

pytestmark = [pytest.mark.postgres, pytest.mark.temporal]

ECHO_INPUT = """\
version: 1
input:
  a: {}
tasks:
  look:
    action: core.noop
output:
  a: <% $ctx.a %>
"""


def test_a_body_nested_deeper_than_64_is_400_before_anything_reads_it(harness: Harness) -> None:
    name = unique("deep")
    harness.register(name, ECHO_INPUT)
    raw = b'{"input": {"a": ' + b"[" * 5000 + b"1" + b"]" * 5000 + b"}}"
    began = time.monotonic()
    answer = harness.client.post(
        f"/workflows/{name}/runs", content=raw, headers={"content-type": "application/json"}
    )
    assert time.monotonic() - began < 1.0
    body = problem(answer, 400, "BODY_INVALID")
    assert "64" in body["detail"]
    # The same bound for any JSON body, and brackets inside strings do not count.
    just_over = json.dumps({"input": {"a": nested(63)}})  # the body is 65 deep
    answer = harness.client.post(
        f"/workflows/{name}/runs", content=just_over, headers={"content-type": "application/json"}
    )
    problem(answer, 400, "BODY_INVALID")
    assert harness.client.get("/runs", params={"workflow": name}).json()["runs"] == []


def test_a_body_64_deep_runs_and_echoes(harness: Harness) -> None:
    name = unique("deep_ok")
    harness.register(name, ECHO_INPUT)
    value = {"deep": nested(61), "text": "[[[[" * 100}
    run_id = harness.start(name, {"a": value})  # the body: exactly 64 levels
    status = harness.wait_for(run_id)
    assert status["status"] == "COMPLETED" and status["output"] == {"a": value}


# ------------------------------------------------------------------ case 7: CPU off the loop


class HealthProbe:
    """GET /health over and over in a thread of its own: the slowest answer seen."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, daemon=True)

    def _probe(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                began = time.monotonic()
                answer = client.get("/health")
                self.latencies.append(time.monotonic() - began)
                assert answer.status_code == 200, answer.text
                time.sleep(0.05)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)


CATASTROPHIC = """\
version: 1
input:
  word: {type: string, pattern: "^(a+)+$"}
  things: {type: array, uniqueItems: true, default: []}
tasks:
  look:
    action: core.noop
"""


def test_costly_input_validation_leaves_health_fast(harness: Harness) -> None:
    name = unique("costly")
    harness.register(name, CATASTROPHIC)
    with HealthProbe(harness.url) as probe:
        began = time.monotonic()
        answer = harness.client.post(
            f"/workflows/{name}/runs", json={"input": {"word": "a" * 26 + "b"}}
        )
        body = problem(answer, 422, "INPUT_INVALID")  # RE2: no backtracking at all
        assert time.monotonic() - began < 1.0 and "does not match" in str(body["errors"])
        began = time.monotonic()
        things = [{"id": index, "tags": ["x", "y"]} for index in range(4000)]
        answer = harness.client.post(
            f"/workflows/{name}/runs", json={"input": {"word": "aaa", "things": things}}
        )
        took = time.monotonic() - began
        problem(answer, 422, "TOO_COSTLY")  # 17 s of `uniqueItems`, stopped at 2 s
        assert took < 4.0
    print(f"uniqueItems refused in {took:.2f} s; /health max {max(probe.latencies):.3f} s")
    assert probe.latencies and max(probe.latencies) < 1.0, max(probe.latencies)
    # The worker process that was stopped has been replaced: the next request works.
    run_id = harness.start(name, {"word": "aaaa"})
    assert harness.wait_for(run_id)["status"] == "COMPLETED"


def test_a_regex_without_a_linear_time_engine_is_refused_at_registration(
    harness: Harness,
) -> None:
    text = CATASTROPHIC.replace('"^(a+)+$"', '"^(a)\\\\1$"')
    answer = harness.client.post("/workflows", params={"name": unique("br")}, content=text)
    body = problem(answer, 422, "WORKFLOW_INVALID")
    assert "linear time" in str(body["errors"])


def large_workflow(tasks: int) -> str:
    lines = ["version: 1", "tasks:"]
    for index in range(tasks):
        lines += [f"  t{index}:", "    action: core.echo", "    input: {v: <% $ctx.x %>}"]
        if index + 1 < tasks:
            lines += [
                "    next:",
                "      - publish: {x: <% $result.v %>}",
                f"        do: t{index + 1}",
            ]
    return "\n".join(lines) + "\nvars: {x: 1}\n"


def test_six_large_validations_at_once_leave_health_fast(harness: Harness) -> None:
    text = large_workflow(1000)  # the most tasks registration accepts
    assert len(text) < 250_000  # the harness's body limit is 256 KiB

    def validate() -> dict[str, Any]:
        with httpx.Client(base_url=harness.url, headers=harness.client.headers, timeout=60) as c:
            answer = c.post("/workflows/validate", params={"name": "large"}, content=text)
            assert answer.status_code == 200, answer.text
            result: dict[str, Any] = answer.json()
            return result

    with HealthProbe(harness.url) as probe, ThreadPoolExecutor(6) as pool:
        began = time.monotonic()
        reports = list(pool.map(lambda _: validate(), range(6)))
        took = time.monotonic() - began
    print(f"six validations {took:.2f} s; /health max {max(probe.latencies):.3f} s")
    assert all(report["valid"] for report in reports), reports[0]
    assert probe.latencies and max(probe.latencies) < 1.0, max(probe.latencies)


# ------------------------------------------------------------------ case 3: workflow size


def test_a_workflow_over_the_task_limit_is_refused_and_one_at_it_runs(harness: Harness) -> None:
    tiny = "version: 1\ntasks:\n" + "".join(f"  t{i}: {{action: core.noop}}\n" for i in range(8000))
    began = time.monotonic()
    answer = harness.client.post("/workflows", params={"name": unique("huge")}, content=tiny)
    body = problem(answer, 422, "WORKFLOW_INVALID")
    assert time.monotonic() - began < 5.0
    assert "at most 1000" in body["errors"][0]["message"]
    name = unique("thousand")
    harness.register(name, large_workflow(1000))
    began = time.monotonic()
    run_id = harness.start(name)
    status = harness.wait_for(run_id, timeout=120)
    print(f"1,000-task chain ran in {time.monotonic() - began:.1f} s")
    assert status["status"] == "COMPLETED", status
