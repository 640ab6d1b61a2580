"""The stable types of a run's error entries (LANGUAGE.md §10, docs/language.md "Error
entries"): what `errors[].type` says in the run's outcome and status, whatever type the
failing action itself reported (`$error.type` is open: plugins choose theirs)."""

from __future__ import annotations

from enum import StrEnum


class ErrorType(StrEnum):
    """One error entry's type. A `str`, so entries serialise as before."""

    ACTION_FAILED = "action_failed"  # an action (or with-items item) failed
    EXPRESSION = "expression"  # an expression failed, gave undefined, or a non-boolean `when`
    UNREACHABLE_JOIN = "unreachable_join"  # a barrier could not get enough arrivals
    ITERATION_CAP = "iteration_cap"  # a task would exceed its `max_iterations`
    TIMEOUT = "timeout"  # an attempt, or the run, exceeded its `timeout`
    INPUT = "input"  # the run input broke the input schema
    CHILD_FAILED = "child_failed"  # a child run failed
    FAIL_COMMAND = "fail_command"  # a `fail` transition was taken
    CANCELED = "canceled"  # the run (or the execution) was canceled
    RERUN = "rerun"  # a rerun point names tasks this workflow does not have
    PAYLOAD_TOO_LARGE = "payload_too_large"  # an action input or the run output over 1 MiB
    LIMIT_FULL = "limit_full"  # a concurrency limit was full and its strategy is `fail`


# The action's own error types an entry keeps; any other becomes ACTION_FAILED.
KEPT_FROM_ACTIONS = frozenset(
    {
        ErrorType.TIMEOUT,
        ErrorType.CHILD_FAILED,
        ErrorType.CANCELED,
        ErrorType.EXPRESSION,
        ErrorType.PAYLOAD_TOO_LARGE,
    }
)
