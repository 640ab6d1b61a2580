"""The coordinator: a pure state machine, `handle(event) -> commands`.

It holds no clock, does no I/O and draws no randomness of its own: time comes with each
event and `$random`/`$uuid` are seeded from the run id and the evaluation site, so the
same events always give the same commands (Temporal replays rely on it). Per event it
touches only the execution concerned and the graph facts precomputed in the program,
so its cost does not grow with the run's history.

The steps are plain functions over the run's `Machine` (engine/coordinator/base.py), one
module per job: starting.py (the run and its ready tasks), dispatching.py (attempts,
retries, with-items, slots), completion.py (transitions and arrivals), paths.py (where
paths stop: failure, cancel, expression errors), finishing.py (the run's end). Where the
run and each execution stand is a phase, moved only through the tables of lifecycle.py.
`Coordinator` is no part of that chain: it holds one run's `Machine` for its hosts (the
workflow, the simulator) and passes each event to `handle` below.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.coordinator.base import ENGINE_ITEM_LIMIT, Machine
from engine.coordinator.commands import Command, ErrorEntry, ExecutionStatus, TimerKind
from engine.coordinator.dispatching import (
    on_result,
    pump_items,
    pump_slots,
    request_dispatch,
    run_execution,
)
from engine.coordinator.error_types import ErrorType
from engine.coordinator.events import (
    ActionFailed,
    ActionSucceeded,
    CancelRequested,
    Event,
    FailRequested,
    PauseRequested,
    ResumeRequested,
    RunStarted,
    StartReady,
    TimerFired,
)
from engine.coordinator.finishing import maybe_finish
from engine.coordinator.lifecycle import TERMINAL_RUN_PHASES, ExecutionEvent, RunPhase
from engine.coordinator.paths import abort, guarded
from engine.coordinator.starting import on_run_started, start_ready
from engine.coordinator.state import CoordinatorState
from engine.expressions import Limits
from engine.expressions.budget import DEFAULT_LIMITS
from engine.language.spec import RetrySpec, WorkflowSpec


class Coordinator:
    """Drives one run of a workflow version: what its hosts hold and feed events to."""

    __slots__ = ("machine",)

    def __init__(
        self,
        spec: WorkflowSpec,
        state: CoordinatorState | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        action_retry_defaults: dict[str, RetrySpec] | None = None,
        item_limit: int = ENGINE_ITEM_LIMIT,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        self.machine = Machine(
            spec,
            state,
            limits=limits,
            action_retry_defaults=action_retry_defaults,
            item_limit=item_limit,
            secrets=secrets,
        )

    @property
    def spec(self) -> WorkflowSpec:
        return self.machine.spec

    @property
    def state(self) -> CoordinatorState:
        """The run's whole state (what a snapshot serialises)."""
        return self.machine.state

    @property
    def secrets(self) -> Mapping[str, str]:
        return self.machine.secrets

    @property
    def finished(self) -> bool:
        return self.machine.state.phase.is_terminal

    @property
    def has_ready(self) -> bool:
        state = self.machine.state
        return bool(state.ready) and not state.paused

    def handle(self, event: Event) -> list[Command]:
        """Apply one event; the commands it causes, in order."""
        return handle(self.machine, event)


def handle(m: Machine, event: Event) -> list[Command]:
    """Apply one event to a run's machine; the commands it causes, in order."""
    m.out = []
    state = m.state
    if event.at_ms > state.now_ms:
        state.now_ms = event.at_ms
    if state.phase in TERMINAL_RUN_PHASES:
        return []
    if isinstance(event, RunStarted):
        on_run_started(m, event)
    elif state.phase is RunPhase.PENDING:
        return []  # nothing happens before the run starts
    elif isinstance(event, StartReady):
        start_ready(m)
    elif isinstance(event, ActionSucceeded):
        on_result(
            m,
            event.execution,
            event.attempt,
            event.item,
            ExecutionStatus.SUCCEEDED,
            event.result,
            None,
        )
    elif isinstance(event, ActionFailed):
        on_result(
            m,
            event.execution,
            event.attempt,
            event.item,
            ExecutionStatus.FAILED,
            event.result,
            event.error,
        )
    elif isinstance(event, TimerFired):
        _on_timer(m, event.timer)
    elif isinstance(event, CancelRequested):
        abort(m, ErrorEntry(type=ErrorType.CANCELED, message=event.reason), canceled=True)
    elif isinstance(event, FailRequested):
        abort(m, ErrorEntry(type=event.error_type, message=event.reason), canceled=False)
    elif isinstance(event, PauseRequested):
        state.paused = True
    elif isinstance(event, ResumeRequested):
        state.paused = False
        pump_slots(m)
    maybe_finish(m)
    return m.out


def _on_timer(m: Machine, timer_id: int) -> None:
    """A timer fired: run timeout, a delay ended, or a retry is due."""
    state = m.state
    timer = state.timers.pop(timer_id, None)
    if timer is None:
        return
    if timer.kind is TimerKind.RUN_TIMEOUT:
        state.run_timer = None
        seconds = m.spec.timeout
        abort(
            m,
            ErrorEntry(
                type=ErrorType.TIMEOUT, message=f"the run did not finish within {seconds} s"
            ),
            canceled=False,
        )
        return
    execution = state.executions.get(timer.execution or 0)
    if execution is None:
        return
    if timer.item is not None:
        assert execution.items is not None
        execution.items.waiting_retry -= 1
        execution.items.retry_queue.append(timer.item)
        guarded(m, execution, pump_items)
        return
    if execution.timer != timer_id:
        return
    execution.timer = None
    execution.advance(ExecutionEvent.TIMER_FIRED)
    if timer.kind is TimerKind.DELAY:
        guarded(m, execution, run_execution)
    else:
        guarded(m, execution, request_dispatch)
