"""Actions' progress in the trace: `PROGRESS` events with `data.progress: {done, total}`.

The trace's sequence numbers are assigned in the workflow (tracing.py), so an event can
only join it there: the action's activity signals its progress to the run
(`task_progress`, at most every few seconds, task_logs.py) and the run adds the event
here. Runs on behaviour `OBSERVED` only; a signal for an execution that is no longer
running, for an older attempt, or past the per-attempt cap changes nothing, so a late
or repeated signal cannot disturb the trace or the history's size much.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine.temporal.tracing import TraceLog
from engine.temporal.types import TaskProgress

# Progress events one attempt of one execution (or item) may add to the trace; its
# activity sends no more than this either (each one is a signal in the run's history).
MAX_PROGRESS_EVENTS: Final = 100
# Keys of ended executions are forgotten once this many are kept.
_PRUNE_AT: Final = 1000


class ProgressEvents:
    """Counts per attempt, and the one place a progress signal becomes a trace event."""

    def __init__(self) -> None:
        self._counts: dict[tuple[int, int | None, int], int] = {}

    def record(
        self,
        trace: TraceLog,
        live: Mapping[int, Mapping[str, Any]],
        signal: TaskProgress,
        at_ms: int,
    ) -> bool:
        """Add the event if the execution runs that attempt and is under the cap."""
        execution = live.get(signal.execution)
        if execution is None or execution.get("attempt") != signal.attempt:
            return False
        key = (signal.execution, signal.item, signal.attempt)
        count = self._counts.get(key, 0)
        if count >= MAX_PROGRESS_EVENTS:
            return False
        if len(self._counts) >= _PRUNE_AT:
            self._counts = {k: v for k, v in self._counts.items() if k[0] in live}
        self._counts[key] = count + 1
        shown = f"{signal.done:g}" + ("" if signal.total is None else f"/{signal.total:g}")
        item = "" if signal.item is None else f" item {signal.item}"
        trace.task_progress(
            at_ms,
            str(execution["task"]),
            signal.message or f"{execution['task']}{item}: {shown}",
            {
                "execution": signal.execution,
                "iteration": execution.get("iteration"),
                "route": execution.get("route"),
                "attempt": signal.attempt,
                "item": signal.item,
                "progress": {"done": _number(signal.done), "total": _optional(signal.total)},
            },
        )
        return True


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _optional(value: float | None) -> int | float | None:
    return None if value is None else _number(value)
