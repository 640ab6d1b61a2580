"""A finished run as a `segue simulate` case: the workflow version, the input, every
action execution's recorded result or error as a mock, and the expected status, output,
task counts and order.

Pure: it reads trace events as the API shows them (ARCHITECTURE.md "Trace events").
What the trace cannot give back exactly: a result longer than the trace keeps (summaries
are cut at 1 KiB), an error's details (`$error.details`: the trace keeps its type and
message), and per-item outcomes of a with-items execution that failed (its event
carries no result). `executions_to_read` names those executions; the API reads
their attempts from Temporal's history (engine/simulator/recorded.py) and passes them in.
The history also gives back a child run's output (`workflow:` tasks are mocked by it: the
simulator does not run the child) and a wait's answer, when an Update delivered it. An
inline action (`core.echo`, …) needs no mock at all: the simulator computes it the same
way. What neither gives back is listed in `inexact` rather than guessed: a history gone
by retention, a wait answered by a signal (runs before behaviour 2) and cut in the trace,
a rerun that started part-way.

A with-items execution that succeeded is given back item by item: its result is the list
of item results in item order (LANGUAGE.md §7), and each failed attempt's trace event
names its item, so every item gets its own failed attempts (`times`) and its own result."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from engine.actions.builtin.core import REJECTED, approval_rejection
from engine.expressions.template import Literal
from engine.language.spec import TaskSpec, WorkflowSpec
from engine.simulator.mocks import computed_here
from engine.simulator.recorded import ExecutionName, RecordedAttempt, RecordedRun, recorded_mocks

# The API's run status -> the simulator's.
SIMULATED_STATUS: Final = {
    "COMPLETED": "succeeded",
    "FAILED": "failed",
    "CANCELLED": "canceled",
    "RUNNING": "running",
    "PAUSED": "running",
    "QUEUED": "running",
}
_TASK_END: Final = frozenset({"COMPLETED", "FAILED"})


@dataclass
class _Execution:
    id: int
    task: str
    start_number: int  # the n-th start of this task, over every route (mocks' `iteration`)
    iteration: int  # the coordinator's count (LANGUAGE.md §6), by which a child run is named
    # (item index or None, error) per failed attempt that was retried, in trace order
    failed_attempts: list[tuple[int | None, dict[str, Any]]] = field(default_factory=list)
    end: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunRecording:
    """What the store knows of a run, as the export needs it."""

    run_id: str
    workflow_name: str
    workflow_version: int
    workflow_yaml: str
    status: str  # the API's status (COMPLETED, FAILED, …)
    input: Any
    output: Any
    rerun_of: str | None = None
    rerun_from_failed: bool = False


def _recorded_value(summary: str | None) -> tuple[Any, bool]:
    """A result from its trace summary; (value, exact)."""
    if summary is None:
        return None, True
    try:
        return json.loads(summary), True
    except ValueError:
        return summary, False  # cut ("… (N bytes)"): the whole value is not in the trace


@dataclass
class _Scan:
    executions: dict[Any, _Execution] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    concurrent: bool = False  # whether two executions ever overlapped


def _scan(events: Iterable[Mapping[str, Any]]) -> _Scan:
    scan = _Scan()
    executions = scan.executions
    starts: dict[str, int] = {}
    open_now = 0
    for event in events:
        kind, task, data = event.get("type"), event.get("nodeId"), event.get("data") or {}
        if task is None or "execution" not in data:
            continue
        execution_id = data["execution"]
        if kind == "STARTED":
            starts[task] = starts.get(task, 0) + 1
            iteration = data.get("iteration")
            executions[execution_id] = _Execution(
                execution_id,
                task,
                starts[task],
                iteration if isinstance(iteration, int) else starts[task],
            )
            scan.order.append(task)
            open_now += 1
            scan.concurrent = scan.concurrent or open_now > 1
        elif execution_id in executions and kind == "PROGRESS" and event.get("level") == "warn":
            if data.get("attempt") is not None and event.get("error"):
                item = data.get("item")
                executions[execution_id].failed_attempts.append(
                    (item if isinstance(item, int) else None, event["error"])
                )
        elif execution_id in executions and kind in _TASK_END:
            executions[execution_id].end = dict(event)
            open_now -= 1
    return scan


def executions_to_read(
    spec: WorkflowSpec, events: Iterable[Mapping[str, Any]]
) -> dict[int, ExecutionName]:
    """The executions whose outcomes the trace does not hold whole, to be read from
    Temporal's history, each with its task and iteration (an empty dict: the trace is
    enough)."""
    wanted: dict[int, ExecutionName] = {}
    for execution in _scan(events).executions.values():
        task_spec = spec.tasks.get(execution.task)
        if task_spec is None or _computed_here(task_spec):
            continue  # nothing to mock, or computed here whole
        if _falls_short(task_spec, execution):
            wanted[execution.id] = ExecutionName(execution.task, execution.iteration)
    return wanted


def _falls_short(task_spec: TaskSpec, execution: _Execution) -> bool:
    """Whether the trace lacks part of what the execution's mocks would need."""
    end = execution.end
    if (task_spec.action is None and task_spec.workflow is None) or end is None:
        return False
    if (end.get("data") or {}).get("status") == "canceled":
        return False
    if end["type"] != "COMPLETED" or execution.failed_attempts:
        return True  # an error is traced by its type and message, without its details
    results, exact = _recorded_value(end.get("outputSummary"))
    if task_spec.with_items is not None:
        return not exact or not isinstance(results, list)
    return not exact


