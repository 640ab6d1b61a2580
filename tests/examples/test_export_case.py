"""What an export cannot give back exactly is said, not guessed (engine/simulator/export.py),
from trace events as the API shows them; what the trace lacks is named for reading from
Temporal's history, and the attempts read there (engine/simulator/recorded.py) make it
exact; an inline action needs no mock at all."""

from __future__ import annotations

from typing import Any

import pytest

from engine.language.loader import load_workflow
from engine.simulator.export import RunRecording, executions_to_read, export_case
from engine.simulator.recorded import RecordedAttempt, RecordedRun

WORKFLOW = """\
version: 1
input:
  hosts: {type: array, default: [a, b]}
tasks:
  fetch:
    action: http.request
    input: {url: x}
    next: [{do: each}]
  each:
    with:
      items: <% $ctx.hosts %>
    action: http.request
    input: {url: <% $item %>}
    next: [{do: echoed}]
  echoed:
    action: core.echo
    input: {text: "<% $pad('', 2000, 'e') %>"}
"""


def started(execution: int, task: str) -> dict[str, Any]:
    return {"type": "STARTED", "nodeId": task, "data": {"execution": execution, "attempt": 1}}


def completed(execution: int, task: str, summary: str) -> dict[str, Any]:
    data = {"execution": execution, "attempt": 1, "status": "succeeded"}
    return {"type": "COMPLETED", "nodeId": task, "data": data, "outputSummary": summary}


def recording(**changes: Any) -> RunRecording:
    fields: dict[str, Any] = {
        "run_id": "r1",
        "workflow_name": "w",
        "workflow_version": 1,
        "workflow_yaml": WORKFLOW,
        "status": "COMPLETED",
        "input": {},
        "output": None,
    }
    return RunRecording(**{**fields, **changes})


CUT = '{"body": "xxxxxxxx… (5000 bytes)'


@pytest.mark.parametrize(
    ("fetch_summary", "changes", "inexact"),
    [
        ('{"status": 200}', {}, []),
        (CUT, {}, ["fetch #1: the result is cut"]),
        (
            '{"status": 200}',
            {"rerun_of": "r0", "rerun_from_failed": True},
            ["this run reran r0 from its failed tasks"],
        ),
    ],
)
def test_what_the_trace_cannot_give_back_is_listed(
    fetch_summary: str, changes: dict[str, Any], inexact: list[str]
) -> None:
    spec = load_workflow(WORKFLOW, "w.yaml", name="w")
    events = [
        started(1, "fetch"),
        completed(1, "fetch", fetch_summary),
        started(2, "each"),
        completed(2, "each", '[{"host": "a"}, {"host": "b"}]'),
    ]
    case = export_case(recording(**changes), spec, events)
    assert len(case["inexact"]) == len(inexact)
    for said, expected in zip(case["inexact"], inexact, strict=True):
        assert said.startswith(expected)
    assert case["expect"] == {
        "status": "succeeded",
        "output": None,
        "tasks": {"fetch": 1, "each": 1},
        "order": ["fetch", "each"],
    }
    assert case["mocks"][0]["task"] == "fetch" and case["mocks"][0]["iteration"] == 1


def test_overlapping_executions_give_no_order() -> None:
    spec = load_workflow(WORKFLOW, "w.yaml", name="w")
    events = [started(1, "fetch"), started(2, "each"), completed(1, "fetch", "1")]
    case = export_case(recording(status="RUNNING"), spec, events)
    assert "order" not in case["expect"]
    assert case["expect"]["status"] == "running"
    assert {"task": "each", "iteration": 1, "status": "running"} in case["mocks"]


def retried(execution: int, task: str, attempt: int, item: int | None) -> dict[str, Any]:
    data = {"execution": execution, "attempt": attempt, "item": item}
    error = {"code": "HttpStatus", "message": f"attempt {attempt} answered 503"}
    return {"type": "PROGRESS", "level": "warn", "nodeId": task, "data": data, "error": error}


def failed(execution: int, task: str) -> dict[str, Any]:
    data = {"execution": execution, "attempt": 1, "status": "failed"}
    error = {"code": "HttpStatus", "message": "item 1: answered 503"}
    return {"type": "FAILED", "nodeId": task, "data": data, "error": error}


