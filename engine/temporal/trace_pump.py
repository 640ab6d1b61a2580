"""The trace pump: writes a run's trace events, wait changes and status projection to the
store, in order and each exactly once, by a local activity that runs beside the
coordinator (or, riding along, by the next action activity: engine/temporal/dispatch.py).
Also the projection itself and the `progress` query's answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    import msgspec

    from engine.coordinator import FinishRun
    from engine.statuses import FROM_COORDINATOR, ApiStatus, finished_status, live_status
    from engine.temporal.activities import TRACE_UNRECORDABLE
    from engine.temporal.run_progress import LiveProgress, QueuedAttempt, QueuedRun
    from engine.temporal.run_state import RunState
    from engine.temporal.shown_values import clip_shown
    from engine.temporal.types import (
        RECORD_TRACE,
        Projection,
        RunFailure,
        TraceBatch,
        TraceRecord,
        WaitChange,
    )

TRACE_BATCH = 500
TRACE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)


async def pump_trace(run: RunState) -> None:
    """Write what is due, batch by batch, for as long as the run lives."""
    while True:
        await workflow.wait_condition(lambda: trace_due(run))
        run.pump_idle = False
        run.projection_dirty = False
        batch = run.trace.take(TRACE_BATCH)
        waits, run.wait_changes = run.wait_changes, []
        try:
            await workflow.execute_local_activity(
                RECORD_TRACE,
                trace_batch(run, batch, waits),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=TRACE_RETRY,
            )
        except FailureError as failure:
            # Only a non-retryable error gets here (the sink's verdict): the run ends
            # with it rather than waiting for a trace that can never be written.
            cause = failure.cause if failure.cause is not None else failure
            run.trace_failure = getattr(cause, "message", None) or str(cause)
            run.pump_idle = True
            return
        run.pump_idle = not trace_due(run)


def trace_batch(run: RunState, events: list[TraceRecord], waits: list[WaitChange]) -> TraceBatch:
    """Trace events and wait changes with the run's current projection."""
    params = run.input
    return TraceBatch(
        params.run_id,
        params.workflow,
        [clip_shown(run.secrets.record(event)) for event in events],
        run.secrets.projection(projection(run)),
        waits,
        int(params.version) if params.version.isdigit() else 0,
        params.task_queue,
        params.parent_run_id,
        params.schedule_id,
    )


def trace_due(run: RunState) -> bool:
    """Whether anything waits to be written to the store."""
    return bool(run.trace.pending or run.wait_changes or run.projection_dirty)


async def drain_trace(run: RunState, pump: asyncio.Task[None] | None) -> None:
    """Until everything due is written (or can never be), then stop the pump."""
    if pump is None:
        return
    await workflow.wait_condition(
        lambda: (not trace_due(run) and run.pump_idle) or run.trace_failure is not None
    )
    pump.cancel()


def fail_if_untraceable(run: RunState) -> None:
    """End the run with a trace write that no retry can make (the sink's verdict)."""
    if run.trace_failure is not None:
        raise ApplicationError(run.trace_failure, type=TRACE_UNRECORDABLE, non_retryable=True)


def projection(run: RunState) -> Projection:
    """The run row as the API shows it: status, progress, output, errors."""
    finish = run.finish
    completed, total = run.trace.finished, run.trace.started
    history_length = workflow.info().get_current_history_length()
    if finish is None:
        status = live_status(run.paused, run.limits.queued)
        state = run.coordinator_or_none.state if run.coordinator_or_none is not None else None
        if state is None or not state.errors:
            return Projection(status, completed, total, history_length)
        # A run that is failing while another branch still waits shows why now, not
        # only once it ends.
        return Projection(
            status,
            completed,
            total,
            history_length,
            errors=[e.to_json() for e in state.errors],
            errors_dropped=state.errors_dropped,
        )
    status = api_status(finish)
    failure = None
    if finish.errors and status is not ApiStatus.COMPLETED:
        first = finish.errors[0]
        failure = RunFailure(first.message, {"type": first.type})
    return Projection(
        status,
        completed,
        total,
        history_length,
        output=finish.output,
        errors=[e.to_json() for e in finish.errors],
        errors_dropped=finish.errors_dropped,
        completed_at_ms=run.now_ms(),
        failure=failure,
        rerun_point=msgspec.to_builtins(finish.rerun) if finish.rerun is not None else None,
    )


def progress_of(run: RunState) -> LiveProgress:
    """Live progress: executions in flight and the latest finished ones."""
    status = live_status(run.paused, run.limits.queued)
    if run.finish is not None:
        status = FROM_COORDINATOR[run.finish.status]
    progress = LiveProgress(
        status,
        run.paused,
        run.trace.started,
        run.trace.finished,
        sorted(run.live.values(), key=lambda e: e.execution),
        list(run.recent),
        [wait.describe() for wait in run.waits.open()],
    )
    # Both are left out of the answer, not null, when there is nothing to say.
    if run.limits.queued:
        progress.queued = _queued(run)
    if run.limits.waiting_attempts:
        # Task attempts waiting for a limit's slot (the reaper asks before re-signalling).
        progress.queued_attempts = [
            QueuedAttempt(holder, limit, key)
            for holder, (limit, key) in run.limits.waiting_attempts.items()
        ]
    return progress


def _queued(run: RunState) -> QueuedRun:
    """The limit a queued run waits for, and its place in line when it was queued."""
    limit, key = run.limits.waiting_for or ("", "")
    return QueuedRun(limit, key, run.limits.position)


def api_status(finish: FinishRun) -> ApiStatus:
    """The API's word for how a run ended (a run timeout is TIMED_OUT)."""
    return finished_status(finish.status, finish.errors)
