"""Drives the coordinator: feeds it events and carries out the commands it returns.

`drive` is the loop of every run, simulations included: `segue simulate --temporal`
runs this same code with a mock action activity (engine/temporal/simulation.py); the
wave discipline exists once, in engine/simulator. Commands become trace records, live
progress, dispatches (engine/temporal/dispatch.py), child runs, timers and
cancellations; nothing else happens here.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.coordinator import (
        ActionFailed,
        ActionSucceeded,
        CancelDispatches,
        CancelTimer,
        Command,
        DispatchAction,
        Event,
        ExecutionFinished,
        ExecutionStarted,
        ExecutionStatus,
        FinishRun,
        PauseRequested,
        StartChildRun,
        StartReady,
        StartTimer,
        TimerFired,
    )
    from engine.coordinator.behaviour import Behaviour
    from engine.temporal.dispatch import child, dispatch
    from engine.temporal.run_progress import RecentExecution, RunningExecution
    from engine.temporal.run_state import RunState
    from engine.temporal.task_limits import attempt_ended, executions_cancelled
    from engine.temporal.trace_pump import fail_if_untraceable

RECENT_KEPT = 50  # finished executions the `progress` query shows


async def drive(run: RunState) -> str:
    """Run until the coordinator finishes ("finished") or the run should continue as new
    ("continue")."""
    coordinator = run.coordinator
    draining = False
    while run.finish is None:
        while coordinator.has_ready and not draining:
            feed(run, StartReady(run.now_ms()))
        if run.finish is not None:
            break
        if not draining and workflow.info().is_continue_as_new_suggested():
            # Start nothing new (no task, no with-items item, no retry attempt) and
            # continue as new once what is out has come back.
            draining = True
            if not run.paused:
                run.drain_paused = True
                feed(run, PauseRequested(run.now_ms()))
        if draining and not run.tasks and not run.inbox:
            return "continue"
        await workflow.wait_condition(
            (lambda: has_news(run)) if not draining else (lambda: has_news_or_drained(run))
        )
        fail_if_untraceable(run)
        events, run.inbox = run.inbox, []
        for event in events:
            feed(run, event)
    return "finished"


def has_news(run: RunState) -> bool:
    """Something for the coordinator, or a trace write that failed for good."""
    return bool(run.inbox) or run.trace_failure is not None


def has_news_or_drained(run: RunState) -> bool:
    """News, or nothing left in flight (a draining run may continue as new)."""
    return has_news(run) or not run.tasks


def feed(run: RunState, event: Event) -> None:
    """Apply an event: carry out the commands the coordinator answers with."""
    if run.limits.attempts and isinstance(event, (ActionSucceeded, ActionFailed)):
        # Before the coordinator sees it: a retry it dispatches is a new holder.
        attempt_ended(run, event.execution, event.item, event.attempt)
    for command in run.coordinator.handle(event):
        carry_out(run, command)


def carry_out(run: RunState, command: Command) -> None:
    """Carry out one coordinator command (and trace what it stands for)."""
    now = run.now_ms()
    run.trace.record(command, now)
    if run.params is not None and not run.params.trace:
        run.trace.pending.clear()  # counted for progress, written nowhere
    if isinstance(command, ExecutionStarted):
        if run.spans is not None:
            run.spans.execution_started(command)
        ref = command.execution
        run.waits.known_execution = max(run.waits.known_execution, ref.id)
        run.live[ref.id] = RunningExecution(
            ref.id, ref.task, ref.iteration, ref.route, 1, ExecutionStatus.RUNNING.value, now
        )
    elif isinstance(command, ExecutionFinished):
        _on_finished(run, command, now)
    elif isinstance(command, DispatchAction):
        live = run.live.get(command.execution.id)
        if live is not None:
            live.attempt = command.attempt
        dispatch(run, command)
    elif isinstance(command, StartChildRun):
        key = (command.execution.id, command.item)
        run.spawn(key, child(run, command))
        if run.behaviour is not Behaviour.ORIGINAL:
            run.children.started(key)
    elif isinstance(command, CancelDispatches):
        for key, task in list(run.tasks.items()):
            if key[0] in command.executions:
                task.cancel()
                run.children.cancelled(key, task)
                del run.tasks[key]
        for execution in command.executions:
            run.waits.end_execution(execution)
        if run.limits.attempts:
            executions_cancelled(run, command.executions)
    elif isinstance(command, StartTimer):
        start_timer(run, command.timer, command.seconds)
    elif isinstance(command, CancelTimer):
        timer = run.timers.pop(command.timer, None)
        run.timer_due.pop(command.timer, None)
        if timer is not None:
            timer.cancel()
    elif isinstance(command, FinishRun):
        run.finish = command
        if run.metrics is not None:
            run.metrics.run_finished(command, (run.now_ms() - run.started_at_ms) / 1000)
        if run.spans is not None:
            run.spans.run_finished(str(command.status), failed=str(command.status) == "failed")


def _on_finished(run: RunState, command: ExecutionFinished, now: int) -> None:
    if run.metrics is not None:
        run.metrics.execution_finished(command)
    if run.spans is not None:
        run.spans.execution_finished(command)
    ref = command.execution
    live = run.live.pop(ref.id, None)
    run.waits.end_execution(ref.id)
    run.recent.append(RecentExecution.of(live, str(command.status), command.attempts, now))
    del run.recent[:-RECENT_KEPT]


def start_timer(run: RunState, timer: int, seconds: float) -> None:
    """A durable timer; `TimerFired` reaches the coordinator when it fires."""
    run.timer_due[timer] = run.now_ms() + int(seconds * 1000)
    run.timers[timer] = asyncio.create_task(fire_after(run, timer, seconds))


async def fire_after(run: RunState, timer: int, seconds: float) -> None:
    """The body of a durable timer."""
    await workflow.sleep(seconds)
    run.timers.pop(timer, None)
    run.timer_due.pop(timer, None)
    run.inbox.append(TimerFired(run.now_ms(), timer))
