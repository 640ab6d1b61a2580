"""The `progress` query's answer: what a live run is doing, as the API reads it.

Typed at both ends: the workflow builds a `LiveProgress` (trace_pump.progress_of) and the
client asks for one (`result_type=LiveProgress`, client.query_progress). A query is not
recorded in the history, but during an upgrade an API of one release may ask a worker
of the other, so these Structs write exactly the JSON the dicts they replace wrote: the
same keys, `null` where those wrote `None`, and `queued`/`queued_attempts` (and a
finished execution's fields it never had: `RecentExecution`) left out where those left
them out, which `UNSET` does. A reader ignores keys it does not know.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from engine.statuses import ApiStatus


class RunningExecution(msgspec.Struct):
    """An execution in flight (mutable: a retry's dispatch updates its `attempt`)."""

    execution: int
    task: str
    iteration: int
    route: int
    attempt: int
    status: str
    started_ms: int


class RecentExecution(msgspec.Struct):
    """A finished execution, among the latest kept. The fields copied from its running
    entry are UNSET when it had none (the old dict then held only the last three)."""

    status: str
    attempt: int
    finished_ms: int
    execution: int | UnsetType = UNSET
    task: str | UnsetType = UNSET
    iteration: int | UnsetType = UNSET
    route: int | UnsetType = UNSET
    started_ms: int | UnsetType = UNSET

    @classmethod
    def of(
        cls, running: RunningExecution | None, status: str, attempt: int, finished_ms: int
    ) -> RecentExecution:
        """The summary of an execution that ended (its running entry, if any, and how)."""
        if running is None:
            return cls(status, attempt, finished_ms)
        return cls(
            status,
            attempt,
            finished_ms,
            execution=running.execution,
            task=running.task,
            iteration=running.iteration,
            route=running.route,
            started_ms=running.started_ms,
        )


class OpenWait(msgspec.Struct):
    """A wait for an answer or an event (waits.Wait.describe); `item`, `key` may be null."""

    task: str
    execution: int
    item: int | None
    attempt: int
    event: str
    key: str | None


class QueuedRun(msgspec.Struct):
    """The limit a queued run waits for, and its place in line when it was queued."""

    limit: str
    key: str
    position: int | None


class QueuedAttempt(msgspec.Struct):
    """A task attempt waiting for a limit's slot (the reaper asks before re-signalling)."""

    holder: str
    limit: str
    key: str


class LiveProgress(msgspec.Struct):
    """Live progress: executions in flight, the latest finished ones, the open waits."""

    status: ApiStatus
    paused: bool
    started: int
    finished: int
    running: list[RunningExecution]
    recent: list[RecentExecution]
    waiting: list[OpenWait]
    queued: QueuedRun | UnsetType = UNSET
    queued_attempts: list[QueuedAttempt] | UnsetType = UNSET
