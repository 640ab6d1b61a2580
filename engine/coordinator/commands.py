"""Commands the coordinator emits: what its host (Temporal binding or simulator) must do,
and notices of execution status changes for the trace."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from engine.coordinator.events import ErrorInfo
from engine.coordinator.rerun import RerunPoint
from engine.statuses import ExecutionStatus, RunStatus

__all__ = ["ExecutionStatus", "RunStatus"]  # their vocabularies live in engine/statuses.py


class TimerKind(StrEnum):
    DELAY = "delay"  # a task's `delay` before dispatch
    RETRY = "retry"  # the wait before a retry attempt
    RUN_TIMEOUT = "run_timeout"


class ExecutionRef(msgspec.Struct, frozen=True):
    """Identifies one task execution (LANGUAGE.md §6: iteration counted per task)."""

    id: int
    task: str
    iteration: int
    route: int


class Command(msgspec.Struct, frozen=True, tag=True, tag_field="command"):
    pass


class ExecutionStarted(Command, frozen=True, tag="execution_started"):
    """Notice: a task execution began (pass-through and delayed tasks included)."""

    execution: ExecutionRef


class ExecutionFinished(Command, frozen=True, tag="execution_finished"):
    """Notice: a task execution reached a terminal status."""

    execution: ExecutionRef
    status: ExecutionStatus
    attempts: int
    result: Any = None
    error: ErrorInfo | None = None


class AttemptFailed(Command, frozen=True, tag="attempt_failed"):
    """Notice: one attempt failed and another will follow (for the trace's PROGRESS)."""

    execution: ExecutionRef
    attempt: int
    error: ErrorInfo
    retry_in_seconds: float
    item: int | None = None


class TransitionEvaluated(Command, frozen=True, tag="transition_evaluated"):
    """Notice: one entry of a finished execution's `next` was evaluated (behaviour 3 on).

    From behaviour 4 on, a taken transition's notice carries the values it published
    too: its host masks and clips them before they are shown (on 3, names only)."""

    execution: ExecutionRef
    attempt: int  # the execution's attempt whose outcome `next` saw
    transition: int  # its index in the task's `next`
    when: bool | None  # None: the transition has no `when` (taken on any completion)
    taken: bool  # published and followed now (False: its `when` failed, or a retry ran)
    published: tuple[str, ...] = ()  # the names it published (none when not taken)
    targets: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()  # engine commands in its `do`, in order
    values: dict[str, Any] | None = None  # name -> value published (behaviour 4, taken)


class DispatchAction(Command, frozen=True, tag="dispatch_action"):
    """Run an action (or with-items item) once; report ActionSucceeded/ActionFailed."""

    execution: ExecutionRef
    attempt: int
    action: str
    input: Any
    item: int | None = None
    timeout_seconds: float | None = None


class StartChildRun(Command, frozen=True, tag="start_child_run"):
    """Run another registered workflow; its outcome comes back as ActionSucceeded/Failed."""

    execution: ExecutionRef
    attempt: int
    workflow: str
    input: Any
    item: int | None = None
    timeout_seconds: float | None = None


class CancelDispatches(Command, frozen=True, tag="cancel_dispatches"):
    """Cancel everything dispatched and not yet reported for these executions."""

    executions: tuple[int, ...]


class StartTimer(Command, frozen=True, tag="start_timer"):
    timer: int
    seconds: float
    kind: TimerKind
    execution: int | None = None


class CancelTimer(Command, frozen=True, tag="cancel_timer"):
    timer: int


class ErrorEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    """One failure of the run (LANGUAGE.md §9)."""

    type: str  # an ErrorType (engine/coordinator/error_types.py); read back as its value
    message: str
    task: str | None = None
    iteration: int | None = None
    route: int | None = None
    transition: int | None = None
    expression: str | None = None
    handled: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.to_builtins(self)
        data.setdefault("handled", False)
        return data


class FinishRun(Command, frozen=True, tag="finish_run"):
    status: RunStatus
    output: Any
    errors: tuple[ErrorEntry, ...]
    errors_dropped: int = 0
    rerun: RerunPoint | None = None  # a failed run: where a rerun from the failed tasks starts


AnyCommand = (
    ExecutionStarted
    | ExecutionFinished
    | AttemptFailed
    | TransitionEvaluated
    | DispatchAction
    | StartChildRun
    | CancelDispatches
    | StartTimer
    | CancelTimer
    | FinishRun
)
