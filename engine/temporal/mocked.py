"""`segue simulate --temporal` inside the workflow: served results, a virtual clock.

A run whose input carries mocks (engine/temporal/simulation.py starts those) takes its
action results from the mocks book, still through the `run_action` activity; its timers
fire at once and move the virtual clock, as `segue simulate` does; child runs are
served like actions. The wave discipline is in engine/temporal/driver.py.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.coordinator import (
        ActionFailed,
        ActionSucceeded,
        DispatchAction,
        ErrorInfo,
        Event,
        StartChildRun,
        StartTimer,
        TimerFired,
        TimerKind,
    )
    from engine.temporal.dispatch import activity
    from engine.temporal.run_state import RunState


def dispatch_mocked(run: RunState, command: DispatchAction) -> None:
    """Serve one attempt its mocked outcome through the action activity."""
    ref = command.execution
    outcome = _outcome(run, ref.task, ref.iteration, command.item, command.action, command.input)
    if outcome is None:
        return  # mocked `running`: this attempt never completes
    run.dispatched += 1
    run.dispatch_order[(ref.id, command.item, command.attempt)] = run.dispatched
    run.spawn((ref.id, command.item), activity(run, command, outcome))


async def child(run: RunState, command: StartChildRun) -> None:
    """A child run, served like an action."""
    ref = command.execution
    run.inbox.append(
        _event(
            run,
            ref.task,
            ref.id,
            ref.iteration,
            command.attempt,
            command.item,
            command.workflow,
            command.input,
        )
    )


def _outcome(
    run: RunState, task: str, iteration: int, item: int | None, action: str, data: Any
) -> dict[str, Any] | None:
    assert run.mocks is not None
    outcome = run.mocks.outcome(task, iteration, item, action, data)
    if outcome.status == "running":
        return None
    error = outcome.error
    return {
        "status": outcome.status,
        "result": outcome.result,
        "error": None
        if error is None
        else {"type": error.type, "message": error.message, "details": error.details},
    }


def _event(
    run: RunState,
    task: str,
    execution: int,
    iteration: int,
    attempt: int,
    item: int | None,
    action: str,
    data: Any,
) -> Event:
    outcome = _outcome(run, task, iteration, item, action, data)
    now = run.now_ms()
    if outcome is None:
        return ActionSucceeded(now, -1, attempt)  # never matches: the child stays running
    if outcome["status"] == "succeeded":
        return ActionSucceeded(now, execution, attempt, outcome["result"], item)
    error = outcome["error"] or {}
    return ActionFailed(
        now,
        execution,
        attempt,
        ErrorInfo(
            error.get("type", "failed"),
            error.get("message", "mocked failure"),
            error.get("details"),
        ),
        outcome["result"],
        item,
    )


def start_timer(run: RunState, command: StartTimer) -> None:
    """Simulated timers fire at once and move the virtual clock (as `segue simulate`)."""
    due = run.virtual_ms + int(command.seconds * 1000)
    if command.kind is TimerKind.RUN_TIMEOUT:
        run.timer_due[command.timer] = due
        return
    for timer, deadline in sorted(run.timer_due.items(), key=lambda t: t[1]):
        if deadline <= due:
            run.virtual_ms = max(run.virtual_ms, deadline)
            run.timer_due.pop(timer)
            run.immediate.append(TimerFired(run.virtual_ms, timer))
    run.virtual_ms = max(run.virtual_ms, due)
    run.immediate.append(TimerFired(run.virtual_ms, command.timer))


def settle(run: RunState) -> Event | None:
    """Nothing else can happen: the run timeout fires (its event), or the run stays
    `running` (None)."""
    for timer, deadline in sorted(run.timer_due.items(), key=lambda t: t[1]):
        run.timer_due.pop(timer)
        run.virtual_ms = max(run.virtual_ms, deadline)
        return TimerFired(run.virtual_ms, timer)
    return None
