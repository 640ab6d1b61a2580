"""Concurrency limits on a task, in the workflow: each attempt of a limited task's action
holds a slot of every limit the task declares while the action runs.

When the coordinator dispatches an attempt (behaviour OBSERVED or later), its admission
renders each key over the execution's context at that moment (`$ctx`, and `$item` in
with-items), asks the limiter for it in name order under a holder name of its own
("task/execution/item/attempt"), and only then carries out the dispatch as usual. A full
key queues the attempt (`queue`) until a release promotes it and signals `limit` with
its holder (believed only when the store says so, like a run's), or fails the attempt
with `limit_full` (`fail`), which transitions and `retry` can handle. The slots go back
as soon as the attempt reports (succeeded, failed, timed out) or its execution is
cancelled (the run's cancel, timeout, fail-fast) — a cancelled admission leaves the line.
Whatever is left is the run's own release at its end (every holder of the run goes), or
the reaper's for a run that vanished.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from engine.coordinator import DispatchAction, ErrorInfo
    from engine.coordinator.behaviour import Behaviour
    from engine.coordinator.error_types import ErrorType
    from engine.expressions import ExpressionError, Scope
    from engine.language.concurrency_limits import render_key
    from engine.language.spec import LimitSpec
    from engine.temporal.limit_calls import LIMITER_RETRY, LIMITER_TIMEOUT, believed, wake
    from engine.temporal.limit_gate import TaskAttempt
    from engine.temporal.run_state import RunState
    from engine.temporal.types import (
        ACQUIRE_LIMIT,
        RELEASE_HOLDER,
        LimitAcquire,
        LimitAnswer,
        LimitHolder,
        LimitPromotion,
    )

MAX_TASK_IN_HOLDER = 100  # characters of the task name in a holder (the store allows 200)


def limits_of(run: RunState, command: DispatchAction) -> tuple[LimitSpec, ...]:
    """The limits an attempt must hold: none on older behaviours."""
    if run.behaviour < Behaviour.OBSERVED:
        return ()
    task = run.coordinator.spec.tasks.get(command.execution.task)
    return task.limits if task is not None else ()


def holder_of(command: DispatchAction) -> str:
    ref = command.execution
    item = "-" if command.item is None else str(command.item)
    return f"{ref.task[:MAX_TASK_IN_HOLDER]}/{ref.id}/{item}/{command.attempt}"


def admit_then(
    run: RunState, command: DispatchAction, limits: tuple[LimitSpec, ...], go: Callable[[], None]
) -> None:
    """Acquire the attempt's slots, then `go` (the dispatch as usual). Known to the run by
    the attempt's (execution, item) while it waits, so a cancel reaches it."""
    key = (command.execution.id, command.item)
    attempt = TaskAttempt(holder_of(command), command.attempt)
    run.limits.attempts[key] = attempt
    run.spawn(key, _admit(run, command, limits, attempt, go))
    attempt.admission = run.tasks[key]


async def _admit(
    run: RunState,
    command: DispatchAction,
    limits: tuple[LimitSpec, ...],
    attempt: TaskAttempt,
    go: Callable[[], None],
) -> None:
    try:
        admitted = await _acquire_all(run, command, limits, attempt)
    except ActivityError as failure:
        # The limiter refused for good (no store behind the worker): the attempt fails
        # with its reason, as a run's admission would, instead of waiting for ever.
        cause = failure.cause
        if isinstance(cause, ApplicationError):
            run.failed(command, ErrorInfo(cause.type or "limits_failed", cause.message))
        else:
            run.failed(command, ErrorInfo("limits_failed", str(cause or failure)))
        return
    if admitted:
        go()


