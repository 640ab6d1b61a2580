"""Actions' progress in the trace: `PROGRESS` events with `data.progress: {done, total}`,
and the artifacts they stored, as `PROGRESS` events with `data.artifact`.

The trace's sequence numbers are assigned in the workflow (tracing.py), so an event can
only join it there: the action's activity signals its progress to the run
(`task_progress`, at most every few seconds, task_logs.py) and the run adds the event
here (an artifact likewise, once stored: `task_artifact`). Runs on behaviour `OBSERVED`
only; a signal for an execution that is no longer running, for an older attempt, or
past the per-attempt cap changes nothing, so a late or repeated signal cannot disturb
the trace or the history's size much.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine.actions.reporting import ARTIFACT_NAME, MAX_PROGRESS_MESSAGE
from engine.temporal.run_progress import RunningExecution
from engine.temporal.tracing import TraceLog
from engine.temporal.types import TaskArtifact, TaskProgress

# Progress events (and, apart, artifact events) one attempt of one execution (or item)
# may add to the trace; its activity sends no more than this either (each one is a
# signal in the run's history).
MAX_PROGRESS_EVENTS: Final = 100
# Keys of ended executions are forgotten once this many are kept (then once twice as many
# as survived, so that many live ones do not make every signal walk them all).
_PRUNE_AT: Final = 1000
# A media type's length, at most: its own checks (reporting.py) do not bound the subtype.
_MAX_MEDIA_TYPE: Final = 255


class ProgressEvents:
    """Counts per attempt, and the one place a progress signal becomes a trace event."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int, int | None, int], int] = {}
        self._prune_at = _PRUNE_AT

    def _admit(
        self,
        live: Mapping[int, RunningExecution],
        kind: str,
        execution: int,
        item: int | None,
        attempt: int,
    ) -> RunningExecution | None:
        """The running execution a signal is about, if it still runs that attempt and the
        attempt is under the cap for this kind of event (counted)."""
        running = live.get(execution)
        if running is None:
            return None
        # An execution's live attempt is its latest dispatch's: with-items items each
        # have their own, so only a plain execution's attempt can be checked here.
        if item is None and running.attempt != attempt:
            return None
        key = (kind, execution, item, attempt)
        count = self._counts.get(key, 0)
        if count >= MAX_PROGRESS_EVENTS:
            return None
        if len(self._counts) >= self._prune_at:
            self._counts = {k: v for k, v in self._counts.items() if k[1] in live}
            self._prune_at = max(_PRUNE_AT, 2 * len(self._counts))
        self._counts[key] = count + 1
        return running

    def record_artifact(
        self,
        trace: TraceLog,
        live: Mapping[int, RunningExecution],
        signal: TaskArtifact,
        at_ms: int,
    ) -> bool:
        """Announce a stored artifact if its attempt still runs and is under the cap."""
        # Anyone with access to Temporal can signal: what the activity would never send
        # (reporting.py, task_logs.py) is ignored rather than let into the trace.
        if not (
            signal.artifact_id.isdigit()
            and len(signal.artifact_id) <= 20
            and ARTIFACT_NAME.fullmatch(signal.name)
            and len(signal.media_type) <= _MAX_MEDIA_TYPE
        ):
            return False
        execution = self._admit(live, "artifact", signal.execution, signal.item, signal.attempt)
        if execution is None:
            return False
        message, artifact = artifact_news(
            signal.artifact_id, signal.name, signal.media_type, signal.size_bytes
        )
        trace.progress(
            at_ms,
            execution.task,
            message,
            {
                **_where(signal.execution, execution, signal.attempt, signal.item),
                "artifact": artifact,
            },
        )
        return True

    def record(
        self,
        trace: TraceLog,
        live: Mapping[int, RunningExecution],
        signal: TaskProgress,
        at_ms: int,
    ) -> bool:
        """Add the event if the execution runs that attempt and is under the cap."""
        execution = self._admit(live, "progress", signal.execution, signal.item, signal.attempt)
        if execution is None:
            return False
        shown = progress_shown(signal.done, signal.total)
        item = "" if signal.item is None else f" item {signal.item}"
        trace.progress(
            at_ms,
            execution.task,
            # Cut as the activity cuts it: a forged signal's message may be any size.
            signal.message[:MAX_PROGRESS_MESSAGE]
            if signal.message
            else f"{execution.task}{item}: {shown}",
            {
                **_where(signal.execution, execution, signal.attempt, signal.item),
                "progress": {"done": _number(signal.done), "total": _optional(signal.total)},
            },
        )
        return True


def progress_shown(done: float, total: float | None) -> str:
    """How far an action is, as its log line and trace event say it: `3/10`, `0.5`."""
    return f"{done:g}" + ("" if total is None else f"/{total:g}")


def artifact_news(
    artifact_id: str, name: str, media_type: str, size_bytes: int
) -> tuple[str, dict[str, Any]]:
    """How a stored artifact is announced, in the trace and in the attempt's log: the
    message and the `data.artifact` object."""
    return (
        f"artifact {name} ({size_bytes:,} bytes, {media_type})",
        {"id": artifact_id, "name": name, "mediaType": media_type, "sizeBytes": size_bytes},
    )


def _where(
    execution_id: int, execution: RunningExecution, attempt: int, item: int | None
) -> dict[str, Any]:
    return {
        "execution": execution_id,
        "iteration": execution.iteration,
        "route": execution.route,
        "attempt": attempt,
        "item": item,
    }


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _optional(value: float | None) -> int | float | None:
    return None if value is None else _number(value)
