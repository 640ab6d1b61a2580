"""Drives the coordinator: feeds it events and carries out the commands it returns.

`drive` is the production loop; `drive_simulation` the wave discipline of `segue
simulate --temporal` (engine/temporal/mocked.py serves its results). Commands become
trace records, live progress, dispatches (engine/temporal/dispatch.py), child runs,
timers and cancellations; nothing else happens here.
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
        FinishRun,
        PauseRequested,
        StartChildRun,
        StartReady,
        StartTimer,
        TimerFired,
    )
    from engine.coordinator.behaviour import Behaviour
    from engine.temporal import mocked
    from engine.temporal.dispatch import child, dispatch
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


async def drive_simulation(run: RunState) -> str:
    """`segue simulate --temporal`: the simulator's waves over real activities.

    Start what is ready; wait until every dispatch of the wave has come back; then
    complete one dispatch per execution, oldest first, in start order. The outcome
    then matches `segue simulate` even where real concurrency would reorder it.
    Returns "finished", or "stalled" when nothing more can happen.
    """
    coordinator = run.coordinator
    held: dict[int, list[tuple[int, Event]]] = {}
    while run.finish is None:
        if coordinator.has_ready:
            feed(run, StartReady(run.now_ms()))
            if run.finish is not None:
                break
        await workflow.wait_condition(lambda: not run.tasks)
        events, run.inbox = run.inbox, []
        for event in events:
            if isinstance(event, (ActionSucceeded, ActionFailed)) and event.execution >= 0:
                order = run.dispatch_order.pop((event.execution, event.item, event.attempt), 0)
                held.setdefault(event.execution, []).append((order, event))
        progressed = False
        for execution in sorted(held):
            queue = sorted(held[execution], key=lambda entry: entry[0])
            feed(run, queue[0][1])
            progressed = True
            held[execution] = queue[1:]
            if run.finish is not None:
                break
        held = {execution: queue for execution, queue in held.items() if queue}
        if progressed or coordinator.has_ready or held:
            continue
        fired = mocked.settle(run)
        if fired is None:
            return "stalled"
        feed(run, fired)
    return "finished"


def has_news(run: RunState) -> bool:
    """Something for the coordinator, or a trace write that failed for good."""
    return bool(run.inbox) or run.trace_failure is not None


def has_news_or_drained(run: RunState) -> bool:
    """News, or nothing left in flight (a draining run may continue as new)."""
    return has_news(run) or not run.tasks


def feed(run: RunState, event: Event) -> None:
    """Apply an event, and what follows at once (simulated timers fire at once)."""
    coordinator = run.coordinator
    if run.limits.attempts and isinstance(event, (ActionSucceeded, ActionFailed)):
        # Before the coordinator sees it: a retry it dispatches is a new holder.
        attempt_ended(run, event.execution, event.item, event.attempt)
    queue = [event]
    while queue:
        for command in coordinator.handle(queue.pop(0)):
            carry_out(run, command)
        queue.extend(run.immediate)
        run.immediate.clear()


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
        run.live[ref.id] = {
            "execution": ref.id,
            "task": ref.task,
            "iteration": ref.iteration,
            "route": ref.route,
            "attempt": 1,
            "status": "running",
            "started_ms": now,
        }
        if run.sequence is not None:
            row = [ref.task, ref.iteration, ref.route, "running", ref.id]
            run.sequence.append(row)
            run.sequence_open[ref.id] = row
    elif isinstance(command, ExecutionFinished):
        _on_finished(run, command, now)
    elif isinstance(command, DispatchAction):
        live = run.live.get(command.execution.id)
        if live is not None:
            live["attempt"] = command.attempt
        if run.mocks is not None:
            mocked.dispatch_mocked(run, command)
        else:
            dispatch(run, command)
    elif isinstance(command, StartChildRun):
        key = (command.execution.id, command.item)
        work = child(run, command) if run.mocks is None else mocked.child(run, command)
        run.spawn(key, work)
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
        if run.mocks is not None:
            mocked.start_timer(run, command)
        else:
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
    live = run.live.pop(ref.id, None) or {}
    run.waits.end_execution(ref.id)
    summary = {
        **live,
        "status": str(command.status),
        "attempt": command.attempts,
        "finished_ms": now,
    }
    run.recent.append(summary)
    del run.recent[:-RECENT_KEPT]
    row = run.sequence_open.pop(ref.id, None)
    if row is not None:
        row[3] = str(command.status)


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
