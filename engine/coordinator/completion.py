"""An execution reached its terminal status: take its satisfied transitions, publish,
and arrive at the tasks they lead to (a barrier arrival or a ready execution)."""

from __future__ import annotations

from typing import Any

from engine.coordinator import dispatching
from engine.coordinator.barriers import Arrival, arrive
from engine.coordinator.base import Machine, scope_for
from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import (
    ErrorEntry,
    ExecutionStatus,
)
from engine.coordinator.context import Context
from engine.coordinator.error_types import KEPT_FROM_ACTIONS, ErrorType
from engine.coordinator.events import (
    ErrorInfo,
)
from engine.coordinator.lifecycle import RunPhase
from engine.coordinator.paths import (
    execution_path,
    expression_entry,
    fail,
    finish_execution,
    keep_for_rerun,
    path_ends,
    stop_path,
)
from engine.coordinator.payloads import check_context
from engine.coordinator.rerun import RerunEntry
from engine.coordinator.state import (
    Execution,
    Ready,
)
from engine.coordinator.transition_notices import announce_transitions
from engine.expressions import ExpressionError, Scope
from engine.language.spec import RETRY_COMMAND_COUNT, TransitionSpec


def complete(
    m: Machine,
    execution: Execution,
    status: ExecutionStatus,
    result: Any,
    error: ErrorInfo | None,
) -> None:
    """An execution reached a terminal status: take its satisfied transitions."""
    state = m.state
    ref = execution.ref
    task = m.spec.tasks[ref.task]
    if m.program.tracks_task_status:
        state.latest_status[ref.task] = str(status)
    scope = scope_for(m, execution, "next", status=status, result=result, error=error)
    taken: list[TransitionSpec] = []
    for transition in task.next:
        try:
            holds = transition.when is None or transition.when.holds(scope)
        except ExpressionError as failure:
            finish_execution(m, execution, status, result, error)
            located = failure.located(field=f"next[{transition.index}].when")
            entry = expression_entry(located, execution.ref, transition.index)
            stop_path(m, execution_path(execution), failure=entry)
            return
        if holds:
            taken.append(transition)

    retrying = [t for t in taken if "retry" in t.commands]
    if retrying and execution.command_retries < RETRY_COMMAND_COUNT:
        context = execution.context
        for transition in retrying:
            try:
                context = _render_publish(m, transition, context, scope)
            except ExpressionError as failure:
                if state.behaviour >= Behaviour.OBSERVED:
                    # The attempt ends with its own status before the run fails; up to
                    # behaviour 2 it stayed running, and the run never ended.
                    finish_execution(m, execution, status, result, error)
                _publish_failed(m, execution, transition, failure, context)
                return
        execution.context = context
        execution.command_retries += 1
        announce_transitions(m, execution, task.next, taken, retrying)
        dispatching.announce_retry(m, execution, execution.attempt, error, 0.0, None)
        execution.attempt += 1
        if task.is_pass_through or task.with_items is not None:
            # Nothing to re-dispatch alone: run the task again.
            dispatching.run_execution(m, execution)
        else:
            dispatching.request_dispatch(m, execution)
        return

    finish_execution(m, execution, status, result, error)
    announce_transitions(m, execution, task.next, taken, taken)
    handled = any(t.targets or "noop" in t.commands for t in taken)
    if status is ExecutionStatus.FAILED:
        assert error is not None
        state.add_error(
            ErrorEntry(
                type=error.type if error.type in KEPT_FROM_ACTIONS else ErrorType.ACTION_FAILED,
                message=f"task {ref.task!r} failed: {error.message}",
                task=ref.task,
                iteration=ref.iteration,
                route=ref.route,
                handled=handled,
            )
        )
        if not handled:
            keep_for_rerun(m, execution_path(execution))
            fail(m)
    if state.behaviour is Behaviour.ORIGINAL:
        _follow_each(m, execution, taken, scope)
    else:
        follow(m, execution, taken, scope)
    if not taken:
        path_ends(m, execution.context)


