"""The one Temporal workflow type: it feeds coordinator events and carries out commands.

Each action runs where its definition's `Placement` says (engine/temporal/placement.py):
`core.*` in the workflow at no activity cost (inline, a timer, or a wait for a signal:
engine/temporal/waits.py), everything else as an activity; pass-through tasks and delays
cost no activity either; `workflow:` tasks become child workflows. Trace events are
written by a local activity that runs beside the coordinator (a "pump"), in order, each
exactly once. Long runs continue as new when the server suggests it, once nothing is in
flight, carrying the compact state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
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
    import msgspec

    from engine.actions.api import Placement
    from engine.actions.builtin import WAITS
    from engine.coordinator import (
        ActionFailed,
        ActionSucceeded,
        CancelDispatches,
        CancelRequested,
        CancelTimer,
        Command,
        Coordinator,
        DispatchAction,
        ErrorInfo,
        Event,
        ExecutionFinished,
        ExecutionStarted,
        FinishRun,
        PauseRequested,
        ResumeRequested,
        RunInfo,
        RunStarted,
        RunStatus,
        StartChildRun,
        StartReady,
        StartTimer,
        TimerFired,
        TimerKind,
    )
    from engine.coordinator.behaviour import Behaviour
    from engine.coordinator.rerun import RerunPoint
    from engine.coordinator.snapshot import state_from_builtins, state_to_builtins
    from engine.diagnostics import WorkflowInvalid
    from engine.language.loader import load_workflow
    from engine.language.spec import RetrySpec, WorkflowSpec
    from engine.simulator.mocks import MockBook, parse_mocks
    from engine.temporal.activities import TRACE_UNRECORDABLE
    from engine.temporal.answers import AnswerHandlers
    from engine.temporal.children import ChildStops, child_error, child_options
    from engine.temporal.metrics import RunMetrics
    from engine.temporal.placement import placement_of, run_inline
    from engine.temporal.run_secrets import RunSecrets
    from engine.temporal.tracing import API_STATUS, TraceLog
    from engine.temporal.types import (
        INTERPRETER_WORKFLOW,
        LOOKUP_WORKFLOW,
        QUERY_PROGRESS,
        RECORD_TRACE,
        RUN_ACTION,
        SIGNAL_DELIVER,
        SIGNAL_PAUSE,
        SIGNAL_RESUME,
        ActionRequest,
        InterpreterInput,
        InterpreterResult,
        SignalPayload,
        TraceBatch,
        TraceRecord,
        WaitChange,
    )
    from engine.temporal.versioning import behaviour_of_this_run
    from engine.temporal.wait_hints import wait_hint
    from engine.temporal.waits import WaitRegistry

TRACE_BATCH = 500
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
TRACE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=0,
)

_SPECS: dict[str, WorkflowSpec] = {}
# The actions' own retry layers (LANGUAGE.md §8) from the worker's catalog: only for the
# actions a run's start input does not carry (runs started before the input carried
# them, or by a starter whose catalog lacks a plugin the worker has).
_WORKER_RETRY_DEFAULTS: dict[str, dict[str, float]] = {}


def configure_action_retry_defaults(defaults: Mapping[str, Mapping[str, float]]) -> None:
    """Install the worker catalog's retry defaults for every interpreter in this process."""
    _WORKER_RETRY_DEFAULTS.clear()
    _WORKER_RETRY_DEFAULTS.update({name: dict(numbers) for name, numbers in defaults.items()})


def _retry_numbers(params: InterpreterInput) -> dict[str, dict[str, float]]:
    """The retry layers this run decides with: what its start input carries wins."""
    return {**_WORKER_RETRY_DEFAULTS, **(params.action_retry_defaults or {})}


def _retry_specs(numbers: Mapping[str, Mapping[str, float]]) -> dict[str, RetrySpec]:
    return {name: RetrySpec.from_numbers(values) for name, values in numbers.items()}