def export_case(
    recording: RunRecording,
    spec: WorkflowSpec,
    events: Iterable[Mapping[str, Any]],
    recorded: RecordedRun | None = None,
) -> dict[str, Any]:
    """The simulate case of a run (a JSON-able dict; docs/console.md "Export"); with
    `recorded`, the attempts of `executions_to_read` as Temporal's history holds them."""
    scan = _scan(events)
    order = scan.order
    inexact: list[str] = []
    if recording.rerun_of is not None and recording.rerun_from_failed:
        inexact.append(
            f"this run reran {recording.rerun_of} from its failed tasks; the case starts "
            "from the top"
        )
    mocks = _mocks(spec, scan.executions.values(), recorded, inexact)
    expect: dict[str, Any] = {
        "status": SIMULATED_STATUS.get(recording.status, recording.status.lower()),
        "output": recording.output,
        "tasks": {task: order.count(task) for task in dict.fromkeys(order)},
    }
    if not scan.concurrent:
        expect["order"] = order  # only when no two executions overlapped
    return {
        "name": f"run-{recording.run_id}",
        "source": {
            "run": recording.run_id,
            "workflow": recording.workflow_name,
            "version": recording.workflow_version,
        },
        "workflow": recording.workflow_yaml,
        "input": recording.input,
        "mocks": mocks,
        "expect": expect,
        "inexact": list(dict.fromkeys(inexact)),
    }


def _mocks(
    spec: WorkflowSpec,
    executions: Iterable[_Execution],
    recorded: RecordedRun | None,
    inexact: list[str],
) -> list[dict[str, Any]]:
    mocks: list[dict[str, Any]] = []
    for execution in executions:
        task_spec = spec.tasks.get(execution.task)
        if task_spec is None or (task_spec.action is None and task_spec.workflow is None):
            continue  # engine-native (pass-through, delay, join): nothing to mock
        # A child run is mocked by its output (or error), as an action by its result: the
        # simulator does not run the child, so the child's file is not needed.
        where = {"task": execution.task, "iteration": execution.start_number}
        if _falls_short(task_spec, execution):
            if _computed_here(task_spec):
                continue  # no mock: the simulator computes it whole, as the workflow did
            attempts = recorded.attempts.get(execution.id) if recorded else None
            if attempts:
                mocks.extend(recorded_mocks(where, _as_the_task_saw(task_spec, attempts)))
                continue
            if recorded is not None and recorded.missing:
                inexact.append(f"{execution.task} #{execution.start_number}: {recorded.missing}")
        if task_spec.with_items is not None:
            mocks.extend(_item_mocks(execution, where, inexact))
            continue
        mocks.extend(_failed_attempts(where, [error for _, error in execution.failed_attempts]))
        end = execution.end
        if end is None:
            mocks.append({**where, "status": "running"})
        elif end["type"] == "COMPLETED":
            result, exact = _recorded_value(end.get("outputSummary"))
            if not exact:
                inexact.append(
                    f"{execution.task} #{execution.start_number}: the result is cut in the trace"
                )
            mocks.append({**where, "result": result})
        elif (end.get("data") or {}).get("status") == "canceled":
            mocks.append({**where, "status": "running"})  # never finished before the end
        else:
            mocks.append({**where, "status": "failed", "error": _error(end.get("error") or {})})
    return mocks


def _as_the_task_saw(
    task_spec: TaskSpec, attempts: Iterable[RecordedAttempt]
) -> list[RecordedAttempt]:
    """Recorded attempts as the task's mocks give them: a child run of a task without
    items is named with item 0, and an answer that rejects an approval fails it."""
    approval = isinstance(task_spec.action, Literal) and task_spec.action.value == "core.approval"
    seen: list[RecordedAttempt] = []
    for attempt in attempts:
        if task_spec.with_items is None and attempt.item is not None:
            attempt = msgspec.structs.replace(attempt, item=None)
        comment = approval_rejection(attempt.result) if approval and attempt.error is None else None
        if comment is not None:
            error = {"type": REJECTED, "message": comment, "details": attempt.result}
            attempt = msgspec.structs.replace(attempt, result=None, error=error)
        seen.append(attempt)
    return seen


def _computed_here(task_spec: TaskSpec) -> bool:
    """Whether the simulator computes the task's action as the workflow did (an inline
    action named as it is written, not by an expression)."""
    action = task_spec.action
    return isinstance(action, Literal) and computed_here(str(action.value))


def _error(error: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": str(error.get("code") or "failed"), "message": str(error.get("message", ""))}


def _failed_attempts(where: dict[str, Any], errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The retried attempts of one execution (or item) before its last: one mock used
    `times` times (each attempt is one use), with the first attempt's error."""
    if not errors:
        return []
    return [{**where, "status": "failed", "error": _error(errors[0]), "times": len(errors)}]


def _item_mocks(
    execution: _Execution, where: dict[str, Any], inexact: list[str]
) -> list[dict[str, Any]]:
    """A with-items execution item by item: each item's retried attempts, then its result
    taken from the task's result list. Only a succeeded execution's list is in the trace."""
    end = execution.end
    label = f"{execution.task} #{execution.start_number}"
    if end is None or (end.get("data") or {}).get("status") == "canceled":
        return [{**where, "status": "running"}]
    results, exact = _recorded_value(end.get("outputSummary"))
    if end["type"] != "COMPLETED" or not exact or not isinstance(results, list):
        inexact.append(
            f"{label}: per-item results of this with-items execution are not in the trace; "
            "the mock gives the whole task one outcome"
        )
        if end["type"] == "COMPLETED":
            return [{**where, "result": results}]
        return [{**where, "status": "failed", "error": _error(end.get("error") or {})}]
    mocks: list[dict[str, Any]] = []
    for index, result in enumerate(results):
        at = {**where, "item": index}
        errors = [error for item, error in execution.failed_attempts if item == index]
        mocks.extend(_failed_attempts(at, errors))
        mocks.append({**at, "result": result})
    return mocks