def follow(m: Machine, execution: Execution, taken: list[TransitionSpec], scope: Scope) -> None:
    """Take the satisfied transitions. Each publish starts from the execution's
    context; a join gets one arrival from this execution, at the first transition
    that leads there, with the publishes of all that do merged in transition order."""
    state = m.state
    ref = execution.ref
    base = execution.context
    if sum(len(t.targets) or 1 for t in taken) > 1:
        # The lineage splits here: a join downstream tells what each path published
        # on its own from what they shared (engine/coordinator/context.py).
        state.stamp += 1
        base = base.forked(state.stamp)
    published: list[tuple[TransitionSpec, Context]] = []
    failure: tuple[TransitionSpec, ExpressionError] | None = None
    for transition in taken:
        try:
            context = _render_publish(m, transition, base, scope)
        except ExpressionError as error:
            failure = (transition, error)
            break
        if len(transition.targets) > 1:
            # Its targets share its publish; they split after it.
            state.stamp += 1
            context = context.forked(state.stamp)
        published.append((transition, context))
    joined: set[str] = set()
    for position, (transition, context) in enumerate(published):
        forced = "fail" in transition.commands
        if forced:
            _take_fail(m, execution, transition)
        if not transition.targets:
            path_ends(m, context)
        for target in transition.targets:
            if target in joined:
                continue
            arriving = context
            if target in m.graph.join_threshold:
                joined.add(target)
                for later, later_context in published[position + 1 :]:
                    if target in later.targets:
                        arriving = arriving.joined(later_context)
                        forced = forced or "fail" in later.commands
            arrive_at(m, Arrival(target, ref.route, arriving, ref.task, ref.id), forced)
    if failure is not None:
        _publish_failed(m, execution, failure[0], failure[1], base)


def _follow_each(
    m: Machine, execution: Execution, taken: list[TransitionSpec], scope: Scope
) -> None:
    """Behaviour 1, kept exactly for runs that started on it: one arrival per
    transition, in transition order."""
    ref = execution.ref
    for transition in taken:
        published = publish(m, transition, execution.context, scope, execution)
        if published is None:
            return
        forced = "fail" in transition.commands
        if forced:
            _take_fail(m, execution, transition)
        if not transition.targets:
            path_ends(m, published)
        for target in transition.targets:
            arrive_at(m, Arrival(target, ref.route, published, ref.task, ref.id), forced)


def _take_fail(m: Machine, execution: Execution, transition: TransitionSpec) -> None:
    """A taken transition lists `fail`: the run fails (its other targets still run)."""
    ref = execution.ref
    m.state.add_error(
        ErrorEntry(
            type=ErrorType.FAIL_COMMAND,
            message=f"task {ref.task!r} took a transition to `fail`",
            task=ref.task,
            iteration=ref.iteration,
            route=ref.route,
            transition=transition.index,
        )
    )
    keep_for_rerun(m, execution_path(execution))
    fail(m)


def publish(
    m: Machine, transition: TransitionSpec, context: Context, scope: Scope, execution: Execution
) -> Context | None:
    """The context after a transition's publish; None if rendering failed the run."""
    try:
        return _render_publish(m, transition, context, scope)
    except ExpressionError as error:
        _publish_failed(m, execution, transition, error, context)
        return None


def _render_publish(
    m: Machine, transition: TransitionSpec, context: Context, scope: Scope
) -> Context:
    """The context after a transition's publish (raises ExpressionError)."""
    if not transition.publish:
        return context
    values = dict(context.values)
    scope.ctx = values
    try:
        for name, template in transition.publish:
            values[name] = template.render(scope)
    finally:
        scope.ctx = context.values
    if m.state.behaviour >= Behaviour.OBSERVED:
        check_context(values, (name for name, _ in transition.publish))
    m.state.stamp += 1
    stamps = dict(context.stamps)
    for name, _ in transition.publish:
        stamps[name] = m.state.stamp
    return Context(values, stamps, context.forks)


def _publish_failed(
    m: Machine,
    execution: Execution,
    transition: TransitionSpec,
    error: ExpressionError,
    context: Context,
) -> None:
    """A publish failed: the path ends and the run fails."""
    located = error.located(field=f"next[{transition.index}].publish")
    entry = expression_entry(located, execution.ref, transition.index)
    stop_path(m, execution_path(execution), failure=entry, output=context)


def arrive_at(m: Machine, arrival: Arrival, forced: bool) -> None:
    """A taken transition reaches a task: a barrier arrival or a ready execution."""
    state = m.state
    target, route, context = arrival.target, arrival.route, arrival.context
    if state.phase is not RunPhase.RUNNING and not state.phase.admits(forced):
        stop_path(m, RerunEntry(target, route, context, source=arrival.source))
        return
    threshold = m.graph.join_threshold.get(target)
    if threshold is None:
        if target in m.graph.splits:
            route = state.next_route
            state.next_route += 1
        state.ready.append(Ready(target, route, context, forced))
        return
    sources = len(m.graph.inbound_sources[target])
    outcome = arrive(state.barriers, arrival, threshold, sources, state.behaviour)
    if outcome.absorbed is not None:
        path_ends(m, outcome.absorbed)
    if outcome.fired is not None:
        state.ready.append(Ready(target, route, outcome.fired, forced))
