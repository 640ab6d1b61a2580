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
        ResumeRequested,
        RunInfo,
        RunStarted,
    )
    from engine.coordinator.behaviour import Behaviour
    from engine.coordinator.rerun import RerunPoint
    from engine.coordinator.snapshot import state_from_builtins, state_to_builtins
    from engine.diagnostics import WorkflowInvalid
    from engine.language.spec import WorkflowSpec
    from engine.simulator.mocks import MockBook, parse_mocks
    from engine.temporal.compiled import (
        compiled_spec,
        retry_numbers,
        retry_specs,
    )
    from engine.temporal.driver import feed, fire_after
    from engine.temporal.metrics import RunMetrics
    from engine.temporal.run_spans import RunSpans
    from engine.temporal.run_state import RunState
    from engine.temporal.tracing import TraceLog
    from engine.temporal.types import InterpreterInput, InterpreterResult
    from engine.temporal.versioning import behaviour_of_this_run


def begin(run: RunState, params: InterpreterInput) -> None:
    """Set the run up from its start input: a new run starts its coordinator; a continued
    one restores its snapshot, waits, timers and trace counters."""
    run.params = params
    run.retry_numbers = retry_numbers(params)
    spec = _spec(params)
    started_at = params.started_at_ms or run.wall_ms()
    run.started_at_ms = started_at
    if params.mocks is None:  # simulations are not production runs
        run.metrics = RunMetrics(params.workflow)
        if params.snapshot is None:
            run.metrics.run_started()
        run.spans = RunSpans(params.workflow, params.run_id)
        run.spans.run_started(continued=params.snapshot is not None)
    if params.mocks is not None:
        run.virtual_ms = started_at
        carried = params.carried.get("mocks")
        run.mocks = MockBook(parse_mocks(carried if carried is not None else params.mocks))
        run.sequence = list(params.carried.get("sequence", []))
        run.sequence_open = {row[4]: row for row in run.sequence if row[3] == "running"}
    carried_trace = params.carried.get("trace", [1, 0, 0])
    run.trace = TraceLog(params.trace_seq or carried_trace[0], carried_trace[1], carried_trace[2])
    defaults = retry_specs(run.retry_numbers)
    if params.snapshot is None:
        run.coordinator_or_none = Coordinator(spec, action_retry_defaults=defaults)
        info = RunInfo(params.run_id, params.workflow, params.version, started_at)
        behaviour = behaviour_of_this_run()
        run.trace.run_started(run.now_ms(), params.input, _started_data(run, behaviour))
        rerun = _rerun_point(params)
        run.waits.behaviour = behaviour
        feed(run, RunStarted(run.now_ms(), info, params.input, rerun, behaviour))
    else:
        state = state_from_builtins(params.snapshot)
        run.coordinator_or_none = Coordinator(spec, state, action_retry_defaults=defaults)
        run.paused = run.coordinator.state.paused
        run.waits.behaviour = run.behaviour
        _restore_carried(run, params)
        if params.carried.get("drain_paused"):
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


def _restore_carried(run: RunState, params: InterpreterInput) -> None:
    run.limits.asked = bool(params.carried.get("limits_asked"))
    for raw, remaining in params.carried.get("waits", []):
        command = msgspec.convert(raw, DispatchAction)
        run.waits.begin(command, remaining_ms=remaining, announce=False)
    if run.mocks is not None:
        run.virtual_ms = int(params.carried.get("virtual_ms", run.virtual_ms))
    for timer, remaining in params.timers:
        if run.mocks is not None:
            run.timer_due[timer] = run.virtual_ms + remaining
            continue
        run.timer_due[timer] = run.now_ms() + remaining
        run.timers[timer] = asyncio.create_task(fire_after(run, timer, remaining / 1000))


def continuation(run: RunState) -> InterpreterInput:
    """The start input of the run continued as new: its state, with nothing in flight."""
    params = run.input
    now = run.now_ms()
    carried: dict[str, Any] = {
        "trace": [run.trace.next_seq, run.trace.started, run.trace.finished],
        "drain_paused": run.drain_paused,
        "waits": run.waits.carried(now),
    }
    if run.limits.asked:
        carried["limits_asked"] = True  # released when the continued run ends
    if run.mocks is not None:
        carried["mocks"] = [
            {k: v for k, v in vars(entry).items() if v is not None and k != "error"}
            | (
                {"error": {"type": entry.error.type, "message": entry.error.message}}
                if entry.error
                else {}
            )
            for entry in run.mocks.entries
        ]
        carried["sequence"] = run.sequence
        carried["virtual_ms"] = run.virtual_ms
    return InterpreterInput(
        run_id=params.run_id,
        workflow=params.workflow,
        version=params.version,
        yaml=params.yaml,
        input=params.input,
        task_queue=params.task_queue,
        started_at_ms=params.started_at_ms,
        trace=params.trace,
        mocks=params.mocks,
        parent_run_id=params.parent_run_id,
        action_retry_defaults=run.retry_numbers,
        snapshot=state_to_builtins(run.coordinator.state),
        trace_seq=run.trace.next_seq,
        timers=[[timer, max(0, due - now)] for timer, due in sorted(run.timer_due.items())],
        carried=carried,
        continued=params.continued + 1,
        schedule_id=params.schedule_id,
    )


def result(run: RunState) -> InterpreterResult:
    """What the workflow returns (a simulation that stalled is `running`)."""
    params, finish = run.input, run.finish
    sequence = None if run.sequence is None else [entry[:4] for entry in run.sequence]
    if finish is None:  # a simulation where nothing more can happen
        state = run.coordinator_or_none.state if run.coordinator_or_none else None
        errors = [e.to_json() for e in state.errors] if state else []
        return InterpreterResult(
            params.run_id, "running", None, errors, 0, sequence, params.continued
        )
    return InterpreterResult(
        run_id=params.run_id,
        status=str(finish.status),
        output=finish.output,
        errors=[e.to_json() for e in finish.errors],
        errors_dropped=finish.errors_dropped,
        sequence=sequence,
        continued=params.continued,
    )


def _started_data(run: RunState, behaviour: Behaviour) -> dict[str, Any] | None:
    """What WORKFLOW_STARTED carries: the run's trace id when it is traced."""
    trace_id = run.spans.trace_id if run.spans is not None else None
    if trace_id is None or behaviour < Behaviour.OBSERVED:
        return None
    return {"traceId": trace_id}