async def _acquire_all(
    run: RunState, command: DispatchAction, limits: tuple[LimitSpec, ...], attempt: TaskAttempt
) -> bool:
    """Hold every limit in name order; False once the attempt has failed instead."""
    run_id = workflow.info().workflow_id
    for limit in limits:
        try:
            key = render_key(limit, _scope(run, command))
        except ExpressionError as error:
            run.failed(command, ErrorInfo(ErrorType.EXPRESSION, str(error)))
            return False
        answer = await workflow.execute_activity(
            ACQUIRE_LIMIT,
            LimitAcquire(
                run_id,
                limit.name,
                key,
                limit.capacity,
                limit.strategy,
                limit.priority,
                attempt.holder,
            ),
            result_type=LimitAnswer,
            start_to_close_timeout=LIMITER_TIMEOUT,
            retry_policy=LIMITER_RETRY,
            # Committed even if the attempt is cancelled meanwhile: the release that
            # follows the cancel waits for this, and finds the row.
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        run.limits.asked = True  # the run's release at its end covers this holder too
        if answer.outcome == "refused":
            message = f"limit {limit.name!r} is full for key {key!r} ({limit.capacity} at a time)"
            run.failed(command, ErrorInfo(ErrorType.LIMIT_FULL, message))
            return False
        if answer.outcome == "queued":
            await _wait(run, command, limit, key, attempt.holder, answer.position)
    return True


def _scope(run: RunState, command: DispatchAction) -> Scope:
    """The execution's context as it is at dispatch (and its item in with-items)."""
    execution = run.coordinator.state.executions.get(command.execution.id)
    run_id = workflow.info().workflow_id
    scope = Scope(
        ctx=execution.context.values if execution is not None else {},
        run={"id": run_id},
        now_ms=run.now_ms(),
        seed=f"{run_id}:{command.execution.id}:{command.attempt}:{command.item}:limits",
    )
    items = execution.items if execution is not None else None
    if command.item is not None and items is not None:
        scope.item = items.items[command.item]
        scope.index = command.item
    return scope


async def _wait(
    run: RunState,
    command: DispatchAction,
    limit: LimitSpec,
    key: str,
    holder: str,
    position: int | None,
) -> None:
    """Until a release promotes this attempt (a signal the store bears out)."""
    gate = run.limits
    gate.waiting_attempts[holder] = (limit.name, key)
    # Behaviour 5: the trace says which item waits, and when its wait ended.
    timed = run.traced and run.behaviour >= Behaviour.TIMED
    about = {"execution": command.execution.id, "limit": limit.name, "key": key}
    if timed and command.item is not None:
        about["item"] = command.item
    if run.traced:
        run.trace.progress(
            run.now_ms(),
            command.execution.task,
            f"waits for limit {limit.name!r} (key {key!r}) at position {position}",
            {**about, "position": position},
        )
    try:
        while True:
            await workflow.wait_condition(lambda: (limit.name, key, holder) in gate.granted)
            if await believed(run, limit, key, holder):
                break
    finally:
        gate.waiting_attempts.pop(holder, None)
    if timed:
        run.trace.progress(
            run.now_ms(),
            command.execution.task,
            f"got a slot of limit {limit.name!r} (key {key!r})",
            {**about, "admitted": True},
        )


def attempt_ended(run: RunState, execution: int, item: int | None, attempt: int | None) -> None:
    """The attempt reported (or, `attempt` None, its execution was cancelled): give its
    slots and places in line back, and wake whom that promotes."""
    gate = run.limits
    found = gate.attempts.get((execution, item))
    if found is None or (attempt is not None and found.attempt != attempt):
        return
    del gate.attempts[(execution, item)]
    releasing = asyncio.create_task(_release(run, found))
    gate.releasing.append(releasing)
    releasing.add_done_callback(gate.releasing.remove)


def executions_cancelled(run: RunState, executions: tuple[int, ...]) -> None:
    for execution, item in list(run.limits.attempts):
        if execution in executions:
            attempt_ended(run, execution, item, None)


async def _release(run: RunState, found: TaskAttempt) -> None:
    if found.admission is not None and not found.admission.done():
        # Its acquire commits before a cancel takes effect: release after it.
        with contextlib.suppress(asyncio.CancelledError):
            await found.admission
    try:
        promoted = await workflow.execute_activity(
            RELEASE_HOLDER,
            LimitHolder(workflow.info().workflow_id, found.holder),
            result_type=list[LimitPromotion],
            start_to_close_timeout=LIMITER_TIMEOUT,
            retry_policy=LIMITER_RETRY,
        )
    except ActivityError:
        # Only a worker without the store gives up (the limiter is retried otherwise):
        # then nothing was acquired either.
        return
    run.limits.granted = {g for g in run.limits.granted if g[2] != found.holder}
    await wake(run, promoted)


async def settle_task_limits(run: RunState) -> None:
    """Before the run releases its own slots or continues as new: every attempt still
    known gives its slots back, and every release under way has finished (and woken
    whom it promoted). Nothing to do — no command — for a run without limited tasks."""
    gate = run.limits
    for (execution, item), found in list(gate.attempts.items()):
        if found.admission is not None and not found.admission.done():
            found.admission.cancel()
        attempt_ended(run, execution, item, None)
    while gate.releasing:
        await gate.releasing[0]
