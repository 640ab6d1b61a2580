"""Carries out a dispatched action where its placement says (engine/temporal/placement.py):
in the workflow (inline, a durable timer, or a wait for an answer), or as the
`run_action` activity; and a `workflow:` task as a child run. Each outcome reaches the
coordinator through the run's inbox."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any, assert_never

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    TimeoutError,
)

with workflow.unsafe.imports_passed_through():
    from engine.actions.api import Placement
    from engine.actions.builtin import WAITS
    from engine.coordinator import DispatchAction, ErrorInfo, StartChildRun
    from engine.coordinator.behaviour import Behaviour
    from engine.coordinator.error_types import ErrorType
    from engine.temporal.carried import Carried, carried_record
    from engine.temporal.children import child_error, child_options
    from engine.temporal.placement import placement_of, run_inline, unmovable
    from engine.temporal.run_state import RunState
    from engine.temporal.task_limits import admit_then, limits_of
    from engine.temporal.trace_pump import TRACE_BATCH, TRACE_RETRY, trace_batch
    from engine.temporal.tracing import CARRIED_TRACE_BYTES
    from engine.temporal.types import (
        INTERPRETER_WORKFLOW,
        LOOKUP_WORKFLOW,
        RUN_ACTION,
        ActionOutcome,
        ActionRequest,
        InterpreterInput,
        TraceBatch,
        WorkflowFound,
    )
    from engine.temporal.wait_hints import wait_hint

DEFAULT_ACTION_TIMEOUT = 3600.0  # seconds, when a task sets none
HEARTBEAT_TIMEOUT = timedelta(seconds=30)  # the activity wrapper heartbeats every few seconds
# An action attempt that may take longer than this gets a heartbeat timeout, so that a
# lost worker is noticed in 30 s. A shorter one does without: its start-to-close timeout
# (its `timeout` + 30 s) notices as soon, near enough, and Temporal then keeps no
# heartbeat timer per attempt (about 8% of a 200-way fan-out: benchmarks/temporal.py).
HEARTBEAT_ABOVE_SECONDS = 60.0
# Temporal retries an activity only for infrastructure failures (a worker died and its
# heartbeat stopped); action failures are non-retryable there: the coordinator retries.
INFRASTRUCTURE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
)


def dispatch(run: RunState, command: DispatchAction) -> None:
    """Start one attempt of an action where its placement says, once it holds the slots
    of the limits its task declares (engine/temporal/task_limits.py)."""
    limits = limits_of(run, command)
    if limits:
        admit_then(run, command, limits, lambda: _dispatch_now(run, command))
    else:
        _dispatch_now(run, command)


def _dispatch_now(run: RunState, command: DispatchAction) -> None:
    key = (command.execution.id, command.item)
    task_run = None
    if run.behaviour >= Behaviour.OBSERVED:
        task_run = run.coordinator.spec.tasks[command.execution.task].run
        refused = unmovable(command, task_run)
        if refused is not None:
            run.failed(command, refused)
            return
    placement = placement_of(command, run.behaviour, run.local_actions, task_run)
    if placement is Placement.WORKFLOW:
        _in_workflow(run, command)
    elif placement is Placement.ACTIVITY:
        run.spawn(key, activity(run, command))
    elif placement is Placement.LOCAL_ACTIVITY:
        run.spawn(key, activity(run, command, local=True))
    else:
        assert_never(placement)


def _in_workflow(run: RunState, command: DispatchAction) -> None:
    ref = command.execution
    params = run.input
    if command.action == "core.sleep":
        seconds = _seconds(command.input, "seconds", 0.0)
        run.spawn((ref.id, command.item), _sleep(run, command, seconds))
    elif command.action in WAITS:
        run.waits.begin(command)
        if params.trace and run.behaviour is not Behaviour.ORIGINAL:
            run.trace.progress(
                run.now_ms(), ref.task, wait_hint(command, params.run_id), {"execution": ref.id}
            )
    else:
        run.inbox.append(run_inline(command, params.run_id, params.workflow, run.now_ms()))


async def _sleep(run: RunState, command: DispatchAction, seconds: float) -> None:
    limit = command.timeout_seconds
    if limit is not None and limit < seconds and run.behaviour is not Behaviour.ORIGINAL:
        # A task's `timeout` holds for native actions too (behaviour 1 ignored it).
        await workflow.sleep(limit)
        message = f"core.sleep of {seconds:g} s did not finish within its {limit:g} s timeout"
        run.failed(command, ErrorInfo(ErrorType.TIMEOUT, message))
        return
    await workflow.sleep(seconds)
    run.succeeded(command, None)


async def activity(run: RunState, command: DispatchAction, *, local: bool = False) -> None:
    """One attempt as the `run_action` activity (or local activity), carrying the pending
    trace events."""
    params = run.input
    ref = command.execution
    request = ActionRequest(
        run_id=params.run_id,
        workflow=params.workflow,
        task=ref.task,
        iteration=ref.iteration,
        route=ref.route,
        attempt=command.attempt,
        execution=ref.id,
        action=command.action,
        input=command.input,
        item=command.item,
        timeout_seconds=command.timeout_seconds,
        trace=_carried_trace(run),
        secrets=run.secrets.values,
    )
    carried = request.trace.events if request.trace else []
    timeout = command.timeout_seconds or DEFAULT_ACTION_TIMEOUT
    spans = run.spans.current(ref.id) if run.spans else contextlib.nullcontext()
    # A local activity's failure arrives as itself (an ApplicationError, a timeout), not
    # wrapped in an ActivityError.
    caught: type[FailureError] = FailureError if local else ActivityError
    try:
        # Started (not awaited) in its execution's span: the activity's headers carry
        # it; the span is current only while the command is made, not across a wait.
        with spans:
            if local:
                # Run by this worker beside the workflow: nothing to heartbeat to the
                # server; a cancel reaches it in-process.
                started = workflow.start_local_activity(
                    RUN_ACTION,
                    request,
                    result_type=ActionOutcome,
                    start_to_close_timeout=timedelta(seconds=timeout + 30),
                    retry_policy=INFRASTRUCTURE_RETRY,
                    summary=f"{ref.task}#{ref.iteration}",
                )
            else:
                started = workflow.start_activity(
                    RUN_ACTION,
                    request,
                    result_type=ActionOutcome,
                    start_to_close_timeout=timedelta(seconds=timeout + 30),
                    heartbeat_timeout=HEARTBEAT_TIMEOUT
                    if timeout > HEARTBEAT_ABOVE_SECONDS
                    else None,
                    retry_policy=INFRASTRUCTURE_RETRY,
                    summary=f"{ref.task}#{ref.iteration}",
                )
        outcome = await started
    except caught as failure:
        run.trace.restore(carried)  # the pump writes them (a repeat inserts nothing)
        if run.traced and run.behaviour >= Behaviour.EVERY_ATTEMPT_TIMED:
            # The timeline's wait for a worker, for a failed attempt too (and items').
            run.trace.attempt_timed(ref.id, command.item, command.attempt, attempt_timings(failure))
        run.failed(command, error_info(failure))
        return
    except asyncio.CancelledError:
        run.trace.restore(carried)
        raise
    if not outcome.traced:
        run.trace.restore(carried)
    run.secrets.learn(outcome.secrets)
    if run.traced and run.behaviour >= Behaviour.TIMED and command.item is None:
        # The timeline's wait for a worker (items have no event of their own).
        run.trace.timed(ref.id, outcome.queued_ms, outcome.ran_ms)
    run.succeeded(command, outcome.result)


def _carried_trace(run: RunState) -> TraceBatch | None:
    """The pending trace events, to travel with an action's activity: it writes them
    while the action runs, so no trace write holds up the workflow task that
    dispatched the action (readers see events only without gaps: see the store)."""
    if not run.traced or not run.trace.pending:
        return None
    budget = CARRIED_TRACE_BYTES if run.behaviour >= Behaviour.EXPLAINED else None
    return trace_batch(run, run.trace.take(TRACE_BATCH, budget), [])


def _inherited(run: RunState, child_input: Any) -> dict[str, Any]:
    """The child's start record: the secret values it is given, to mask (else empty, as
    every child's was before Behaviour.OBSERVED)."""
    if run.behaviour < Behaviour.OBSERVED:
        return {}
    return carried_record(Carried(masked=run.secrets.passed_into(child_input)))