def test_a_with_items_execution_is_given_back_item_by_item() -> None:
    """Each item gets its own retried attempts (`times`) and its own result, taken from
    the task's result list (items in item order), whatever order the attempts ran in."""
    spec = load_workflow(WORKFLOW, "w.yaml", name="w")
    events = [
        started(1, "fetch"),
        completed(1, "fetch", "{}"),
        started(2, "each"),
        retried(2, "each", 1, 1),
        retried(2, "each", 1, 0),
        retried(2, "each", 2, 1),
        completed(2, "each", '[{"host": "a"}, {"host": "b"}]'),
    ]
    case = export_case(recording(), spec, events)
    assert case["inexact"] == []
    error = {"type": "HttpStatus", "message": "attempt 1 answered 503"}
    each = {"task": "each", "iteration": 1}
    assert case["mocks"][1:] == [
        {**each, "item": 0, "status": "failed", "error": error, "times": 1},
        {**each, "item": 0, "result": {"host": "a"}},
        {**each, "item": 1, "status": "failed", "error": error, "times": 2},
        {**each, "item": 1, "result": {"host": "b"}},
    ]


@pytest.mark.parametrize(
    ("end", "mock"),
    [
        (failed(2, "each"), {"status": "failed"}),
        (completed(2, "each", '[{"host": "a"}, {"host": "b… (5000 bytes)'), {"result": str}),
        (completed(2, "each", '{"not": "a list"}'), {"result": dict}),
    ],
)
def test_a_with_items_execution_without_its_item_results_is_said_to_be_inexact(
    end: dict[str, Any], mock: dict[str, Any]
) -> None:
    spec = load_workflow(WORKFLOW, "w.yaml", name="w")
    events = [started(1, "fetch"), completed(1, "fetch", "{}"), started(2, "each"), end]
    case = export_case(recording(status="FAILED"), spec, events)
    assert [said.split(":")[0] for said in case["inexact"]] == ["each #1"]
    (each,) = case["mocks"][1:]
    assert "item" not in each
    if "status" in mock:
        assert each["status"] == "failed" and each["error"]["type"] == "HttpStatus"
    else:
        assert isinstance(each["result"], mock["result"])


FAILED_EACH = [
    started(1, "fetch"),
    completed(1, "fetch", "{}"),
    started(2, "each"),
    failed(2, "each"),
]


def test_what_the_trace_lacks_is_named_for_the_history() -> None:
    spec = load_workflow(WORKFLOW, "w.yaml", name="w")
    cut = [started(1, "fetch"), completed(1, "fetch", CUT)]
    echo_cut = [started(3, "echoed"), completed(3, "echoed", CUT)]
    assert executions_to_read(spec, cut + echo_cut) == {1: ("fetch", 1)}  # echo: computed
    assert executions_to_read(spec, FAILED_EACH) == {2: ("each", 1)}
    assert executions_to_read(spec, [started(1, "fetch"), completed(1, "fetch", "{}")]) == {}


def test_an_error_is_named_for_the_history_since_the_trace_keeps_no_details() -> None:
    spec = load_workflow(WORKFLOW, "w.yaml", name="w")
    fetch_failed = [started(1, "fetch"), failed(1, "fetch")]
    assert executions_to_read(spec, fetch_failed) == {1: ("fetch", 1)}
    retried_once = [started(1, "fetch"), retried(1, "fetch", 1, None), completed(1, "fetch", "{}")]
    assert executions_to_read(spec, retried_once) == {1: ("fetch", 1)}


WAITS_AND_A_CHILD = """\
version: 1
tasks:
  report:
    workflow: report
    next: [{do: approve}]
  approve:
    action: core.approval
    next: [{do: reviews}]
  reviews:
    with: <% [1, 2] %>
    action: core.approval
"""


