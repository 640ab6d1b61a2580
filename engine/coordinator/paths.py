"""Where paths stop: an execution that finishes, a failure that stops what has not
started (kept for a rerun from the failed tasks), an expression that fails its
execution, a cancel or timeout that stops everything; and the context each ended path
leaves for the run's output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.coordinator.base import Machine, cancel_timer
from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import (
    CancelDispatches,
    ErrorEntry,
    ExecutionFinished,
    ExecutionRef,
    ExecutionStatus,
)
from engine.coordinator.context import Context
from engine.coordinator.events import (
    ErrorInfo,
)
from engine.coordinator.lifecycle import ExecutionEvent, ExecutionPhase, RunEvent
from engine.coordinator.rerun import RerunEntry
from engine.coordinator.state import (
    Execution,
)
from engine.expressions import ExpressionError

# One step of an execution, run under `guarded`.
Step = Callable[[Machine, Execution], None]


def guarded(m: Machine, execution: Execution, step: Step) -> None:
    """Run a step of an execution; an expression error fails the execution and the run."""
    try:
        step(m, execution)
    except ExpressionError as error:
        _expression_failure(m, execution, error)


def finish_execution(
    m: Machine,
    execution: Execution,
    status: ExecutionStatus,
    result: Any,
    error: ErrorInfo | None,
) -> None:
    """Drop a finished execution from the live set and announce its status."""
    state = m.state
    state.executions.pop(execution.ref.id, None)
    if execution.timer is not None:
        cancel_timer(m, execution.timer)
        execution.timer = None
    execution.advance(ExecutionEvent.FINISH)
    if m.program.tracks_task_status:
        state.latest_status[execution.task] = str(status)
    m.out.append(ExecutionFinished(execution.ref, status, execution.attempt, result, error))


def path_ends(m: Machine, context: Context) -> None:
    """A path ends here: what it published reaches the run's output."""
    state = m.state
    if state.output_context is None:
        state.output_context = context
    elif state.behaviour is Behaviour.ORIGINAL:
        state.output_context = state.output_context.merged(context)
    else:
        state.output_context = state.output_context.joined(context)


def fail(m: Machine) -> None:
    """Fail fast: nothing new starts; what is running finishes."""
    state = m.state
    state.advance(RunEvent.FAIL)
    if state.ready:
        keep = [arrival for arrival in state.ready if arrival.forced]
        for arrival in state.ready:
            if not arrival.forced:
                stop_path(m, RerunEntry(arrival.task, arrival.route, arrival.context))
        state.ready = keep


def stop_path(
    m: Machine,
    path: RerunEntry,
    *,
    failure: ErrorEntry | None = None,
    output: Context | None = None,
) -> None:
    """The one place a path stops before its end: it is kept for a rerun from the failed
    tasks (unless the run was canceled) and what it published reaches the run's output
    (`output`, when that is not the context it is kept with). With `failure` the run
    fails first, so paths that were ready stop before this one ends, as they always did."""
    keep_for_rerun(m, path)
    if failure is not None:
        m.state.add_error(failure)
        fail(m)
    path_ends(m, path.context if output is None else output)


def keep_for_rerun(m: Machine, path: RerunEntry) -> None:
    """Remember a path the failure stopped, for a rerun from the failed tasks."""
    state = m.state
    if state.phase.is_canceled:
        return  # a canceled run is not rerun from where it stopped
    execution = path.execution
    if execution is not None and any(kept.execution == execution for kept in state.rerun):
        return
    state.rerun.append(path)


def execution_path(execution: Execution) -> RerunEntry:
    """Where a stopped execution would start again in a rerun."""
    ref = execution.ref
    return RerunEntry(ref.task, ref.route, execution.context, execution=ref.id)


def _expression_failure(m: Machine, execution: Execution, error: ExpressionError) -> None:
    """An expression of a running execution failed: it fails, and so does the run."""
    located = error.located(task=execution.task)
    if execution.ref.id in m.state.executions:
        out = (execution.phase is ExecutionPhase.SENT) + (
            len(execution.items.in_flight) if execution.items else 0
        )
        if out:
            m.state.in_flight = max(0, m.state.in_flight - out)
            m.out.append(CancelDispatches((execution.ref.id,)))
        finish_execution(
            m,
            execution,
            ExecutionStatus.FAILED,
            None,
            ErrorInfo(located.kind, located.describe()),
        )
    stop_path(m, execution_path(execution), failure=expression_entry(located, execution.ref))


def expression_entry(
    error: ExpressionError, ref: ExecutionRef | None = None, transition: int | None = None
) -> ErrorEntry:
    """The run's error entry for an expression error."""
    return ErrorEntry(
        type=error.kind,
        message=error.located(task=ref.task if ref else None).describe(),
        task=ref.task if ref else None,
        iteration=ref.iteration if ref else None,
        route=ref.route if ref else None,
        transition=transition,
        expression=error.expression or None,
    )


def record_expression_error(m: Machine, error: ExpressionError) -> None:
    """Record an expression error of the run (not of an execution) and fail fast."""
    m.state.add_error(expression_entry(error))
    fail(m)


def abort(m: Machine, entry: ErrorEntry, *, canceled: bool) -> None:
    """Cancel or time out the run: stop everything in flight and finish."""
    state = m.state
    if canceled:
        # Canceled from here on: no path it stops is kept for a rerun.
        state.advance(RunEvent.CANCEL)
    live = list(state.executions.values())
    out = [
        e.ref.id for e in live if e.phase is ExecutionPhase.SENT or (e.items and e.items.in_flight)
    ]
    if out:
        m.out.append(CancelDispatches(tuple(out)))
    for execution in live:
        if execution.phase is ExecutionPhase.BACKOFF and execution.attempt > 1:
            # Stopped during a retry's backoff: the next attempt never ran, so the
            # execution ends as its last attempt did, not as one that never started.
            execution.attempt -= 1
        finish_execution(
            m, execution, ExecutionStatus.CANCELED, None, ErrorInfo(entry.type, entry.message)
        )
        stop_path(m, execution_path(execution))
    state.in_flight = 0
    state.waiting_for_slot.clear()
    state.add_error(entry)
    if canceled:
        for arrival in state.ready:
            path_ends(m, arrival.context)
        state.ready = []
    else:
        fail(m)