async def child(run: RunState, command: StartChildRun) -> None:
    """A `workflow:` task: look the workflow up, run it as a child, take its output."""
    params = run.input
    ref = command.execution
    child_id = f"{params.run_id}.{ref.task}.{ref.iteration}.{command.item or 0}.{command.attempt}"
    try:
        found = await workflow.execute_local_activity(
            LOOKUP_WORKFLOW,
            command.workflow,
            result_type=WorkflowFound,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=TRACE_RETRY,
        )
        child_input = InterpreterInput(
            run_id=child_id,
            workflow=found.name,
            version=str(found.version),
            yaml=found.yaml,
            input=command.input if isinstance(command.input, dict) else {},
            task_queue=params.task_queue,
            trace=params.trace,
            parent_run_id=params.run_id,
            action_retry_defaults=run.retry_numbers,
            local_actions=run.local_actions,
            # Behaviour 3 (only its runs know secrets): the parent's masks reach the child.
            carried=_inherited(run, command.input),
        )
        # Started in its execution's span, so the child's run span is that span's child
        # (Temporal's OpenTelemetry interceptor puts the current context in the child's
        # headers). The same command as `execute_child_workflow` (start, then await the
        # handle): nothing a replay compares changes.
        spans = run.spans.current(ref.id) if run.spans else contextlib.nullcontext()
        with spans:
            handle = await workflow.start_child_workflow(
                INTERPRETER_WORKFLOW,
                child_input,
                id=child_id,
                task_queue=params.task_queue,
                execution_timeout=timedelta(seconds=command.timeout_seconds)
                if command.timeout_seconds
                else None,
                **child_options(run.behaviour),
            )
        result = await handle
    except ChildWorkflowError as failure:
        run.failed(command, child_error(failure, run.behaviour))
        return
    except ActivityError as failure:
        run.failed(command, error_info(failure))
        return
    run.succeeded(command, child_output(result))


