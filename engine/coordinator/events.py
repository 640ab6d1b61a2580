"""Events the coordinator consumes. Every event carries the time it happened (`at_ms`),
which is the only clock the coordinator knows."""

from __future__ import annotations

from typing import Any

import msgspec

from engine.coordinator.behaviour import CURRENT_BEHAVIOUR, Behaviour
from engine.coordinator.rerun import RerunPoint


class RunInfo(msgspec.Struct, frozen=True):
    id: str
    workflow: str
    version: str
    started_at_ms: int


class ErrorInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    """What an action or child run reports when it fails (LANGUAGE.md `$error`)."""

    type: str
    message: str
    details: Any = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.details is not None:
            data["details"] = self.details
        return data


class Event(msgspec.Struct, frozen=True, tag=True, tag_field="event"):
    at_ms: int


class RunStarted(Event, frozen=True, tag="run_started"):
    run: RunInfo
    input: dict[str, Any]
    rerun: RerunPoint | None = None  # start where this failed run stopped, not from the top
    # The coordinator behaviour this run keeps for life (engine/coordinator/behaviour.py).
    behaviour: Behaviour = CURRENT_BEHAVIOUR


class StartReady(Event, frozen=True, tag="start_ready"):
    """Start every task execution that is ready (the binding's or the simulator's pace)."""


class ActionSucceeded(Event, frozen=True, tag="action_succeeded"):
    execution: int
    attempt: int
    result: Any = None
    item: int | None = None


class ActionFailed(Event, frozen=True, tag="action_failed"):
    execution: int
    attempt: int
    error: ErrorInfo
    result: Any = None
    item: int | None = None


class TimerFired(Event, frozen=True, tag="timer_fired"):
    timer: int


class CancelRequested(Event, frozen=True, tag="cancel_requested"):
    reason: str = "canceled by request"


class FailRequested(Event, frozen=True, tag="fail_requested"):
    """End the run as failed from outside its tasks (e.g. a full concurrency limit whose
    strategy is `fail`): in-flight work is cancelled, the error is the run's."""

    error_type: str
    reason: str


class PauseRequested(Event, frozen=True, tag="pause_requested"):
    pass


class ResumeRequested(Event, frozen=True, tag="resume_requested"):
    pass


AnyEvent = (
    RunStarted
    | StartReady
    | ActionSucceeded
    | ActionFailed
    | TimerFired
    | CancelRequested
    | FailRequested
    | PauseRequested
    | ResumeRequested
)
