"""The status vocabularies, all in one place: a run's and a task execution's status in the
coordinator's words (`succeeded` …; also what `$task_status()` and `next` conditions see),
a run's status in the API's words (ARCHITECTURE.md "Status payload"), and the one table
from each other vocabulary into the API's: the coordinator's run statuses and Temporal's
execution statuses (by name). The store keeps the API's words (engine/store/runs.py), the
workflow projects them (engine/temporal/trace_pump.py), the API and the CLI show them.
Pure: it imports nothing of the engine, so the store, the CLI and the coordinator
(engine/coordinator/commands.py re-exports the coordinator's two) all build on it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Final, Protocol


class RunStatus(StrEnum):
    """A run's status in the coordinator's words (its `FinishRun`)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class ExecutionStatus(StrEnum):
    """A task execution's status (its `ExecutionFinished`, `$task_status()`)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class ApiStatus(StrEnum):
    """A run's status in the API's words."""

    QUEUED = "QUEUED"  # recorded, its workflow not started yet, or waiting for a limit
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TERMINATED = "TERMINATED"
    TIMED_OUT = "TIMED_OUT"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: Final = frozenset(
    {
        ApiStatus.COMPLETED,
        ApiStatus.FAILED,
        ApiStatus.CANCELLED,
        ApiStatus.TERMINATED,
        ApiStatus.TIMED_OUT,
    }
)

# The coordinator's run status -> the API's word (a plain `str` of one finds it too).
FROM_COORDINATOR: Final[Mapping[str, ApiStatus]] = {
    RunStatus.RUNNING: ApiStatus.RUNNING,
    RunStatus.SUCCEEDED: ApiStatus.COMPLETED,
    RunStatus.FAILED: ApiStatus.FAILED,
    RunStatus.CANCELED: ApiStatus.CANCELLED,
}

# Temporal's execution status (`WorkflowExecutionStatus` names) -> the API's word.
FROM_TEMPORAL: Final[Mapping[str, ApiStatus]] = {
    "RUNNING": ApiStatus.RUNNING,
    "COMPLETED": ApiStatus.COMPLETED,
    "FAILED": ApiStatus.FAILED,
    "CANCELED": ApiStatus.CANCELLED,
    "TERMINATED": ApiStatus.TERMINATED,
    # The latest execution of a run is described; a continued one lives on in it.
    "CONTINUED_AS_NEW": ApiStatus.RUNNING,
    "TIMED_OUT": ApiStatus.TIMED_OUT,
}


class _Entry(Protocol):
    @property
    def type(self) -> str: ...

    @property
    def task(self) -> str | None: ...


def finished_status(status: str, errors: Iterable[_Entry]) -> ApiStatus:
    """How a run that the coordinator finished stands: a failure by the run's own
    `timeout` (a `timeout` entry of no task) is TIMED_OUT."""
    if status == RunStatus.FAILED and any(e.type == "timeout" and e.task is None for e in errors):
        return ApiStatus.TIMED_OUT
    return FROM_COORDINATOR[status]


def live_status(paused: bool, queued: bool = False) -> ApiStatus:
    """How a run that has not finished stands (`queued`: it waits for a slot of a
    concurrency limit, engine/temporal/limits.py)."""
    if queued:
        return ApiStatus.QUEUED
    return ApiStatus.PAUSED if paused else ApiStatus.RUNNING
