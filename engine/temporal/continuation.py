"""A run's beginning and end: setting up its state from the start input (a new run, or one
continued as new, which restores what the continuation record carried), the record it
continues as new with, and its result."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import msgspec

    from engine.coordinator import (
        Coordinator,
        FinishRun,
        ResumeRequested,
        RunInfo,
        RunStarted,
        RunStatus,
    )
    from engine.coordinator.behaviour import Behaviour
    from engine.coordinator.rerun import RerunPoint
    from engine.coordinator.snapshot import state_from_builtins, state_to_builtins
    from engine.diagnostics import WorkflowInvalid
    from engine.language.spec import WorkflowSpec
    from engine.temporal.carried import Carried, carried_of, carried_record
    from engine.temporal.compiled import (
        compiled_spec,
        local_actions,
        retry_numbers,
        retry_specs,
    )
    from engine.temporal.driver import carry_out, feed, fire_after
    from engine.temporal.metrics import RunMetrics
    from engine.temporal.run_spans import RunSpans
    from engine.temporal.run_state import RunState
    from engine.temporal.tracing import TraceLog
    from engine.temporal.types import (
        REAL_RERUN_KEY,
        InterpreterInput,
        InterpreterResult,
        TimerLeft,
    )
    from engine.temporal.versioning import behaviour_of_this_run


async def begin(run: RunState, params: InterpreterInput) -> None:
    """Set the run up from its start input: a new run resolves its named secrets and
    starts its coordinator; a continued one restores its snapshot, secrets, waits, timers
    and trace counters."""
    run.params = params
    run.retry_numbers = retry_numbers(params)
    run.local_actions = local_actions(params)
    spec = _spec(params)
    carried = carried_of(params)
    started_at = params.started_at_ms or run.wall_ms()
    run.started_at_ms = started_at
    run.metrics = RunMetrics(params.workflow)
    if params.snapshot is None:
        run.metrics.run_started()
    run.spans = RunSpans(params.workflow, params.run_id)
    run.spans.run_started(continued=params.snapshot is not None)
    next_seq, started, finished = carried.trace
    run.trace = TraceLog(params.trace_seq or next_seq, started, finished)
    defaults = retry_specs(run.retry_numbers)
    if params.snapshot is None:
        behaviour = behaviour_of_this_run()
        refused = await run.secrets.begin(spec, params, carried, behaviour)
        run.coordinator_or_none = Coordinator(
            spec, action_retry_defaults=defaults, secrets=run.secrets.named
        )
        info = RunInfo(params.run_id, params.workflow, params.version, started_at)
        run.trace.explains = behaviour >= Behaviour.EXPLAINED
        run.trace.run_started(run.now_ms(), params.input, _started_data(run, behaviour))
        rerun = _rerun_point(params)
        run.waits.behaviour = behaviour
        if refused is not None:  # a named secret is missing: nothing may run
            carry_out(run, FinishRun(RunStatus.FAILED, None, (refused,)))
        else:
            feed(run, RunStarted(run.now_ms(), info, params.input, rerun, behaviour))
    else:
        run.secrets.resume(carried)
        state = state_from_builtins(params.snapshot)
        run.coordinator_or_none = Coordinator(
            spec, state, action_retry_defaults=defaults, secrets=run.secrets.named
        )
        run.paused = run.coordinator.state.paused
        run.waits.behaviour = run.behaviour
        run.trace.explains = run.behaviour >= Behaviour.EXPLAINED
        _restore_carried(run, params, carried)
        if carried.drain_paused:
            run.paused = False
            feed(run, ResumeRequested(run.now_ms()))


def _spec(params: InterpreterInput) -> WorkflowSpec:
    try:
        return compiled_spec(params)
    except WorkflowInvalid as invalid:
        # Bad YAML can only come from a caller that skipped validation: fail the run
        # (rather than retrying the workflow task forever) and say why.
        raise ApplicationError(
            f"the workflow {params.workflow!r} is invalid",
            [d.to_json() for d in invalid.diagnostics],
            type="WorkflowInvalid",
            non_retryable=True,
        ) from None


def _rerun_point(params: InterpreterInput) -> RerunPoint | None:
    if params.rerun is None:
        return None
    try:
        return msgspec.convert(params.rerun, RerunPoint)
    except msgspec.ValidationError as error:
        # Fail the run at once rather than retrying its workflow task for ever.
        raise ApplicationError(
            f"the rerun point is malformed: {error}", type="RerunInvalid", non_retryable=True
        ) from None


def _restore_carried(run: RunState, params: InterpreterInput, carried: Carried) -> None:
    run.limits.asked = carried.limits_asked
    for command, remaining in carried.waits:
        run.waits.begin(command, remaining_ms=remaining, announce=False)
    for left in params.timers:
        run.timer_due[left.timer] = run.now_ms() + left.remaining_ms
        run.timers[left.timer] = asyncio.create_task(
            fire_after(run, left.timer, left.remaining_ms / 1000)
        )


def continuation(run: RunState) -> InterpreterInput:
    """The start input of the run continued as new: its state, with nothing in flight."""
    params = run.input
    now = run.now_ms()
    carried = Carried(
        trace=(run.trace.next_seq, run.trace.started, run.trace.finished),
        drain_paused=run.drain_paused,
        waits=run.waits.carried(now),
        secrets=run.secrets.carried(),
        limits_asked=run.limits.asked,
    )
    return InterpreterInput(
        run_id=params.run_id,
        workflow=params.workflow,
        version=params.version,
        yaml=params.yaml,
        input=params.input,
        task_queue=params.task_queue,
        started_at_ms=params.started_at_ms,
        trace=params.trace,
        parent_run_id=params.parent_run_id,
        action_retry_defaults=run.retry_numbers,
        local_actions=run.local_actions,
        snapshot=state_to_builtins(run.coordinator.state),
        trace_seq=run.trace.next_seq,
        timers=[
            TimerLeft(timer, max(0, due - now)) for timer, due in sorted(run.timer_due.items())
        ],
        carried=carried_record(carried),
        continued=params.continued + 1,
        schedule_id=params.schedule_id,
    )


def result(run: RunState) -> InterpreterResult:
    """What the workflow returns (`running` only if the drive loop ended without a
    finish, which it does not: kept as it was, as it decides nothing)."""
    params, finish = run.input, run.finish
    if finish is None:
        state = run.coordinator_or_none.state if run.coordinator_or_none else None
        errors = [e.to_json() for e in state.errors] if state else []
        return InterpreterResult(params.run_id, "running", None, errors, continued=params.continued)
    return InterpreterResult(
        run_id=params.run_id,
        status=str(finish.status),
        output=finish.output,
        errors=[e.to_json() for e in finish.errors],
        errors_dropped=finish.errors_dropped,
        continued=params.continued,
    )


def real_rerun_point(run: RunState) -> list[dict[str, Any]]:
    """The failed run's rerun point in clear, as a second failure detail, when the store
    got it masked (the run has secrets); nothing otherwise."""
    finish = run.finish
    if finish is None or finish.rerun is None or not run.secrets.masks_anything:
        return []
    return [{REAL_RERUN_KEY: msgspec.to_builtins(finish.rerun)}]


def _started_data(run: RunState, behaviour: Behaviour) -> dict[str, Any] | None:
    """What WORKFLOW_STARTED carries: the run's trace id when it is traced."""
    trace_id = run.spans.trace_id if run.spans is not None else None
    if trace_id is None or behaviour < Behaviour.OBSERVED:
        return None
    return {"traceId": trace_id}
