"""The one state object of an interpreter run: what the workflow's handlers mutate and
the modules that drive it (engine/temporal/driver.py, dispatch.py, trace_pump.py,
continuation.py) read. Nothing here issues a Temporal command."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.coordinator import (
        ActionFailed,
        ActionSucceeded,
        Coordinator,
        DispatchAction,
        ErrorInfo,
        Event,
        FinishRun,
        StartChildRun,
    )
    from engine.coordinator.behaviour import Behaviour
    from engine.temporal.children import ChildStops
    from engine.temporal.limit_gate import LimitGate
    from engine.temporal.metrics import RunMetrics
    from engine.temporal.progress_events import ProgressEvents
    from engine.temporal.run_progress import RecentExecution, RunningExecution
    from engine.temporal.run_secrets import RunSecrets
    from engine.temporal.run_spans import RunSpans
    from engine.temporal.tracing import TraceLog
    from engine.temporal.types import InterpreterInput, WaitChange
    from engine.temporal.waits import WaitRegistry

TaskKey = tuple[int, int | None]  # (execution id, with-items index or None)


class RunState:
    """One run inside the workflow: its input, its coordinator, what is in flight, what
    waits to be traced, and the live progress the `progress` query shows."""

    def __init__(self) -> None:
        self.params: InterpreterInput | None = None
        self.coordinator_or_none: Coordinator | None = None
        self.retry_numbers: dict[str, dict[str, float]] = {}
        self.local_actions: list[str] = []  # run as local activities (behaviour 3)
        self.children = ChildStops()
        self.limits = LimitGate()  # concurrency limits across runs (engine/temporal/limits.py)
        self.metrics: RunMetrics | None = None
        self.spans: RunSpans | None = None
        self.started_at_ms = 0
        self.inbox: list[Event] = []  # results, answers and timers for the coordinator
        self.tasks: dict[TaskKey, asyncio.Task[None]] = {}  # activities, sleeps, children
        self.timers: dict[int, asyncio.Task[None]] = {}
        self.timer_due: dict[int, int] = {}
        self.waits = WaitRegistry(self.emit, self.note_wait, self.now_ms, self.warn)
        self.wait_changes: list[WaitChange] = []
        self.trace = TraceLog()
        self.secrets = RunSecrets()  # named secrets and what the trace masks
        self.progress_events = ProgressEvents()  # actions' own progress, for the trace
        self.pump_idle = True
        self.finish: FinishRun | None = None
        self.paused = False
        self.drain_paused = False  # paused only to continue as new, not by a user
        self.recent: list[RecentExecution] = []
        self.live: dict[int, RunningExecution] = {}
        self.projection_dirty = False  # the run's status changed without a trace event
        self.trace_failure: str | None = None  # a trace write that no retry can make

    @property
    def input(self) -> InterpreterInput:
        """The run's start input (set before anything else runs)."""
        assert self.params is not None
        return self.params

    @property
    def coordinator(self) -> Coordinator:
        """The run's coordinator (set when the run begins)."""
        assert self.coordinator_or_none is not None
        return self.coordinator_or_none

    @property
    def behaviour(self) -> Behaviour:
        """The coordinator behaviour this run started on (kept for its whole life)."""
        return self.coordinator.state.behaviour

    @property
    def traced(self) -> bool:
        """Whether this run writes trace events and its projection to the store."""
        return self.params is not None and self.params.trace

    def wall_ms(self) -> int:
        """Temporal's deterministic workflow time, in ms."""
        return int(workflow.now().timestamp() * 1000)

    def now_ms(self) -> int:
        """The run's clock: Temporal's workflow time (`segue simulate --temporal` runs
        on a time-skipping server: engine/temporal/simulation.py)."""
        return self.wall_ms()

    def emit(self, event: Event) -> None:
        """An event for the coordinator, taken at the drive loop's next turn."""
        self.inbox.append(event)  # not bound once: the drive loop swaps the list

    def succeeded(self, command: DispatchAction | StartChildRun, result: Any) -> None:
        """An attempt's result, for the coordinator."""
        ref = command.execution
        self.inbox.append(
            ActionSucceeded(self.now_ms(), ref.id, command.attempt, result, command.item)
        )

    def failed(self, command: DispatchAction | StartChildRun, error: ErrorInfo) -> None:
        """An attempt's failure, for the coordinator."""
        ref = command.execution
        self.inbox.append(
            ActionFailed(self.now_ms(), ref.id, command.attempt, error, None, command.item)
        )

    def spawn(self, key: TaskKey, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as an asyncio task of the workflow, known by its (execution, item)."""
        task = asyncio.create_task(work)
        self.tasks[key] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self.tasks.get(key) is done:
                del self.tasks[key]

        task.add_done_callback(forget)

    def note_wait(self, change: WaitChange) -> None:
        """A wait began or ended: for the store's waits index."""
        if self.traced:
            self.wait_changes.append(change)

    def warn(self, task: str, message: str, data: dict[str, Any]) -> None:
        """A warning in the trace about a task (e.g. a refused answer)."""
        self.trace.warning(self.wall_ms(), task, message, data)
        if self.params is not None and not self.params.trace:
            self.trace.pending.clear()  # counted for progress, written nowhere
