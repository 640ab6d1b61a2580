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
        DispatchAction,
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
    from engine.temporal.types import REAL_RERUN_KEY, InterpreterInput, InterpreterResult
    from engine.temporal.versioning import behaviour_of_this_run


class Carried(msgspec.Struct, omit_defaults=True):
    """What a run continued as new carries beside its coordinator snapshot
    (`InterpreterInput.carried`, as plain JSON: records of older releases read too)."""

    trace: tuple[int, int, int] = (1, 0, 0)  # next trace sequence, started, finished
    drain_paused: bool = False  # paused only to continue as new: resume at once
    waits: list[tuple[dict[str, Any], int | None]] = []  # open waits: dispatch, ms left
    # (`mocks`, `sequence` and `virtual_ms` were here for simulations, which now run as
    # any run does: engine/temporal/simulation.py. A record that has them still reads.)
    # Behaviour 3: the run's named secrets and what its trace masks (run_secrets.py).
    secrets: dict[str, Any] | None = None
    # Behaviour 3, a child run's first execution: the values its parent masks that it was
    # given (run_secrets.py `passed_into`); it masks them too.
    masked: list[str] = []
    # Behaviour 3: the run may hold or wait for a concurrency limit: it releases at its
    # end (engine/temporal/limits.py).
    limits_asked: bool = False


def carried_of(params: InterpreterInput) -> Carried:
    """The continuation record of a start input (empty for a new run)."""
    try:
        return msgspec.convert(params.carried, Carried)
    except msgspec.ValidationError as error:
        # Fail the run at once rather than retrying its workflow task for ever.
        raise ApplicationError(
            f"the continuation record is malformed: {error}",
            type="ContinuationInvalid",
            non_retryable=True,
        ) from None


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
        refused = await run.secrets.begin(spec, params, behaviour)
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
        run.secrets.resume(params)
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
    for raw, remaining in carried.waits:
        command = msgspec.convert(raw, DispatchAction)
        run.waits.begin(command, remaining_ms=remaining, announce=False)
    for timer, remaining in params.timers:
        run.timer_due[timer] = run.now_ms() + remaining
        run.timers[timer] = asyncio.create_task(fire_after(run, timer, remaining / 1000))


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
        timers=[[timer, max(0, due - now)] for timer, due in sorted(run.timer_due.items())],
        carried=msgspec.to_builtins(carried),
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
