"""A run begins: its input and variables, or where a failed run stopped (a rerun); and
ready tasks start as executions, in (task, route) order."""

from __future__ import annotations

from engine.coordinator.barriers import UNKNOWN_EXECUTION, Arrival
from engine.coordinator.base import Machine, bind_run, start_timer
from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import (
    ErrorEntry,
    ExecutionRef,
    ExecutionStarted,
    ExecutionStatus,
    TimerKind,
)
from engine.coordinator.completion import arrive_at
from engine.coordinator.context import Context
from engine.coordinator.dispatching import begin
from engine.coordinator.error_types import ErrorType
from engine.coordinator.events import (
    RunStarted,
)
from engine.coordinator.lifecycle import RunEvent, RunPhase
from engine.coordinator.paths import guarded, record_expression_error, stop_path
from engine.coordinator.rerun import RerunEntry, RerunPoint
from engine.coordinator.state import (
    Execution,
    JoinBarrier,
    Ready,
)
from engine.expressions import ExpressionError, Scope


def on_run_started(m: Machine, event: RunStarted) -> None:
    """The run begins: input, variables, run timeout, entry tasks."""
    state = m.state
    if state.phase is not RunPhase.PENDING:
        return
    state.advance(RunEvent.START)
    state.behaviour = Behaviour(event.behaviour)
    state.run = event.run
    bind_run(m)
    if event.rerun is not None:
        _start_from(m, event.rerun)
        return
    values, problems = m.program.prepare_input(
        event.input, linear_regex=state.behaviour >= Behaviour.CLARIFIED
    )
    if problems:
        for problem in problems:
            state.add_error(
                ErrorEntry(type=ErrorType.INPUT, message=f"input {problem.path}: {problem.reason}")
            )
        state.advance(RunEvent.FAIL)
        return
    context = Context(values)
    scope = Scope(
        ctx=values,
        run=m.run_binding,
        now_ms=state.now_ms,
        seed=f"{event.run.id}:vars",
        limits=m.limits,
        secrets=m.secrets,
    )
    for name, template in m.spec.vars:
        try:
            values[name] = template.render(scope)
        except ExpressionError as error:
            record_expression_error(m, error.located(field=f"vars.{name}"))
            return
    state.initial = context
    if m.spec.timeout:
        state.run_timer = start_timer(m, TimerKind.RUN_TIMEOUT, float(m.spec.timeout))
    for entry in m.graph.entries:
        state.ready.append(Ready(entry, 0, context))


def _start_from(m: Machine, point: RerunPoint) -> None:
    """Begin where a failed run stopped: its barriers and contexts, its stopped paths."""
    state = m.state
    unknown = point.unknown_tasks(m.spec.tasks)
    if unknown:
        state.add_error(
            ErrorEntry(
                type=ErrorType.RERUN,
                message=f"the rerun point names tasks this workflow does not have: "
                f"{', '.join(unknown)}",
            )
        )
        state.advance(RunEvent.FAIL)
        return
    contexts = [point.context(index) for index in range(len(point.contexts))]
    state.initial = contexts[point.initial]
    if point.output_context is not None:
        state.output_context = contexts[point.output_context]
    state.stamp = point.stamp
    state.next_route = max(state.next_route, point.next_route)
    if m.program.tracks_task_status:
        state.latest_status = dict(point.latest_status)
    for kept in point.barriers:
        state.barriers.setdefault(kept.task, {})[kept.route] = JoinBarrier(
            kept.task,
            kept.route,
            dict.fromkeys(kept.arrived, UNKNOWN_EXECUTION),
            contexts[kept.context],
            kept.fired,
        )
    if m.spec.timeout:
        state.run_timer = start_timer(m, TimerKind.RUN_TIMEOUT, float(m.spec.timeout))
    for task in point.tasks:
        if task.source is None:
            state.ready.append(Ready(task.task, task.route, contexts[task.context]))
        else:
            arrival = Arrival(
                task.task, task.route, contexts[task.context], task.source, UNKNOWN_EXECUTION
            )
            arrive_at(m, arrival, forced=False)


def start_ready(m: Machine) -> None:
    """Start every ready task as an execution, in (task, route) order."""
    state = m.state
    if state.paused or not state.ready:
        return
    ready = sorted(state.ready, key=lambda r: (r.task, r.route))
    state.ready = []
    for arrival in ready:
        if state.phase is not RunPhase.RUNNING and not state.phase.admits(arrival.forced):
            stop_path(m, RerunEntry(arrival.task, arrival.route, arrival.context))
            continue
        repeatable = arrival.task in m.graph.repeatable
        iteration = state.iterations.get(arrival.task, 0) + 1 if repeatable else 1
        cap = m.spec.cap_for(arrival.task)
        if iteration > cap:
            over = ErrorEntry(
                type=ErrorType.ITERATION_CAP,
                message=f"task {arrival.task!r} would start a {_ordinal(iteration)} time, "
                f"over its cap of {cap} (max_iterations)",
                task=arrival.task,
                iteration=iteration,
                route=arrival.route,
            )
            stop_path(m, RerunEntry(arrival.task, arrival.route, arrival.context), failure=over)
            continue
        if repeatable:
            state.iterations[arrival.task] = iteration
        ref = ExecutionRef(state.next_execution, arrival.task, iteration, arrival.route)
        state.next_execution += 1
        execution = Execution(ref, arrival.context, forced=arrival.forced)
        state.executions[ref.id] = execution
        m.out.append(ExecutionStarted(ref))
        if m.program.tracks_task_status:
            state.latest_status[ref.task] = ExecutionStatus.RUNNING.value
        guarded(m, execution, begin)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
