"""An execution reached its terminal status: take its satisfied transitions, publish,
and arrive at the tasks they lead to (a barrier arrival or a ready execution)."""

from __future__ import annotations

from typing import Any, NamedTuple

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
        values: dict[int, dict[str, Any]] = {}
        for transition in retrying:
            try:
                context = _render_publish(m, transition, context, scope)
                values[transition.index] = _published_values(transition, context)
            except ExpressionError as failure:
                if state.behaviour >= Behaviour.OBSERVED:
                    # The attempt ends with its own status before the run fails; up to
                    # behaviour 2 it stayed running, and the run never ended.
                    finish_execution(m, execution, status, result, error)
                _publish_failed(m, execution, transition, failure, context)
                return
        execution.context = context
        execution.command_retries += 1
        announce_transitions(m, execution, task.next, taken, retrying, values)
        dispatching.announce_retry(m, execution, execution.attempt, error, 0.0, None)
        execution.attempt += 1
        if task.is_pass_through or task.with_items is not None:
            # Nothing to re-dispatch alone: run the task again.
            dispatching.run_execution(m, execution)
        else:
            dispatching.request_dispatch(m, execution)
        return

    finish_execution(m, execution, status, result, error)
    rendered: Rendered | None = None
    if state.behaviour >= Behaviour.EXPLAINED:
        # Rendered before the notices, which carry the values (up to behaviour 3 the
        # publishes rendered after the run's failure was taken, as `follow` still does).
        rendered = render_taken(m, execution, taken, scope)
    announce_transitions(
        m, execution, task.next, taken, taken, None if rendered is None else rendered.values
    )
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
        if rendered is None:
            rendered = render_taken(m, execution, taken, scope)
        follow(m, execution, rendered)
    if not taken:
        path_ends(m, execution.context)


class Rendered(NamedTuple):
    """A finished execution's taken transitions with their publishes rendered."""

    base: Context  # the execution's context, forked when its lineage splits here
    published: list[tuple[TransitionSpec, Context]]  # each one's context, in order
    failure: tuple[TransitionSpec, ExpressionError] | None  # the publish that failed
    values: dict[int, dict[str, Any]]  # by transition index: name -> value published


def render_taken(
    m: Machine, execution: Execution, taken: list[TransitionSpec], scope: Scope
) -> Rendered:
    """Render the publishes of the taken transitions, in order, up to one that fails.
    Each starts from the execution's context. Emits no command."""
    state = m.state
    base = execution.context
    if sum(len(t.targets) or 1 for t in taken) > 1:
        # The lineage splits here: a join downstream tells what each path published
        # on its own from what they shared (engine/coordinator/context.py).
        state.stamp += 1
        base = base.forked(state.stamp)
    published: list[tuple[TransitionSpec, Context]] = []
    values: dict[int, dict[str, Any]] = {}
    for transition in taken:
        try:
            context = _render_publish(m, transition, base, scope)
        except ExpressionError as error:
            return Rendered(base, published, (transition, error), values)
        values[transition.index] = _published_values(transition, context)
        if len(transition.targets) > 1:
            # Its targets share its publish; they split after it.
            state.stamp += 1
            context = context.forked(state.stamp)
        published.append((transition, context))
    return Rendered(base, published, None, values)


def _published_values(transition: TransitionSpec, context: Context) -> dict[str, Any]:
    return {name: context.values.get(name) for name, _ in transition.publish}


def follow(m: Machine, execution: Execution, rendered: Rendered) -> None:
    """Take the satisfied transitions, their publishes rendered: a join gets one
    arrival from this execution, at the first transition that leads there, with the
    publishes of all that do merged in transition order."""
    ref = execution.ref
    published = rendered.published
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
    if rendered.failure is not None:
        _publish_failed(m, execution, rendered.failure[0], rendered.failure[1], rendered.base)


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
