"""The coordinator's lifecycle as data: the phases a run and a task execution go through,
and the one table per kind that says which event moves which phase where (as
Orquesta's `machines.py` does). Every change of phase goes through `run_after` or
`execution_after`; an event its phase does not allow is a coordinator bug, never a
workflow's fault, and raises `IllegalTransition` naming both.

Pure data: it imports nothing of the engine, so the state (engine/coordinator/state.py)
and the snapshot (snapshot.py) can both build on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final, TypeVar

_P = TypeVar("_P", bound=StrEnum)
_Ev = TypeVar("_Ev", bound=StrEnum)


class IllegalTransition(RuntimeError):
    """An event arrived in a phase that does not allow it (an internal error)."""


class RunPhase(StrEnum):
    """Where the run stands. Pause is not a phase: a run is paused *while* running or
    failing, and resuming returns it to where it was (`CoordinatorState.paused`)."""

    PENDING = "pending"  # `RunStarted` not handled yet: every other event is ignored
    RUNNING = "running"
    FAILING = "failing"  # a failure nothing handled: nothing new starts, what runs finishes
    CANCELING = "canceling"  # everything was stopped; the run finishes within the same event
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_canceled(self) -> bool:
        """A canceled run (finished or not): its stopped paths are not kept for a rerun."""
        return self is RunPhase.CANCELING or self is RunPhase.CANCELED

    def admits(self, forced: bool) -> bool:
        """Whether an arrival may still start an execution (`forced`: listed beside
        `fail`, it runs although the run is failing)."""
        return self is RunPhase.RUNNING or (forced and self is RunPhase.FAILING)


class RunEvent(StrEnum):
    START = "start"  # RunStarted
    FAIL = "fail"  # a failure nothing handles (an error entry says which)
    CANCEL = "cancel"  # CancelRequested
    FINISH = "finish"  # nothing is live any more


_TERMINAL: Final = frozenset({RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELED})

RUN_TABLE: Final[Mapping[tuple[RunPhase, RunEvent], RunPhase]] = {
    (RunPhase.PENDING, RunEvent.START): RunPhase.RUNNING,
    (RunPhase.RUNNING, RunEvent.FAIL): RunPhase.FAILING,
    (RunPhase.RUNNING, RunEvent.CANCEL): RunPhase.CANCELING,
    (RunPhase.RUNNING, RunEvent.FINISH): RunPhase.SUCCEEDED,
    (RunPhase.FAILING, RunEvent.FAIL): RunPhase.FAILING,
    (RunPhase.FAILING, RunEvent.CANCEL): RunPhase.CANCELING,
    (RunPhase.FAILING, RunEvent.FINISH): RunPhase.FAILED,
    # A cancel outranks a failure that follows it (the run's output failing to render).
    (RunPhase.CANCELING, RunEvent.FAIL): RunPhase.CANCELING,
    (RunPhase.CANCELING, RunEvent.FINISH): RunPhase.CANCELED,
}


class ExecutionPhase(StrEnum):
    """Where one task execution stands. A with-items execution tracks its items in its
    `ItemsProgress`; its own phase is then ITEMS until it finishes."""

    IDLE = "idle"  # nothing out, no timer: its next step is being decided
    DELAYED = "delayed"  # its `delay` timer runs
    QUEUED = "queued"  # its current attempt waits for a slot of the run's `concurrency`
    SENT = "sent"  # its current attempt is out (counts against `concurrency`)
    BACKOFF = "backoff"  # a retry timer runs before its next attempt
    ITEMS = "items"  # with-items: its items are out, queued or done
    FINISHED = "finished"  # terminal: dropped from the live set


class ExecutionEvent(StrEnum):
    DELAY = "delay"  # its `delay` timer starts
    QUEUE = "queue"  # an attempt asks for a concurrency slot
    SEND = "send"  # the attempt goes out (an action or a child run)
    REPORT = "report"  # the attempt out reported its result
    BACK_OFF = "back_off"  # a retry timer starts
    TIMER_FIRED = "timer_fired"  # its delay or retry timer fired
    RUN_ITEMS = "run_items"  # its items (again, after `do: retry`) start
    FINISH = "finish"  # it reached a terminal status, or was stopped


_E = ExecutionPhase
_V = ExecutionEvent

EXECUTION_TABLE: Final[Mapping[tuple[ExecutionPhase, ExecutionEvent], ExecutionPhase]] = {
    (_E.IDLE, _V.DELAY): _E.DELAYED,
    (_E.IDLE, _V.QUEUE): _E.QUEUED,
    (_E.IDLE, _V.BACK_OFF): _E.BACKOFF,
    (_E.IDLE, _V.RUN_ITEMS): _E.ITEMS,
    (_E.IDLE, _V.FINISH): _E.FINISHED,
    (_E.DELAYED, _V.TIMER_FIRED): _E.IDLE,
    (_E.DELAYED, _V.FINISH): _E.FINISHED,
    (_E.QUEUED, _V.SEND): _E.SENT,
    (_E.QUEUED, _V.FINISH): _E.FINISHED,
    (_E.SENT, _V.REPORT): _E.IDLE,
    # Stopped while out: a cancel, or its action's name failing to render after its
    # input was counted out.
    (_E.SENT, _V.FINISH): _E.FINISHED,
    (_E.BACKOFF, _V.TIMER_FIRED): _E.IDLE,
    (_E.BACKOFF, _V.FINISH): _E.FINISHED,
    (_E.ITEMS, _V.RUN_ITEMS): _E.ITEMS,  # `do: retry` runs all its items again
    (_E.ITEMS, _V.FINISH): _E.FINISHED,
}


def _by_phase(table: Mapping[tuple[_P, _Ev], _P]) -> dict[_P, dict[_Ev, _P]]:
    """A table indexed phase first: what `advance` reads on every move (two lookups of
    cached string hashes, no key tuple to build)."""
    index: dict[_P, dict[_Ev, _P]] = {}
    for (phase, event), after in table.items():
        index.setdefault(phase, {})[event] = after
    return index


RUN_NEXT: Final = _by_phase(RUN_TABLE)
EXECUTION_NEXT: Final = _by_phase(EXECUTION_TABLE)
TERMINAL_RUN_PHASES: Final = _TERMINAL


def run_after(phase: RunPhase, event: RunEvent) -> RunPhase:
    """The run's phase after `event`."""
    found = RUN_TABLE.get((phase, event))
    if found is None:
        raise IllegalTransition(f"run event {event.value!r} in run phase {phase.value!r}")
    return found


def execution_after(phase: ExecutionPhase, event: ExecutionEvent, task: str) -> ExecutionPhase:
    """An execution's phase after `event` (`task` names it in the error)."""
    found = EXECUTION_TABLE.get((phase, event))
    if found is None:
        raise IllegalTransition(
            f"execution event {event.value!r} in execution phase {phase.value!r} (task {task!r})"
        )
    return found
