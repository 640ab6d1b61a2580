"""Issue 11 at the API: request bodies nested too deep are refused before any recursive
code reads them (case 1)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.api.conftest import Harness, unique
from tests.api.test_workflows import problem

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


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_a_body_nested_deeper_than_64_is_400_before_anything_reads_it(harness: Harness) -> None:
    name = unique("deep")
    harness.register(name, ECHO_INPUT)
    raw = b'{"input": {"a": ' + b"[" * 5000 + b"1" + b"]" * 5000 + b"}}"
    began = time.monotonic()
    answer = harness.client.post(
        f"/workflows/{name}/runs", content=raw, headers={"content-type": "application/json"}
    )
    assert time.monotonic() - began < 1.0
    body = problem(answer, 400, "BODY_TOO_DEEP")
    assert "64" in body["detail"]
    # The same bound for any JSON body, and brackets inside strings do not count.
    just_over = json.dumps({"input": {"a": nested(63)}})  # the body is 65 deep
    answer = harness.client.post(
        f"/workflows/{name}/runs", content=just_over, headers={"content-type": "application/json"}
    )
    problem(answer, 400, "BODY_TOO_DEEP")
    assert harness.client.get("/runs", params={"workflow": name}).json()["runs"] == []


def test_a_body_64_deep_runs_and_echoes(harness: Harness) -> None:
    name = unique("deep_ok")
    harness.register(name, ECHO_INPUT)
    value = {"deep": nested(61), "text": "[[[[" * 100}
    run_id = harness.start(name, {"a": value})  # the body: exactly 64 levels
    status = harness.wait_for(run_id)
    assert status["status"] == "COMPLETED" and status["output"] == {"a": value}