def test_a_child_run_and_answers_read_back_are_mocked_as_the_task_saw_them() -> None:
    """A child run is named with item 0 (it has no item: the mock has none); an answer
    that rejects an approval fails it with `rejected` and the answer as details."""
    spec = load_workflow(WAITS_AND_A_CHILD, "w.yaml", name="w")
    no = {"approved": False, "by": "grace", "comment": "not today"}
    events = [
        started(1, "report"),
        completed(1, "report", CUT),
        started(2, "approve"),
        failed(2, "approve"),
        started(3, "reviews"),
        failed(3, "reviews"),
    ]
    assert executions_to_read(spec, events) == {
        1: ("report", 1),
        2: ("approve", 1),
        3: ("reviews", 1),
    }
    recorded = RecordedRun(
        {
            1: [RecordedAttempt(execution=1, attempt=1, item=0, result={"text": "r" * 3000})],
            2: [RecordedAttempt(execution=2, attempt=1, item=None, result=no)],
            3: [
                RecordedAttempt(execution=3, attempt=1, item=0, result={"approved": True}),
                RecordedAttempt(execution=3, attempt=1, item=1, result={"approved": False}),
            ],
        }
    )
    case = export_case(recording(status="FAILED"), spec, events, recorded)
    assert case["inexact"] == []
    rejected = {"type": "rejected", "message": "not today", "details": no}
    assert case["mocks"] == [
        {"task": "report", "iteration": 1, "result": {"text": "r" * 3000}},
        {"task": "approve", "iteration": 1, "status": "failed", "error": rejected},
        {"task": "reviews", "iteration": 1, "item": 0, "result": {"approved": True}},
        {
            "task": "reviews",
            "iteration": 1,
            "item": 1,
            "status": "failed",
            "error": {
                "type": "rejected",
                "message": "approval rejected",
                "details": {"approved": False},
            },
        },
    ]


def attempt(item: int | None, number: int, **outcome: Any) -> RecordedAttempt:
    return RecordedAttempt(execution=2, attempt=number, item=item, **outcome)


def test_recorded_attempts_give_each_item_its_own_end() -> None:
    """A failed with-items execution: item 0 succeeded at once; item 1 failed twice
    alike, then differently, for good; item 2 was still running when the run ended."""
    spec = load_workflow(WORKFLOW, "w.yaml", name="w")
    busy = {"type": "HttpStatus", "message": "503"}
    gone = {"type": "HttpStatus", "message": "404", "details": {"status": 404}}
    recorded = RecordedRun(
        {
            2: [
                attempt(1, 2, error=busy),
                attempt(0, 1, result={"status": 200}),
                attempt(1, 1, error=busy),
                attempt(1, 3, error=gone),
                attempt(2, 1, ended=False),
            ]
        }
    )
    case = export_case(recording(status="FAILED"), spec, FAILED_EACH, recorded)
    assert case["inexact"] == []
    each = {"task": "each", "iteration": 1}
    assert case["mocks"][1:] == [
        {**each, "item": 0, "result": {"status": 200}},
        {**each, "item": 1, "status": "failed", "error": busy, "times": 2},
        {**each, "item": 1, "status": "failed", "error": gone},
        {**each, "item": 2, "status": "running"},
    ]


def test_a_history_that_cannot_be_read_is_said() -> None:
    spec = load_workflow(WORKFLOW, "w.yaml", name="w")
    gone = RecordedRun({}, "Temporal no longer holds the run's history (retention)")
    case = export_case(recording(status="FAILED"), spec, FAILED_EACH, gone)
    assert [said.split(": ", 1)[1] for said in case["inexact"]] == [
        "Temporal no longer holds the run's history (retention)",
        "per-item results of this with-items execution are not in the trace; "
        "the mock gives the whole task one outcome",
    ]


def test_an_inline_action_cut_in_the_trace_gets_no_mock() -> None:
    spec = load_workflow(WORKFLOW, "w.yaml", name="w")
    events = [started(1, "fetch"), completed(1, "fetch", "{}"), started(3, "echoed")]
    case = export_case(recording(), spec, [*events, completed(3, "echoed", CUT)])
    assert case["inexact"] == []
    assert [mock["task"] for mock in case["mocks"]] == ["fetch"]
    case = export_case(recording(), spec, [*events, completed(3, "echoed", '{"text": ""}')])
    assert [mock["task"] for mock in case["mocks"]] == ["fetch", "echoed"]