def child_output(result: Any) -> Any:
    """What a `workflow:` task's result is: its child run's output."""
    return result.get("output") if isinstance(result, dict) else getattr(result, "output", None)


def _seconds(data: Any, key: str, default: float) -> float:
    value = data.get(key, default) if isinstance(data, dict) else default
    return (
        float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
    )


def attempt_timings(failure: FailureError) -> dict[str, int] | None:
    """How long a failed attempt waited for a worker and ran, as its activity's failure
    says (its second detail: `_timed` in engine/temporal/activities.py); None from a
    worker that did not say, or figures that are not two whole, non-negative numbers."""
    cause = _cause(failure)
    details = cause.details if isinstance(cause, ApplicationError) else ()
    found = details[1] if len(details) > 1 else None
    if not isinstance(found, dict):
        return None
    timings: dict[str, int] = {}
    for name in ("queuedMs", "ranMs"):
        figure = found.get(name)
        if type(figure) is not int or figure < 0:  # a bool is not a figure
            return None
        timings[name] = figure
    return timings


def _cause(failure: FailureError) -> BaseException | None:
    """What failed inside a failed activity, local activity or child."""
    cause = failure.cause if isinstance(failure, (ActivityError, ChildWorkflowError)) else failure
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    return cause


def error_info(failure: FailureError) -> ErrorInfo:
    """What `$error` shows for a failed activity, local activity or child."""
    cause = _cause(failure)
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details else None
        return ErrorInfo(cause.type or "ApplicationError", cause.message, details)
    if isinstance(cause, TimeoutError):
        return ErrorInfo(
            "timeout", f"the action timed out ({cause.type.name if cause.type else 'timeout'})"
        )
    if isinstance(cause, CancelledError):
        return ErrorInfo(ErrorType.CANCELED, "the action was canceled")
    return ErrorInfo(type(cause).__name__ if cause else "failed", str(cause or failure))
