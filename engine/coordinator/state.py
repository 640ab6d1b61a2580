"""The coordinator's whole mutable state. Only what is live is kept: finished executions
are dropped once their transitions are taken, so the state's size follows what is in
flight, never the length of the history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import ErrorEntry, ExecutionRef, RunStatus, TimerKind
from engine.coordinator.context import Context
from engine.coordinator.events import ErrorInfo, RunInfo
from engine.coordinator.lifecycle import (
    EXECUTION_NEXT,
    RUN_NEXT,
    ExecutionEvent,
    ExecutionPhase,
    RunEvent,
    RunPhase,
    execution_after,
    run_after,
)
from engine.coordinator.rerun import RerunEntry

# A finished run's phase -> its status (the other phases are all `running`).
_STATUS_OF: Final[Mapping[RunPhase, RunStatus]] = {
    RunPhase.SUCCEEDED: RunStatus.SUCCEEDED,
    RunPhase.FAILED: RunStatus.FAILED,
    RunPhase.CANCELED: RunStatus.CANCELED,
}

# Error entries kept in full; beyond this only a count (a loop that fails and handles
# the failure on every iteration must not grow the state).
MAX_ERROR_ENTRIES = 100


@dataclass(slots=True)
class RetryPolicy:
    """The effective retry policy of one execution, rendered when it starts."""

    count: int = 0
    delay: float = 0.0
    backoff: float = 1.0
    max_delay: float | None = None

    def delay_before(self, retry_number: int) -> float:
        """Seconds to wait before retry `retry_number` (1-based)."""
        seconds = self.delay * (self.backoff ** (retry_number - 1))
        if self.max_delay is not None:
            seconds = min(seconds, self.max_delay)
        return max(seconds, 0.0)


@dataclass(slots=True)
class ItemsProgress:
    """A with-items execution's items: what is dispatched, what is done."""

    items: list[Any]
    concurrency: int
    next_index: int = 0
    in_flight: dict[int, int] = field(default_factory=dict)  # index -> attempt
    retry_queue: list[int] = field(default_factory=list)  # indexes due for another attempt
    attempts: dict[int, int] = field(default_factory=dict)  # index -> its next attempt
    waiting_retry: int = 0  # items whose retry timer is running
    results: list[Any] = field(default_factory=list)
    done: int = 0
    first_error: ErrorInfo | None = None
    failed_items: int = 0
    highest_attempt: int = 0  # the most attempts any finished item took (`$task.attempt`)
    # The size of `results` as JSON so far, on behaviour 5 (which caps it; 0 before); not
    # in snapshots: it is measured again from `results` when a snapshot is read.
    result_bytes: int = 0

    @property
    def finished(self) -> bool:
        """Nothing out or due, and every item done (or, after a failure, no new ones start)."""
        if self.in_flight or self.retry_queue or self.waiting_retry:
            return False
        return self.done == len(self.items) or self.first_error is not None


@dataclass(slots=True)
class Execution:
    """A live task execution."""

    ref: ExecutionRef
    context: Context
    attempt: int = 1
    command_retries: int = 0  # retries granted by `do: retry`
    policy: RetryPolicy | None = None
    timeout: float | None = None
    items: ItemsProgress | None = None
    phase: ExecutionPhase = ExecutionPhase.IDLE
    timer: int | None = None  # the id of its timer while DELAYED or in BACKOFF
    forced: bool = False  # listed beside `fail`: runs although the run is failing

    @property
    def task(self) -> str:
        return self.ref.task

    def advance(self, event: ExecutionEvent) -> None:
        """Move to the phase `event` leads to (engine/coordinator/lifecycle.py)."""
        try:
            self.phase = EXECUTION_NEXT[self.phase][event]
        except KeyError:
            execution_after(self.phase, event, self.ref.task)  # raises IllegalTransition
            raise


@dataclass(slots=True)
class Ready:
    """An arrival that will become a task execution at the next StartReady."""

    task: str
    route: int
    context: Context
    forced: bool = False


@dataclass(slots=True)
class JoinBarrier:
    """Arrivals at a join task on one route, counted per distinct source task."""

    task: str
    route: int
    # distinct sources in arrival order -> the source execution that counted (0: unknown)
    arrived: dict[str, int]
    context: Context
    fired: bool = False


@dataclass(slots=True)
class Timer:
    kind: TimerKind
    execution: int | None = None
    item: int | None = None


class SlotWait(msgspec.Struct, frozen=True):
    """An execution waiting for a slot of the run's `concurrency`: its current attempt,
    or (`items`) its next with-items items."""

    execution: int
    items: bool = False


@dataclass(slots=True)
class CoordinatorState:
    run: RunInfo | None = None
    # What the run started on (engine/coordinator/behaviour.py); a state from before
    # behaviours were recorded is a run of the original behaviour.
    behaviour: Behaviour = Behaviour.ORIGINAL
    phase: RunPhase = RunPhase.PENDING
    paused: bool = False  # not a phase: a running or failing run pauses and resumes
    now_ms: int = 0
    initial: Context | None = None
    output_context: Context | None = None
    next_execution: int = 1
    next_route: int = 1
    next_timer: int = 1
    stamp: int = 0
    iterations: dict[str, int] = field(default_factory=dict)  # task -> executions started
    latest_status: dict[str, str] = field(default_factory=dict)
    executions: dict[int, Execution] = field(default_factory=dict)
    ready: list[Ready] = field(default_factory=list)
    barriers: dict[str, dict[int, JoinBarrier]] = field(default_factory=dict)
    timers: dict[int, Timer] = field(default_factory=dict)
    run_timer: int | None = None
    in_flight: int = 0  # dispatched actions not yet reported (workflow `concurrency`)
    waiting_for_slot: list[SlotWait] = field(default_factory=list)
    errors: list[ErrorEntry] = field(default_factory=list)
    errors_dropped: int = 0
    rerun: list[RerunEntry] = field(default_factory=list)  # paths a failure stopped

    @property
    def status(self) -> RunStatus:
        """The run's status: running until its phase is terminal."""
        return _STATUS_OF.get(self.phase, RunStatus.RUNNING)

    def advance(self, event: RunEvent) -> None:
        """Move the run to the phase `event` leads to (engine/coordinator/lifecycle.py)."""
        try:
            self.phase = RUN_NEXT[self.phase][event]
        except KeyError:
            run_after(self.phase, event)  # raises IllegalTransition
            raise

    def add_error(self, entry: ErrorEntry) -> None:
        if len(self.errors) < MAX_ERROR_ENTRIES:
            self.errors.append(entry)
        else:
            self.errors_dropped += 1
