"""Child runs (`workflow:` tasks) end with their parent's decision, never behind its back.

On behaviour 2 and later (engine/coordinator/behaviour.py), cancelling or timing out a
run *cancels* its children and waits — within CHILD_STOP_SECONDS — for each to record its
own end, so every child ends CANCELED with a complete trace; Temporal's parent close
policy only asks for cancellation too, should the parent end first anyway. A child
that times out fails its task with error type `timeout`, as any task does. Runs that
started on behaviour 1 keep the old ways: children terminated by the parent's close,
a child timeout reported as `child_failed`.
"""

from __future__ import annotations

import asyncio
import builtins
from typing import Any, Final

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from engine.coordinator import ErrorInfo
    from engine.coordinator.behaviour import Behaviour
    from engine.coordinator.error_types import ErrorType

# How long a run that is ending waits for the children it cancelled to end.
CHILD_STOP_SECONDS: Final = 60.0


def child_options(behaviour: Behaviour) -> dict[str, Any]:
    """`execute_child_workflow` options that depend on the run's behaviour."""
    if behaviour is Behaviour.ORIGINAL:
        return {}
    return {
        "parent_close_policy": workflow.ParentClosePolicy.REQUEST_CANCEL,
        "cancellation_type": workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
    }


def child_error(failure: ChildWorkflowError, behaviour: Behaviour) -> ErrorInfo:
    """The task's error for a child run that did not succeed."""
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.details:
        return ErrorInfo(ErrorType.CHILD_FAILED, cause.message, cause.details[0])
    if isinstance(cause, TimeoutError) and behaviour is not Behaviour.ORIGINAL:
        return ErrorInfo(
            ErrorType.TIMEOUT, f"the child run did not finish in time ({cause.message})"
        )
    return ErrorInfo(ErrorType.CHILD_FAILED, str(cause or failure))


class ChildStops:
    """The child runs a run has asked to cancel, until they have ended."""

    def __init__(self) -> None:
        self._keys: set[tuple[int, int | None]] = set()
        self._stopping: list[asyncio.Task[None]] = []

    def started(self, key: tuple[int, int | None]) -> None:
        self._keys.add(key)

    def cancelled(self, key: tuple[int, int | None], task: asyncio.Task[None]) -> None:
        if key in self._keys:
            self._keys.discard(key)
            self._stopping.append(task)

    async def wait(self) -> None:
        """Until every cancelled child has ended, or CHILD_STOP_SECONDS have passed."""
        pending = [task for task in self._stopping if not task.done()]
        if not pending:
            return
        try:
            await workflow.wait_condition(
                lambda: all(task.done() for task in pending), timeout=CHILD_STOP_SECONDS
            )
        except builtins.TimeoutError:
            workflow.logger.warning("children still running after %s s", CHILD_STOP_SECONDS)