def compiled_spec(params: InterpreterInput) -> WorkflowSpec:
    """The spec of a workflow version, compiled once per worker process."""
    key = f"{params.workflow}\x00{params.version}\x00{len(params.yaml)}\x00{hash(params.yaml)}"
    spec = _SPECS.get(key)
    if spec is None:
        spec = load_workflow(params.yaml, f"{params.workflow}.yaml", name=params.workflow)
        if len(_SPECS) > 512:
            _SPECS.clear()
        _SPECS[key] = spec
    return spec


@workflow.defn(name=INTERPRETER_WORKFLOW)
class Interpreter(AnswerHandlers):
    """Interprets any registered workflow version."""

    def __init__(self) -> None:
        self._retry_numbers: dict[str, dict[str, float]] = {}
        self._children = ChildStops()
        self._metrics: RunMetrics | None = None
        self._started_at_ms = 0
        self._inbox: list[Event] = []
        self._tasks: dict[tuple[int, int | None], asyncio.Task[None]] = {}
        self._timers: dict[int, asyncio.Task[None]] = {}
        self._timer_due: dict[int, int] = {}
        self._waits = WaitRegistry(
            self._inbox_append, self._note_wait, self._now_ms, self._trace_warning
        )
        self._wait_changes: list[WaitChange] = []
        self._trace = TraceLog()
        self._secrets = RunSecrets()
        self._pump_idle = True
        self._params: InterpreterInput | None = None
        self._coordinator: Coordinator | None = None
        self._finish: FinishRun | None = None
        self._paused = False
        self._recent: list[dict[str, Any]] = []
        self._live: dict[int, dict[str, Any]] = {}
        self._sequence: list[list[Any]] | None = None
        self._sequence_open: dict[int, list[Any]] = {}  # running executions' rows
        self._mocks: MockBook | None = None
        self._virtual_ms = 0
        self._drain_paused = False  # paused only to continue as new, not by a user
        self._immediate: list[Event] = []  # simulated timers that fire at once
        self._dispatch_order: dict[tuple[int, int | None, int], int] = {}  # simulations
        self._dispatched = 0
        self._projection_dirty = False  # the run's status changed without a trace event
        self._trace_failure: str | None = None  # a trace write that no retry can make

    @property
    def _behaviour(self) -> Behaviour:
        """The coordinator behaviour this run started on (kept for its whole life)."""
        assert self._coordinator is not None
        return self._coordinator.state.behaviour

    # ----------------------------------------------------------------- handlers

    @workflow.signal(name=SIGNAL_DELIVER)
    def deliver(self, signal: SignalPayload) -> None:
        """Resume a waiting task (or item) with a payload; see engine/temporal/waits.py
        for which wait a signal answers and which early signals are kept."""
        self._waits.deliver(signal)

    @workflow.signal(name=SIGNAL_PAUSE)
    def pause(self) -> None:
        if not self._paused:
            self._paused = True
            self._drain_paused = False  # the user's pause outlives the drain's
            self._projection_dirty = True
            self._inbox.append(PauseRequested(self._now_ms()))

    @workflow.signal(name=SIGNAL_RESUME)
    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self._projection_dirty = True
            self._inbox.append(ResumeRequested(self._now_ms()))

    @workflow.query(name=QUERY_PROGRESS)
    def progress(self) -> dict[str, Any]:
        """Live progress: executions in flight and the latest finished ones."""
        status = "PAUSED" if self._paused else "RUNNING"
        if self._finish is not None:
            status = API_STATUS[self._finish.status]
        return {
            "status": status,
            "paused": self._paused,
            "started": self._trace.started,
            "finished": self._trace.finished,
            "running": sorted(self._live.values(), key=lambda e: e["execution"]),
            "recent": list(self._recent),
            "waiting": [wait.describe() for wait in self._waits.open()],
        }

    # ----------------------------------------------------------------- the run

    @workflow.run
    async def run(self, params: InterpreterInput) -> InterpreterResult:
        self._params = params
        self._retry_numbers = _retry_numbers(params)
        try:
            spec = compiled_spec(params)
        except WorkflowInvalid as invalid:
            # Bad YAML can only come from a caller that skipped validation: fail the run
            # (rather than retrying the workflow task forever) and say why.
            raise ApplicationError(
                f"the workflow {params.workflow!r} is invalid",
                [d.to_json() for d in invalid.diagnostics],
                type="WorkflowInvalid",
                non_retryable=True,
            ) from None
        started_at = params.started_at_ms or self._wall_ms()
        self._started_at_ms = started_at
        if params.mocks is None:  # simulations are not production runs
            self._metrics = RunMetrics(params.workflow)
            if params.snapshot is None:
                self._metrics.run_started()
        if params.mocks is not None:
            self._virtual_ms = started_at
            carried = params.carried.get("mocks")
            self._mocks = MockBook(parse_mocks(carried if carried is not None else params.mocks))
            self._sequence = list(params.carried.get("sequence", []))
            self._sequence_open = {row[4]: row for row in self._sequence if row[3] == "running"}
        carried_trace = params.carried.get("trace", [1, 0, 0])
        self._trace = TraceLog(
            params.trace_seq or carried_trace[0], carried_trace[1], carried_trace[2]
        )
        if params.snapshot is None:
            behaviour = behaviour_of_this_run()
            refused = await self._secrets.begin(spec, params, behaviour)
            self._coordinator = Coordinator(
                spec,
                action_retry_defaults=_retry_specs(self._retry_numbers),
                secrets=self._secrets.named,
            )
            run = RunInfo(params.run_id, params.workflow, params.version, started_at)
            self._trace.run_started(self._now_ms(), params.input)
            rerun = _rerun_point(params)
            self._waits.bound = behaviour >= Behaviour.CLARIFIED
            if refused is not None:  # a named secret is missing: nothing may run
                self._carry_out(FinishRun(RunStatus.FAILED, None, (refused,)))
            else:
                self._feed(RunStarted(self._now_ms(), run, params.input, rerun, behaviour))
        else:
            self._secrets.resume(params)
            self._coordinator = Coordinator(
                spec,
                state_from_builtins(params.snapshot),
                action_retry_defaults=_retry_specs(self._retry_numbers),
                secrets=self._secrets.named,
            )
            self._paused = self._coordinator.state.paused
            self._waits.bound = self._coordinator.state.behaviour >= Behaviour.CLARIFIED
            self._restore_carried(params)
            if params.carried.get("drain_paused"):
                self._paused = False
                self._feed(ResumeRequested(self._now_ms()))
        pump = asyncio.create_task(self._pump_trace()) if params.trace else None
        try:
            outcome = await (self._drive_simulation() if self._mocks else self._drive())
        except asyncio.CancelledError:
            # Cancellation of the Temporal workflow: cancel in-flight work, record it, end.
            self._feed(CancelRequested(self._now_ms(), "canceled by request"))
            await self._children.wait()
            await self._drain_trace(pump)
            raise
        await self._children.wait()
        await self._drain_trace(pump)
        self._fail_if_untraceable()
        if outcome == "continue":
            # Nothing is in flight: the state travels in the new run's input.
            if self._metrics is not None:
                self._metrics.continued_as_new()
            workflow.continue_as_new(self._continuation(params))
        result = self._result()
        if result.status == "failed":
            # Temporal records the run as failed; the details carry the whole outcome.
            first = result.errors[0]["message"] if result.errors else "the run failed"
            raise ApplicationError(
                f"run failed: {first}", result, type="RunFailed", non_retryable=True
            )
        return result

    async def _drive(self) -> str:
        """Run until the coordinator finishes ("finished"), the run should continue as new
        ("continue") or, in a simulation, nothing more can happen ("stalled")."""
        coordinator = self._coordinator
        assert coordinator is not None
        draining = False
        while self._finish is None:
            while coordinator.has_ready and not draining:
                self._feed(StartReady(self._now_ms()))
            if self._finish is not None:
                break
            if not draining and workflow.info().is_continue_as_new_suggested():
                # Start nothing new (no task, no with-items item, no retry attempt) and
                # continue as new once what is out has come back.
                draining = True
                if not self._paused:
                    self._drain_paused = True
                    self._feed(PauseRequested(self._now_ms()))
            if draining and not self._tasks and not self._inbox:
                return "continue"
            await workflow.wait_condition(
                self._has_news if not draining else self._has_news_or_drained
            )
            self._fail_if_untraceable()
            events, self._inbox = self._inbox, []
            for event in events:
                self._feed(event)
        return "finished"

    async def _drive_simulation(self) -> str:
        """`segue simulate --temporal`: the simulator's waves over real activities.

        Start what is ready; wait until every dispatch of the wave has come back; then
        complete one dispatch per execution, oldest first, in start order. The outcome
        then matches `segue simulate` even where real concurrency would reorder it.
        """
        coordinator = self._coordinator
        assert coordinator is not None
        held: dict[int, list[tuple[int, Event]]] = {}
        while self._finish is None:
            if coordinator.has_ready:
                self._feed(StartReady(self._now_ms()))
                if self._finish is not None:
                    break
            await workflow.wait_condition(self._wave_returned)
            events, self._inbox = self._inbox, []
            for event in events:
                if isinstance(event, (ActionSucceeded, ActionFailed)) and event.execution >= 0:
                    order = self._dispatch_order.pop(
                        (event.execution, event.item, event.attempt), 0
                    )
                    held.setdefault(event.execution, []).append((order, event))
            progressed = False
            for execution in sorted(held):
                queue = sorted(held[execution], key=lambda entry: entry[0])
                self._feed(queue[0][1])
                progressed = True
                held[execution] = queue[1:]
                if self._finish is not None:
                    break
            held = {execution: queue for execution, queue in held.items() if queue}
            if progressed or coordinator.has_ready or held:
                continue
            if not self._settle_simulation():
                return "stalled"
        return "finished"

    def _wave_returned(self) -> bool:
        return not self._tasks

    def _has_news(self) -> bool:
        return bool(self._inbox) or self._trace_failure is not None

    def _has_news_or_drained(self) -> bool:
        return self._has_news() or not self._tasks

    def _feed(self, event: Event) -> None:
        """Apply an event, and what follows at once (simulated timers fire at once)."""
        coordinator = self._coordinator
        assert coordinator is not None
        queue = [event]
        while queue:
            for command in coordinator.handle(queue.pop(0)):
                self._carry_out(command)
            queue.extend(self._immediate)
            self._immediate.clear()

    # ----------------------------------------------------------------- commands

    def _carry_out(self, command: Command) -> None:
        now = self._now_ms()
        self._trace.record(command, now)
        if self._params is not None and not self._params.trace:
            self._trace.pending.clear()  # counted for progress, written nowhere
        if isinstance(command, ExecutionStarted):
            ref = command.execution
            self._waits.known_execution = max(self._waits.known_execution, ref.id)
            self._live[ref.id] = {
                "execution": ref.id,
                "task": ref.task,
                "iteration": ref.iteration,
                "route": ref.route,
                "attempt": 1,
                "status": "running",
                "started_ms": now,
            }
            if self._sequence is not None:
                row = [ref.task, ref.iteration, ref.route, "running", ref.id]
                self._sequence.append(row)
                self._sequence_open[ref.id] = row
        elif isinstance(command, ExecutionFinished):
            self._on_finished(command, now)
        elif isinstance(command, DispatchAction):
            live = self._live.get(command.execution.id)
            if live is not None:
                live["attempt"] = command.attempt
            self._dispatch(command)
        elif isinstance(command, StartChildRun):
            key = (command.execution.id, command.item)
            self._spawn(key, self._child(command))
            if self._behaviour is not Behaviour.ORIGINAL:
                self._children.started(key)
        elif isinstance(command, CancelDispatches):
            for key, task in list(self._tasks.items()):
                if key[0] in command.executions:
                    task.cancel()
                    self._children.cancelled(key, task)
                    del self._tasks[key]
            for execution in command.executions:
                self._waits.end_execution(execution)
        elif isinstance(command, StartTimer):
            self._start_timer(command)
        elif isinstance(command, CancelTimer):
            timer = self._timers.pop(command.timer, None)
            self._timer_due.pop(command.timer, None)
            if timer is not None:
                timer.cancel()
        elif isinstance(command, FinishRun):
            self._finish = command
            if self._metrics is not None:
                self._metrics.run_finished(command, (self._now_ms() - self._started_at_ms) / 1000)

    def _on_finished(self, command: ExecutionFinished, now: int) -> None:
        if self._metrics is not None:
            self._metrics.execution_finished(command)
        ref = command.execution
        live = self._live.pop(ref.id, None) or {}
        self._waits.end_execution(ref.id)
        summary = {
            **live,
            "status": str(command.status),
            "attempt": command.attempts,
            "finished_ms": now,
        }
        self._recent.append(summary)
        del self._recent[:-50]
        row = self._sequence_open.pop(ref.id, None)
        if row is not None:
            row[3] = str(command.status)

    def _succeeded(self, command: DispatchAction | StartChildRun, result: Any) -> None:
        ref = command.execution
        self._inbox.append(
            ActionSucceeded(self._now_ms(), ref.id, command.attempt, result, command.item)
        )

    def _failed(self, command: DispatchAction | StartChildRun, error: ErrorInfo) -> None:
        ref = command.execution
        self._inbox.append(
            ActionFailed(self._now_ms(), ref.id, command.attempt, error, None, command.item)
        )

    def _spawn(self, key: tuple[int, int | None], work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks[key] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._tasks.get(key) is done:
                del self._tasks[key]

        task.add_done_callback(forget)

    def _dispatch(self, command: DispatchAction) -> None:
        if self._mocks is not None:
            self._dispatch_mocked(command)
            return
        assert self._coordinator is not None
        placement = placement_of(command, self._coordinator.state.behaviour)
        if placement is Placement.WORKFLOW:
            self._in_workflow(command)
        elif placement is Placement.ACTIVITY:
            self._spawn((command.execution.id, command.item), self._activity(command, None))
        else:  # a placement added later (a local activity) is a type error until handled
            assert_never(placement)

    def _in_workflow(self, command: DispatchAction) -> None:
        ref = command.execution
        if command.action == "core.sleep":
            seconds = _seconds(command.input, "seconds", 0.0)
            self._spawn((ref.id, command.item), self._sleep(command, seconds))
        elif command.action in WAITS:
            self._waits.begin(command)
            params = self._params
            if params is not None and params.trace and self._behaviour is not Behaviour.ORIGINAL:
                self._trace.hint(
                    self._now_ms(),
                    ref.task,
                    wait_hint(command, params.run_id),
                    {"execution": ref.id},
                )
        else:
            params = self._params
            assert params is not None
            self._inbox.append(run_inline(command, params.run_id, params.workflow, self._now_ms()))

    async def _sleep(self, command: DispatchAction, seconds: float) -> None:
        limit = command.timeout_seconds
        if limit is not None and limit < seconds and self._behaviour is not Behaviour.ORIGINAL:
            # A task's `timeout` holds for native actions too (behaviour 1 ignored it).
            await workflow.sleep(limit)
            message = f"core.sleep of {seconds:g} s did not finish within its {limit:g} s timeout"
            self._failed(command, ErrorInfo("timeout", message))
            return
        await workflow.sleep(seconds)
        self._succeeded(command, None)

    # ----------------------------------------------------------------- waits (signals)

    def _inbox_append(self, event: Event) -> None:
        self._inbox.append(event)

    def _note_wait(self, change: WaitChange) -> None:
        if self._params is not None and self._params.trace:
            self._wait_changes.append(change)

    # ----------------------------------------------------------------- activities

    async def _activity(self, command: DispatchAction, mock: dict[str, Any] | None) -> None:
        params = self._params
        assert params is not None
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
            mock=mock,
            trace=self._carried_trace(),
            secrets=self._secrets.values,
        )
        carried = request.trace.events if request.trace else []
        timeout = command.timeout_seconds or DEFAULT_ACTION_TIMEOUT
        try:
            outcome = await workflow.execute_activity(
                RUN_ACTION,
                request,
                start_to_close_timeout=timedelta(seconds=timeout + 30),
                heartbeat_timeout=HEARTBEAT_TIMEOUT if timeout > HEARTBEAT_ABOVE_SECONDS else None,
                retry_policy=INFRASTRUCTURE_RETRY,
                summary=f"{ref.task}#{ref.iteration}",
            )
        except ActivityError as failure:
            self._trace.restore(carried)  # the pump writes them (a repeat inserts nothing)
            self._failed(command, _error_info(failure))
            return
        except asyncio.CancelledError:
            self._trace.restore(carried)
            raise
        if not outcome.get("traced"):
            self._trace.restore(carried)
        self._secrets.learn(outcome.get("secrets"))
        self._succeeded(command, outcome.get("result"))

    def _carried_trace(self) -> TraceBatch | None:
        """The pending trace events, to travel with an action's activity: it writes them
        while the action runs, so no trace write holds up the workflow task that
        dispatched the action (readers see events only without gaps: see the store)."""
        if self._params is None or not self._params.trace or not self._trace.pending:
            return None
        return self._trace_batch(self._trace.take(TRACE_BATCH), [])

    async def _child(self, command: StartChildRun) -> None:
        params = self._params
        assert params is not None
        ref = command.execution
        if self._mocks is not None:
            self._inbox.append(
                self._mocked_event(
                    command.execution.task,
                    ref.id,
                    ref.iteration,
                    command.attempt,
                    command.item,
                    command.workflow,
                    command.input,
                )
            )
            return
        child_id = (
            f"{params.run_id}.{ref.task}.{ref.iteration}.{command.item or 0}.{command.attempt}"
        )
        try:
            found = await workflow.execute_local_activity(
                LOOKUP_WORKFLOW,
                command.workflow,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=TRACE_RETRY,
            )
            child_input = InterpreterInput(
                run_id=child_id,
                workflow=found["name"],
                version=str(found["version"]),
                yaml=found["yaml"],
                input=command.input if isinstance(command.input, dict) else {},
                task_queue=params.task_queue,
                trace=params.trace,
                parent_run_id=params.run_id,
                action_retry_defaults=self._retry_numbers,
            )
            result = await workflow.execute_child_workflow(
                INTERPRETER_WORKFLOW,
                child_input,
                id=child_id,
                task_queue=params.task_queue,
                execution_timeout=timedelta(seconds=command.timeout_seconds)
                if command.timeout_seconds
                else None,
                **child_options(self._behaviour),
            )
        except ChildWorkflowError as failure:
            self._failed(command, child_error(failure, self._behaviour))
            return
        except ActivityError as failure:
            self._failed(command, _error_info(failure))
            return
        output = (
            result.get("output") if isinstance(result, dict) else getattr(result, "output", None)
        )
        self._succeeded(command, output)

    # ----------------------------------------------------------------- timers

    def _start_timer(self, command: StartTimer) -> None:
        if self._mocks is not None:
            self._mock_timer(command)
            return
        self._timer_due[command.timer] = self._now_ms() + int(command.seconds * 1000)
        self._timers[command.timer] = asyncio.create_task(
            self._timer(command.timer, command.seconds)
        )

    async def _timer(self, timer: int, seconds: float) -> None:
        await workflow.sleep(seconds)
        self._timers.pop(timer, None)
        self._timer_due.pop(timer, None)
        self._inbox.append(TimerFired(self._now_ms(), timer))

    # ----------------------------------------------------------------- simulations

    def _dispatch_mocked(self, command: DispatchAction) -> None:
        ref = command.execution
        outcome = self._mock_outcome(
            ref.task, ref.iteration, command.item, command.action, command.input
        )
        if outcome is None:
            return  # mocked `running`: this attempt never completes
        self._dispatched += 1
        self._dispatch_order[(ref.id, command.item, command.attempt)] = self._dispatched
        self._spawn((ref.id, command.item), self._activity(command, outcome))

    def _mock_outcome(
        self, task: str, iteration: int, item: int | None, action: str, data: Any
    ) -> dict[str, Any] | None:
        assert self._mocks is not None
        outcome = self._mocks.outcome(task, iteration, item, action, data)
        if outcome.status == "running":
            return None
        error = outcome.error
        return {
            "status": outcome.status,
            "result": outcome.result,
            "error": None
            if error is None
            else {"type": error.type, "message": error.message, "details": error.details},
        }

    def _mocked_event(
        self,
        task: str,
        execution: int,
        iteration: int,
        attempt: int,
        item: int | None,
        action: str,
        data: Any,
    ) -> Event:
        outcome = self._mock_outcome(task, iteration, item, action, data)
        now = self._now_ms()
        if outcome is None:
            return ActionSucceeded(now, -1, attempt)  # never matches: the child stays running
        if outcome["status"] == "succeeded":
            return ActionSucceeded(now, execution, attempt, outcome["result"], item)
        error = outcome["error"] or {}
        return ActionFailed(
            now,
            execution,
            attempt,
            ErrorInfo(
                error.get("type", "failed"),
                error.get("message", "mocked failure"),
                error.get("details"),
            ),
            outcome["result"],
            item,
        )

    def _mock_timer(self, command: StartTimer) -> None:
        """Simulated timers fire at once and move the virtual clock (as `segue simulate`)."""
        due = self._virtual_ms + int(command.seconds * 1000)
        if command.kind is TimerKind.RUN_TIMEOUT:
            self._timer_due[command.timer] = due
            return
        for timer, deadline in sorted(self._timer_due.items(), key=lambda t: t[1]):
            if deadline <= due:
                self._virtual_ms = max(self._virtual_ms, deadline)
                self._timer_due.pop(timer)
                self._immediate.append(TimerFired(self._virtual_ms, timer))
        self._virtual_ms = max(self._virtual_ms, due)
        self._immediate.append(TimerFired(self._virtual_ms, command.timer))

    def _settle_simulation(self) -> bool:
        """Nothing else can happen: the run timeout fires (True), or the run stays
        `running` (False)."""
        for timer, deadline in sorted(self._timer_due.items(), key=lambda t: t[1]):
            self._timer_due.pop(timer)
            self._virtual_ms = max(self._virtual_ms, deadline)
            self._feed(TimerFired(self._virtual_ms, timer))
            return True
        return False

    # ----------------------------------------------------------------- trace

    async def _pump_trace(self) -> None:
        params = self._params
        assert params is not None
        while True:
            await workflow.wait_condition(self._trace_due)
            self._pump_idle = False
            self._projection_dirty = False
            batch = self._trace.take(TRACE_BATCH)
            waits, self._wait_changes = self._wait_changes, []
            try:
                await workflow.execute_local_activity(
                    RECORD_TRACE,
                    self._trace_batch(batch, waits),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=TRACE_RETRY,
                )
            except FailureError as failure:
                # Only a non-retryable error gets here (the sink's verdict): the run ends
                # with it rather than waiting for a trace that can never be written.
                cause = failure.cause if failure.cause is not None else failure
                self._trace_failure = getattr(cause, "message", None) or str(cause)
                self._pump_idle = True
                return
            self._pump_idle = not self._trace_due()

    def _trace_batch(self, events: list[TraceRecord], waits: list[WaitChange]) -> TraceBatch:
        params = self._params
        assert params is not None
        return TraceBatch(
            params.run_id,
            params.workflow,
            [self._secrets.record(event) for event in events],
            self._secrets.projection(self._projection()),
            waits,
            int(params.version) if params.version.isdigit() else 0,
            params.task_queue,
            params.parent_run_id,
        )

    def _trace_due(self) -> bool:
        return bool(self._trace.pending or self._wait_changes or self._projection_dirty)

    async def _drain_trace(self, pump: asyncio.Task[None] | None) -> None:
        if pump is None:
            return
        await workflow.wait_condition(
            lambda: (not self._trace_due() and self._pump_idle) or self._trace_failure is not None
        )
        pump.cancel()

    def _fail_if_untraceable(self) -> None:
        if self._trace_failure is not None:
            raise ApplicationError(self._trace_failure, type=TRACE_UNRECORDABLE, non_retryable=True)

    def _projection(self) -> dict[str, Any]:
        projection: dict[str, Any] = {
            "progress_completed": self._trace.finished,
            "progress_total": self._trace.started,
            "history_length": workflow.info().get_current_history_length(),
        }
        if self._finish is not None:
            projection.update(
                status=_api_status(self._finish),
                output=self._finish.output,
                errors=[e.to_json() for e in self._finish.errors],
                errors_dropped=self._finish.errors_dropped,
                completed_at_ms=self._now_ms(),
            )
            if self._finish.rerun is not None:
                projection["rerun_point"] = msgspec.to_builtins(self._finish.rerun)
            if self._finish.errors and _api_status(self._finish) != "COMPLETED":
                first = self._finish.errors[0]
                projection["failure"] = {"reason": first.message, "details": {"type": first.type}}
        else:
            projection["status"] = "PAUSED" if self._paused else "RUNNING"
            state = self._coordinator.state if self._coordinator is not None else None
            if state is not None and state.errors:
                # A run that is failing while another branch still waits shows why now,
                # not only once it ends.
                projection["errors"] = [e.to_json() for e in state.errors]
                projection["errors_dropped"] = state.errors_dropped
        return projection

    # ----------------------------------------------------------------- the end

    def _result(self) -> InterpreterResult:
        params, finish = self._params, self._finish
        assert params is not None
        sequence = None if self._sequence is None else [entry[:4] for entry in self._sequence]
        if finish is None:  # a simulation where nothing more can happen
            state = self._coordinator.state if self._coordinator else None
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

    def _continuation(self, params: InterpreterInput) -> InterpreterInput:
        coordinator = self._coordinator
        assert coordinator is not None
        now = self._now_ms()
        carried: dict[str, Any] = {
            "trace": [self._trace.next_seq, self._trace.started, self._trace.finished],
            "drain_paused": self._drain_paused,
            "waits": self._waits.carried(now),
        }
        if (secrets := self._secrets.carried()) is not None:
            carried["secrets"] = secrets
        if self._mocks is not None:
            carried["mocks"] = [
                {k: v for k, v in vars(entry).items() if v is not None and k != "error"}
                | (
                    {"error": {"type": entry.error.type, "message": entry.error.message}}
                    if entry.error
                    else {}
                )
                for entry in self._mocks.entries
            ]
            carried["sequence"] = self._sequence
            carried["virtual_ms"] = self._virtual_ms
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
            action_retry_defaults=self._retry_numbers,
            snapshot=state_to_builtins(coordinator.state),
            trace_seq=self._trace.next_seq,
            timers=[[timer, max(0, due - now)] for timer, due in sorted(self._timer_due.items())],
            carried=carried,
            continued=params.continued + 1,
        )

    def _restore_carried(self, params: InterpreterInput) -> None:
        for raw, remaining in params.carried.get("waits", []):
            command = msgspec.convert(raw, DispatchAction)
            self._waits.begin(command, remaining_ms=remaining, announce=False)
        if self._mocks is not None:
            self._virtual_ms = int(params.carried.get("virtual_ms", self._virtual_ms))
        for timer, remaining in params.timers:
            if self._mocks is not None:
                self._timer_due[timer] = self._virtual_ms + remaining
                continue
            self._timer_due[timer] = self._now_ms() + remaining
            self._timers[timer] = asyncio.create_task(self._timer(timer, remaining / 1000))

    # ----------------------------------------------------------------- clock

    def _wall_ms(self) -> int:
        return int(workflow.now().timestamp() * 1000)

    def _now_ms(self) -> int:
        return self._virtual_ms if self._mocks is not None else self._wall_ms()


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


def _api_status(finish: FinishRun) -> str:
    if finish.status.value == "failed" and any(
        e.type == "timeout" and e.task is None for e in finish.errors
    ):
        return "TIMED_OUT"
    return API_STATUS[finish.status]


def _seconds(data: Any, key: str, default: float) -> float:
    value = data.get(key, default) if isinstance(data, dict) else default
    return (
        float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
    )


def _error_info(failure: FailureError) -> ErrorInfo:
    """What `$error` shows for a failed activity or child."""
    cause = failure.cause
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details else None
        return ErrorInfo(cause.type or "ApplicationError", cause.message, details)
    if isinstance(cause, TimeoutError):
        return ErrorInfo(
            "timeout", f"the action timed out ({cause.type.name if cause.type else 'timeout'})"
        )
    if isinstance(cause, CancelledError):
        return ErrorInfo("canceled", "the action was canceled")
    return ErrorInfo(type(cause).__name__ if cause else "failed", str(cause or failure))
