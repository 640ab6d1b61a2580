"""A real run (Temporal, worker, PostgreSQL) exported as a `segue simulate` case, and the
simulator, fed that case, reproduces the run: status, output, every task's executions
and their order. For the monitoring loop, a loop of six laps, the approval, a retried,
failed run, and a with-items run whose items fail and are retried."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from api.export_files import write_case
from tests.api.conftest import TOKEN, Harness, unique
from tests.api.test_console import EXAMPLES, health_service  # noqa: F401 (a fixture)

RETRIED = """\
version: 1
input:
  url: {type: string}
tasks:
  begin:
    action: core.echo
    input: {go: true}
    next: [{do: reach}]
  reach:
    action: http.request
    input: {url: <% $ctx.url %>}
    retry: {count: 2, delay: 0}
    next:
      - when: $succeeded()
        do: done
  done:
    action: core.echo
    input: {done: true}
"""

# Items "flaky-*" expect 200 from a demo endpoint that answers 503 twice, then 200: two
# failed attempts each, then a result; items "steady-*" take the first answer. Two run at
# once, so the attempts of different items interleave in the trace.
WITH_ITEMS = """\
version: 1
input:
  base: {type: string}
  hosts:
    type: array
    default:
      - {name: flaky-a, expect: [200]}
      - {name: steady-b, expect: [200, 503]}
      - {name: flaky-c, expect: [200]}
      - {name: steady-d, expect: [200, 503]}
tasks:
  check:
    with:
      items: <% $ctx.hosts %>
      concurrency: 2
    action: http.request
    input:
      url: "<% $ctx.base %>/<% $item.name %>"
      expect_status: <% $item.expect %>
    retry: {count: 2, delay: 0}
    next:
      - when: $succeeded()
        publish:
          statuses: <% $result.status %>
output:
  statuses: <% $ctx.statuses %>
"""


def simulate(paths: dict[str, Path]) -> dict[str, Any]:
    printed = io.StringIO()
    with redirect_stdout(printed):
        main(
            [
                "simulate",
                str(paths["workflow"]),
                "--input",
                f"@{paths['input']}",
                "--mocks",
                str(paths["mocks"]),
                "--json",
            ]
        )
    outcome: dict[str, Any] = json.loads(printed.getvalue())
    return outcome


def monitoring(harness: Harness, url: str) -> str:
    name = unique("monitoring")
    harness.register(name, (EXAMPLES / "monitoring.yaml").read_text())
    return harness.start(name, {"url": url, "interval": 0, "max_checks": 5})


def six_laps(harness: Harness, url: str) -> str:
    name = unique("loop")
    harness.register(name, (EXAMPLES / "conditional-loop.yaml").read_text())
    return harness.start(name, {"pages": 6})


def with_retried_items(harness: Harness, url: str) -> str:
    name = unique("items")
    harness.register(name, WITH_ITEMS)
    return harness.start(name, {"base": url})


def approval(harness: Harness, url: str) -> str:
    name = unique("approval")
    harness.register(name, (EXAMPLES / "approval.yaml").read_text())
    run_id = harness.start(name)
    harness.wait_for_event(run_id, lambda e: (e.get("message") or "").startswith("waiting"))
    answer = harness.client.post(
        f"/runs/{run_id}/signals/approve", json={"payload": {"approved": True, "by": "ada"}}
    )
    assert answer.status_code == 202, answer.text
    return run_id


def retried_and_failed(harness: Harness, url: str) -> str:
    name = unique("retried")
    harness.register(name, RETRIED)
    return harness.start(name, {"url": "http://127.0.0.1:1/refused"})


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        (monitoring, "succeeded"),
        (six_laps, "succeeded"),
        (approval, "succeeded"),
        (retried_and_failed, "failed"),
        (with_retried_items, "succeeded"),
    ],
)
def test_simulating_the_export_reproduces_the_run(
    harness: Harness,
    health_service: str,  # noqa: F811
    tmp_path: Path,
    scenario: Callable[[Harness, str], str],
    status: str,
) -> None:
    run_id = scenario(harness, health_service)
    final = harness.wait_for(run_id, timeout=60)
    answer = harness.client.get(f"/runs/{run_id}/export")
    assert answer.status_code == 200, answer.text
    case = answer.json()
    assert case["inexact"] == []
    assert case["expect"]["status"] == status
    assert case["expect"]["output"] == final["output"]
    outcome = simulate(write_case(case, tmp_path))
    assert outcome["status"] == case["expect"]["status"]
    assert outcome["output"] == case["expect"]["output"]
    tasks = [entry["task"] for entry in outcome["sequence"]]
    assert {task: tasks.count(task) for task in tasks} == case["expect"]["tasks"]
    assert tasks == case["expect"]["order"]
    if scenario is retried_and_failed:  # two failed attempts, then the last one fails
        reach = [mock for mock in case["mocks"] if mock["task"] == "reach"]
        assert [mock.get("times") for mock in reach] == [2, None]
        assert all(mock["status"] == "failed" for mock in reach)
    if scenario is six_laps:  # one mock per lap, each with its own recorded result
        assert case["expect"]["tasks"] == {"fetch": 6}
        laps = [(mock["iteration"], mock["result"]["page"]) for mock in case["mocks"]]
        assert laps == [(lap, lap) for lap in range(1, 7)]
    if scenario is with_retried_items:  # per item: its failed attempts, then its result
        assert final["output"] == {"statuses": [200, 503, 200, 503]}
        shape = [(mock["item"], mock.get("times"), mock.get("status")) for mock in case["mocks"]]
        assert shape == [
            (0, 2, "failed"),
            (0, None, None),
            (1, None, None),
            (2, 2, "failed"),
            (2, None, None),
            (3, None, None),
        ]


def test_segue_export_writes_the_files_simulate_reads(
    harness: Harness,
    health_service: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_id = monitoring(harness, health_service)
    harness.wait_for(run_id, timeout=60)
    common = ["--api", harness.url, "--token", TOKEN]
    assert main(["export", run_id, "--dir", str(tmp_path), *common]) == 0
    command = capsys.readouterr().out.strip()
    assert command.startswith("segue simulate ") and "--mocks" in command
    assert len(list(tmp_path.iterdir())) == 4
    assert main(["export", run_id, *common]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("name: run-") and "workflow: |" in printed


def test_export_of_an_unknown_run_is_a_problem(harness: Harness) -> None:
    answer = harness.client.get("/runs/no-such-run/export")
    assert answer.status_code == 404
    assert answer.json()["code"] == "RUN_NOT_FOUND"
