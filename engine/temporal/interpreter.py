"""The one Temporal workflow type: a thin class over one `RunState` that wires signals,
updates and the query to the modules that do the work.

- engine/temporal/continuation.py sets the run up (new, or continued as new), writes
  the continuation record and the result;
- engine/temporal/driver.py feeds the coordinator and carries out its commands;
- engine/temporal/dispatch.py runs each action where its `Placement` says: `core.*` in
  the workflow at no activity cost (inline, a timer, or a wait for an answer:
  engine/temporal/waits.py and answers.py), everything else as an activity, `workflow:`
  tasks as child runs;
- engine/temporal/trace_pump.py writes trace events by a local activity beside the
  coordinator, in order, each exactly once, with the run's projection.
Long runs continue as new when the server suggests it, once nothing is in flight.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from engine.coordinator import CancelRequested, PauseRequested, ResumeRequested
    from engine.coordinator.behaviour import Behaviour
    from engine.temporal.answers import AnswerHandlers
    from engine.temporal.continuation import begin, continuation, real_rerun_point, result
    from engine.temporal.driver import feed
    from engine.temporal.limits import drive_admitted, release_limits
    from engine.temporal.run_progress import LiveProgress
    from engine.temporal.run_state import RunState
    from engine.temporal.task_limits import settle_task_limits
    from engine.temporal.trace_pump import drain_trace, fail_if_untraceable, progress_of, pump_trace
    from engine.temporal.types import (
        INTERPRETER_WORKFLOW,
        QUERY_PROGRESS,
        SIGNAL_DELIVER,
        SIGNAL_LIMIT,
        SIGNAL_PAUSE,
        SIGNAL_RESUME,
        SIGNAL_TASK_ARTIFACT,
        SIGNAL_TASK_PROGRESS,
        InterpreterInput,
        InterpreterResult,
        LimitSignal,
        SignalPayload,
        TaskArtifact,
        TaskProgress,
    )


def _traces_actions_reports(run: RunState) -> bool:
    """Whether the run puts its actions' progress and artifacts in its trace: a traced
    run that started on behaviour 3 (earlier runs ignore the signals)."""
    return (
        run.coordinator_or_none is not None and run.traced and run.behaviour >= Behaviour.OBSERVED
    )


@workflow.defn(name=INTERPRETER_WORKFLOW)
class Interpreter(AnswerHandlers):
    """Interprets any registered workflow version."""

    def __init__(self) -> None:
        self._run = RunState()

    @workflow.signal(name=SIGNAL_DELIVER)
    def deliver(self, signal: SignalPayload) -> None:
        """Resume a waiting task (or item) with a payload; see engine/temporal/waits.py
        for which wait a signal answers and which early signals are kept."""
        self._run.waits.deliver(signal)

    @workflow.signal(name=SIGNAL_LIMIT)
    def limit(self, signal: LimitSignal) -> None:
        """A concurrency limit's slot is this run's, or its wait is over (limits.py)."""
        self._run.limits.deliver(signal)

    @workflow.signal(name=SIGNAL_PAUSE)
    def pause(self) -> None:
        run = self._run
        if not run.paused:
            run.paused = True
            run.drain_paused = False  # the user's pause outlives the drain's
            run.projection_dirty = True
            run.inbox.append(PauseRequested(run.now_ms()))

    @workflow.signal(name=SIGNAL_RESUME)
    def resume(self) -> None:
        run = self._run
        if run.paused:
            run.paused = False
            run.projection_dirty = True
            run.inbox.append(ResumeRequested(run.now_ms()))

    @workflow.signal(name=SIGNAL_TASK_PROGRESS)
    def task_progress(self, signal: TaskProgress) -> None:
        """An action's progress, from its activity: a PROGRESS trace event (behaviour 3,
        engine/temporal/progress_events.py)."""
        run = self._run
        if _traces_actions_reports(run):
            run.progress_events.record(run.trace, run.live, signal, run.now_ms())

    @workflow.signal(name=SIGNAL_TASK_ARTIFACT)
    def task_artifact(self, signal: TaskArtifact) -> None:
        """An artifact an action stored: a PROGRESS trace event (behaviour 3)."""
        run = self._run
        if _traces_actions_reports(run):
            run.progress_events.record_artifact(run.trace, run.live, signal, run.now_ms())

    @workflow.query(name=QUERY_PROGRESS)
    def progress(self) -> LiveProgress:
        """Live progress: executions in flight and the latest finished ones."""
        return progress_of(self._run)

    @workflow.run
    async def run(self, params: InterpreterInput) -> InterpreterResult:
        run = self._run
        if not params.run_id:  # started by a schedule: Temporal named the execution
            params.run_id = workflow.info().workflow_id
        await begin(run, params)
        pump = asyncio.create_task(pump_trace(run)) if params.trace else None
        try:
            outcome = await drive_admitted(run)
        except asyncio.CancelledError:
            # Cancellation of the Temporal workflow: cancel in-flight work, record it, end.
            feed(run, CancelRequested(run.now_ms(), "canceled by request"))
            await run.children.wait()
            await settle_task_limits(run)
            await release_limits(run)
            await drain_trace(run, pump)
            raise
        await run.children.wait()
        await settle_task_limits(run)  # also before continue-as-new: attempts are done
        if outcome != "continue":
            await release_limits(run)  # a run continued as new goes on holding its slots
        await drain_trace(run, pump)
        fail_if_untraceable(run)
        if outcome == "continue":
            # Nothing is in flight: the state travels in the new run's input.
            if run.metrics is not None:
                run.metrics.continued_as_new()
            if run.spans is not None:
                run.spans.run_finished("continued", failed=False)
            workflow.continue_as_new(continuation(run))
        finished = result(run)
        if finished.status == "failed":
            # Temporal records the run as failed; the details carry the whole outcome.
            first = finished.errors[0]["message"] if finished.errors else "the run failed"
            raise ApplicationError(
                f"run failed: {first}",
                finished,
                # A run with secrets stores its rerun point masked: the real one rides
                # here, sealed by the codec, for a rerun to read back (run_record.py).
                # Only runs of Behaviour.OBSERVED know secrets: older ones replay as ever.
                *real_rerun_point(run),
                type="RunFailed",
                non_retryable=True,
            )
        return finished
