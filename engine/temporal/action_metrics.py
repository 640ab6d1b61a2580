"""Segue's action-level metrics, recorded by the activities (the attempts themselves).

Temporal's own activity metrics cannot tell Segue's actions apart (every action is the
activity type `segue.run_action`), so these carry the action's name. Activities never
replay, so an attempt is counted by the worker that ran it, once; a workflow replay
after a worker restart adds nothing (tests/temporal/test_action_metrics.py). Labels are
bounded: the action is one of the catalog's names, the error type a short identifier
among at most `MAX_ERROR_TYPES` distinct ones per worker (others count as `other`).
"""

from __future__ import annotations

import re
from typing import Final

from temporalio.common import MetricMeter

# The outcome of an attempt that raised nothing.
NO_ERROR: Final = "none"
# An action or error type outside the bounds below is counted under this name.
OTHER: Final = "other"
MAX_ERROR_TYPES: Final = 64
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")


class ActionMetrics:
    """The instruments every attempt and trace write feeds (one per worker)."""

    def __init__(self, meter: MetricMeter, actions: frozenset[str]) -> None:
        self._actions = actions
        self._error_types: set[str] = set()
        self._duration = meter.create_histogram_float(
            "segue_task_duration_seconds", "one attempt of an action, start to end", "s"
        )
        self._attempts = meter.create_counter(
            "segue_task_attempts_total", "attempts of actions, by how each ended"
        )
        self._queue_wait = meter.create_histogram_float(
            "segue_task_queue_wait_seconds",
            "an attempt's wait from being scheduled until a worker started it",
            "s",
        )
        self._sink_lag = meter.create_gauge_float(
            "segue_trace_sink_lag_seconds",
            "age of the oldest trace event in the batch last written to the store",
            "s",
        )

    def attempt_started(self, action: str, queue_wait_seconds: float) -> None:
        self._queue_wait.record(max(queue_wait_seconds, 0.0), {"action": self._action(action)})

    def attempt_finished(self, action: str, error_type: str | None, seconds: float) -> None:
        """Count one attempt: `error_type` None when it succeeded, `cancelled` when its run
        was cancelled under it."""
        name = self._action(action)
        if error_type is None:
            status, kind = "succeeded", NO_ERROR
        elif error_type == "cancelled":
            status, kind = "cancelled", "cancelled"
        else:
            status, kind = "failed", self._error_type(error_type)
        self._duration.record(max(seconds, 0.0), {"action": name, "status": status})
        self._attempts.add(1, {"action": name, "error_type": kind})

    def trace_written(self, lag_seconds: float) -> None:
        self._sink_lag.set(max(lag_seconds, 0.0))

    def _action(self, action: str) -> str:
        return action if action in self._actions else OTHER

    def _error_type(self, error_type: str) -> str:
        # Error types come from action handlers, plugins included: bounded so that a
        # handler minting types from its input cannot grow the series without end.
        if error_type in self._error_types:
            return error_type
        if not _LABEL.fullmatch(error_type) or len(self._error_types) >= MAX_ERROR_TYPES:
            return OTHER
        self._error_types.add(error_type)
        return error_type
