"""The coordinator: a pure state machine, `handle(event) -> commands`.

It holds no clock, does no I/O and draws no randomness of its own: time comes with each
event and `$random`/`$uuid` are seeded from the run id and the evaluation site, so the
same events always give the same commands (Temporal replays rely on it). Per event it
touches only the execution concerned and the graph facts precomputed in the program,
so its cost does not grow with the run's history.
"""

from __future__ import annotations

from typing import Any

# With-items never has more item executions out at once than this, whatever the
from engine.coordinator.barriers import UNKNOWN_EXECUTION, Arrival, arrive
from engine.coordinator.base import expression_source
from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import (
    CancelDispatches,
    Command,
    ErrorEntry,
    ExecutionFinished,
    ExecutionRef,
    ExecutionStarted,
    ExecutionStatus,
    FinishRun,
    RunStatus,
    TimerKind,
)
from engine.coordinator.context import Context
from engine.coordinator.dispatching import Dispatching
from engine.coordinator.events import (
    ActionFailed,
    ActionSucceeded,
    CancelRequested,
    ErrorInfo,
    Event,
    PauseRequested,
    ResumeRequested,
    RunStarted,
    StartReady,
    TimerFired,
)
from engine.coordinator.payloads import PAYLOAD_TOO_LARGE, check_payload
from engine.coordinator.rerun import RerunEntry, RerunPoint, build_rerun_point
from engine.coordinator.state import (
    Execution,
    ItemsProgress,
    JoinBarrier,
    Ready,
)
from engine.expressions import ExpressionError, Scope
from engine.language.spec import RETRY_COMMAND_COUNT, TransitionSpec

# Error types that an action's own failure keeps; anything else is `action_failed`.
_KEPT_ERROR_TYPES = frozenset(
    {"timeout", "child_failed", "canceled", "expression", PAYLOAD_TOO_LARGE}
)


class Coordinator(Dispatching):
    """Drives one run of a workflow version."""

    # ----------------------------------------------------------------- public API

    @property
    def finished(self) -> bool:
        return self.state.finished

    @property
    def has_ready(self) -> bool:
        return bool(self.state.ready) and not self.state.paused

    def handle(self, event: Event) -> list[Command]:
        """Apply one event; the commands it causes, in order."""
        self._out = []
        state = self.state
        if event.at_ms > state.now_ms:
            state.now_ms = event.at_ms
        if state.finished:
            return []
        if isinstance(event, RunStarted):
            self._on_run_started(event)
        elif not state.started:
            return []
        elif isinstance(event, StartReady):
            self._start_ready()
        elif isinstance(event, ActionSucceeded):
            self._on_result(
                event.execution,
                event.attempt,
                event.item,
                ExecutionStatus.SUCCEEDED,
                event.result,
                None,
            )
        elif isinstance(event, ActionFailed):
            self._on_result(
                event.execution,
                event.attempt,
                event.item,
                ExecutionStatus.FAILED,
                event.result,
                event.error,
            )
        elif isinstance(event, TimerFired):
            self._on_timer(event.timer)
        elif isinstance(event, CancelRequested):
            self._abort(ErrorEntry(type="canceled", message=event.reason), canceled=True)
        elif isinstance(event, PauseRequested):
            state.paused = True
        elif isinstance(event, ResumeRequested):
            state.paused = False
            self._pump_slots()
        self._maybe_finish()
        return self._out

    # ----------------------------------------------------------------- run start

    def _on_run_started(self, event: RunStarted) -> None:
        state = self.state
        if state.started:
            return
        state.started = True
        state.behaviour = Behaviour(event.behaviour)
        state.run = event.run
        self._bind_run()
        if event.rerun is not None:
            self._start_from(event.rerun)
            return
        values, problems = self.program.prepare_input(
            event.input, linear_regex=state.behaviour >= Behaviour.CLARIFIED
        )
        if problems:
            for problem in problems:
                state.add_error(
                    ErrorEntry(type="input", message=f"input {problem.path}: {problem.reason}")
                )
            state.failing = True
            return
        context = Context(values)
        scope = Scope(
            ctx=values,
            run=self._run_binding,
            now_ms=state.now_ms,
            seed=f"{event.run.id}:vars",
            limits=self.limits,
            secrets=self.secrets,
        )
        for name, template in self.spec.vars:
            try:
                values[name] = template.render(scope)
            except ExpressionError as error:
                self._record_expression_error(error.located(field=f"vars.{name}"))
                return
        state.initial = context
        if self.spec.timeout:
            state.run_timer = self._start_timer(TimerKind.RUN_TIMEOUT, float(self.spec.timeout))
        for entry in self.graph.entries:
            state.ready.append(Ready(entry, 0, context))

    def _start_from(self, point: RerunPoint) -> None:
        """Begin where a failed run stopped: its barriers and contexts, its stopped paths."""
        state = self.state
        unknown = point.unknown_tasks(self.spec.tasks)
        if unknown:
            state.add_error(
                ErrorEntry(
                    type="rerun",
                    message=f"the rerun point names tasks this workflow does not have: "
                    f"{', '.join(unknown)}",
                )
            )
            state.failing = True
            return
        contexts = [point.context(index) for index in range(len(point.contexts))]
        state.initial = contexts[point.initial]
        if point.output_context is not None:
            state.output_context = contexts[point.output_context]
        state.stamp = point.stamp
        state.next_route = max(state.next_route, point.next_route)
        if self.program.tracks_task_status:
            state.latest_status = dict(point.latest_status)
        for kept in point.barriers:
            state.barriers.setdefault(kept.task, {})[kept.route] = JoinBarrier(
                kept.task,
                kept.route,
                dict.fromkeys(kept.arrived, UNKNOWN_EXECUTION),
                contexts[kept.context],
                kept.fired,
            )
        if self.spec.timeout:
            state.run_timer = self._start_timer(TimerKind.RUN_TIMEOUT, float(self.spec.timeout))
        for task in point.tasks:
            if task.source is None:
                state.ready.append(Ready(task.task, task.route, contexts[task.context]))
            else:
                arrival = Arrival(
                    task.task, task.route, contexts[task.context], task.source, UNKNOWN_EXECUTION
                )
                self._arrive(arrival, forced=False)

    # ----------------------------------------------------------------- starting tasks

    def _start_ready(self) -> None:
        state = self.state
        if state.paused or not state.ready:
            return
        ready = sorted(state.ready, key=lambda r: (r.task, r.route))
        state.ready = []
        for arrival in ready:
            if (state.failing and not arrival.forced) or state.canceled:
                self._keep_for_rerun(arrival.task, arrival.route, arrival.context)
                self._path_ends(arrival.context)
                continue
            repeatable = arrival.task in self.graph.repeatable
            iteration = state.iterations.get(arrival.task, 0) + 1 if repeatable else 1
            cap = self.spec.cap_for(arrival.task)
            if iteration > cap:
                state.add_error(
                    ErrorEntry(
                        type="iteration_cap",
                        message=f"task {arrival.task!r} would start a {_ordinal(iteration)} time, "
                        f"over its cap of {cap} (max_iterations)",
                        task=arrival.task,
                        iteration=iteration,
                        route=arrival.route,
                    )
                )
                self._keep_for_rerun(arrival.task, arrival.route, arrival.context)
                self._fail()
                self._path_ends(arrival.context)
                continue
            if repeatable:
                state.iterations[arrival.task] = iteration
            ref = ExecutionRef(state.next_execution, arrival.task, iteration, arrival.route)
            state.next_execution += 1
            execution = Execution(ref, arrival.context, forced=arrival.forced)
            state.executions[ref.id] = execution
            self._out.append(ExecutionStarted(ref))
            if self.program.tracks_task_status:
                state.latest_status[ref.task] = "running"
            self._guarded(execution, self._begin)

    def _guarded(self, execution: Execution, step: Any) -> None:
        """Run a step of an execution; an expression error fails the execution and the run."""
        try:
            step(execution)
        except ExpressionError as error:
            self._expression_failure(execution, error)

    def _begin(self, execution: Execution) -> None:
        task = self.spec.tasks[execution.task]
        if task.delay is not None:
            seconds = self._number(task.delay, execution, "delay")
            if seconds > 0:
                execution.timer = self._start_timer(TimerKind.DELAY, seconds, execution.ref.id)
                return
        self._run(execution)

    def _run(self, execution: Execution) -> None:
        task = self.spec.tasks[execution.task]
        if task.is_pass_through:
            self._complete(execution, ExecutionStatus.SUCCEEDED, None, None)
            return
        execution.policy = self._retry_policy(execution)
        if task.timeout is not None:
            execution.timeout = self._number(task.timeout, execution, "timeout") or None
        if task.with_items is None:
            self._request_dispatch(execution)
            return
        items = task.with_items.items.render(self._scope(execution, "with.items"))
        if not isinstance(items, list):
            raise ExpressionError(
                f"with.items must evaluate to a list, got {type(items).__name__}",
                expression=expression_source(task.with_items.items),
                field="with.items",
            )
        concurrency = len(items)
        if task.with_items.concurrency is not None:
            concurrency = int(self._number(task.with_items.concurrency, execution, "concurrency"))
        concurrency = max(1, min(concurrency, self.item_limit))
        execution.items = ItemsProgress(list(items), concurrency, results=[None] * len(items))
        if not items:
            self._complete(execution, ExecutionStatus.SUCCEEDED, [], None)
            return
        self._pump_items(execution)

    # ----------------------------------------------------------------- completion

    def _complete(
        self,
        execution: Execution,
        status: ExecutionStatus,
        result: Any,
        error: ErrorInfo | None,
    ) -> None:
        """An execution reached a terminal status: take its satisfied transitions."""
        state = self.state
        ref = execution.ref
        task = self.spec.tasks[ref.task]
        if self.program.tracks_task_status:
            state.latest_status[ref.task] = str(status)
        scope = self._scope(execution, "next", status=status, result=result, error=error)
        taken: list[TransitionSpec] = []
        for transition in task.next:
            try:
                holds = transition.when is None or transition.when.holds(scope)
            except ExpressionError as failure:
                self._finish_execution(execution, status, result, error)
                self._keep_execution(execution)
                self._record_expression_error(
                    failure.located(field=f"next[{transition.index}].when"),
                    execution.ref,
                    transition.index,
                )
                self._path_ends(execution.context)
                return
            if holds:
                taken.append(transition)

        retrying = [t for t in taken if "retry" in t.commands]
        if retrying and execution.command_retries < RETRY_COMMAND_COUNT:
            context = execution.context
            for transition in retrying:
                published = self._publish(transition, context, scope, execution)
                if published is None:
                    return
                context = published
            execution.context = context
            execution.command_retries += 1
            self._announce_retry(execution, execution.attempt, error, 0.0, None)
            execution.attempt += 1
            if task.is_pass_through or task.with_items is not None:
                self._run(execution)  # nothing to re-dispatch alone: run the task again
            else:
                self._request_dispatch(execution)
            return

        self._finish_execution(execution, status, result, error)
        handled = any(t.targets or "noop" in t.commands for t in taken)
        if status is ExecutionStatus.FAILED:
            assert error is not None
            state.add_error(
                ErrorEntry(
                    type=error.type if error.type in _KEPT_ERROR_TYPES else "action_failed",
                    message=f"task {ref.task!r} failed: {error.message}",
                    task=ref.task,
                    iteration=ref.iteration,
                    route=ref.route,
                    handled=handled,
                )
            )
            if not handled:
                self._keep_execution(execution)
                self._fail()
        if state.behaviour is Behaviour.ORIGINAL:
            self._follow_each(execution, taken, scope)
        else:
            self._follow(execution, taken, scope)
        if not taken:
            self._path_ends(execution.context)

    def _follow(self, execution: Execution, taken: list[TransitionSpec], scope: Scope) -> None:
        """Take the satisfied transitions. Each publish starts from the execution's
        context; a join gets one arrival from this execution, at the first transition
        that leads there, with the publishes of all that do merged in transition order."""
        state = self.state
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
                context = self._render_publish(transition, base, scope)
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
                self._take_fail(execution, transition)
            if not transition.targets:
                self._path_ends(context)
            for target in transition.targets:
                if target in joined:
                    continue
                arriving = context
                if target in self.graph.join_threshold:
                    joined.add(target)
                    for later, later_context in published[position + 1 :]:
                        if target in later.targets:
                            arriving = arriving.joined(later_context)
                            forced = forced or "fail" in later.commands
                self._arrive(Arrival(target, ref.route, arriving, ref.task, ref.id), forced)
        if failure is not None:
            self._publish_failed(execution, failure[0], failure[1], base)

    def _follow_each(self, execution: Execution, taken: list[TransitionSpec], scope: Scope) -> None:
        """Behaviour 1, kept exactly for runs that started on it: one arrival per
        transition, in transition order."""
        ref = execution.ref
        for transition in taken:
            published = self._publish(transition, execution.context, scope, execution)
            if published is None:
                return
            forced = "fail" in transition.commands
            if forced:
                self._take_fail(execution, transition)
            if not transition.targets:
                self._path_ends(published)
            for target in transition.targets:
                self._arrive(Arrival(target, ref.route, published, ref.task, ref.id), forced)

    def _take_fail(self, execution: Execution, transition: TransitionSpec) -> None:
        """A taken transition lists `fail`: the run fails (its other targets still run)."""
        ref = execution.ref
        self.state.add_error(
            ErrorEntry(
                type="fail_command",
                message=f"task {ref.task!r} took a transition to `fail`",
                task=ref.task,
                iteration=ref.iteration,
                route=ref.route,
                transition=transition.index,
            )
        )
        self._keep_execution(execution)
        self._fail()

    def _finish_execution(
        self,
        execution: Execution,
        status: ExecutionStatus,
        result: Any,
        error: ErrorInfo | None,
    ) -> None:
        """Drop a finished execution from the live set and announce its status."""
        state = self.state
        state.executions.pop(execution.ref.id, None)
        if execution.timer is not None:
            self._cancel_timer(execution.timer)
            execution.timer = None
        if self.program.tracks_task_status:
            state.latest_status[execution.task] = str(status)
        self._out.append(ExecutionFinished(execution.ref, status, execution.attempt, result, error))

    def _publish(
        self, transition: TransitionSpec, context: Context, scope: Scope, execution: Execution
    ) -> Context | None:
        """The context after a transition's publish; None if rendering failed the run."""
        try:
            return self._render_publish(transition, context, scope)
        except ExpressionError as error:
            self._publish_failed(execution, transition, error, context)
            return None

    def _render_publish(
        self, transition: TransitionSpec, context: Context, scope: Scope
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
        self.state.stamp += 1
        stamps = dict(context.stamps)
        for name, _ in transition.publish:
            stamps[name] = self.state.stamp
        return Context(values, stamps, context.forks)

    def _publish_failed(
        self,
        execution: Execution,
        transition: TransitionSpec,
        error: ExpressionError,
        context: Context,
    ) -> None:
        self._keep_execution(execution)
        self._record_expression_error(
            error.located(field=f"next[{transition.index}].publish"),
            execution.ref,
            transition.index,
        )
        self._path_ends(context)

    def _arrive(self, arrival: Arrival, forced: bool) -> None:
        """A taken transition reaches a task: a barrier arrival or a ready execution."""
        state = self.state
        target, route, context = arrival.target, arrival.route, arrival.context
        if (state.failing and not forced) or state.canceled:
            self._keep_for_rerun(target, route, context, source=arrival.source)
            self._path_ends(context)
            return
        threshold = self.graph.join_threshold.get(target)
        if threshold is None:
            if target in self.graph.splits:
                route = state.next_route
                state.next_route += 1
            state.ready.append(Ready(target, route, context, forced))
            return
        sources = len(self.graph.inbound_sources[target])
        outcome = arrive(state.barriers, arrival, threshold, sources, state.behaviour)
        if outcome.absorbed is not None:
            self._path_ends(outcome.absorbed)
        if outcome.fired is not None:
            state.ready.append(Ready(target, route, outcome.fired, forced))

    def _path_ends(self, context: Context) -> None:
        """A path ends here: what it published reaches the run's output."""
        state = self.state
        if state.output_context is None:
            state.output_context = context
        elif state.behaviour is Behaviour.ORIGINAL:
            state.output_context = state.output_context.merged(context)
        else:
            state.output_context = state.output_context.joined(context)

    # ----------------------------------------------------------------- failure, cancel, timers

    def _fail(self) -> None:
        """Fail fast: nothing new starts; what is running finishes."""
        state = self.state
        state.failing = True
        if state.ready:
            keep = [arrival for arrival in state.ready if arrival.forced]
            for arrival in state.ready:
                if not arrival.forced:
                    self._keep_for_rerun(arrival.task, arrival.route, arrival.context)
                    self._path_ends(arrival.context)
            state.ready = keep

    def _keep_for_rerun(
        self,
        task: str,
        route: int,
        context: Context,
        *,
        source: str | None = None,
        execution: int | None = None,
    ) -> None:
        """Remember a path the failure stopped, for a rerun from the failed tasks."""
        state = self.state
        if state.canceled:
            return  # a canceled run is not rerun from where it stopped
        if execution is not None and any(kept.execution == execution for kept in state.rerun):
            return
        state.rerun.append(RerunEntry(task, route, context, source, execution))

    def _keep_execution(self, execution: Execution) -> None:
        ref = execution.ref
        self._keep_for_rerun(ref.task, ref.route, execution.context, execution=ref.id)

    def _expression_failure(self, execution: Execution, error: ExpressionError) -> None:
        located = error.located(task=execution.task)
        self._keep_execution(execution)
        if execution.ref.id in self.state.executions:
            out = int(execution.sent) + (len(execution.items.in_flight) if execution.items else 0)
            if out:
                self.state.in_flight = max(0, self.state.in_flight - out)
                self._out.append(CancelDispatches((execution.ref.id,)))
            self._finish_execution(
                execution,
                ExecutionStatus.FAILED,
                None,
                ErrorInfo(located.kind, located.describe()),
            )
        self._record_expression_error(located, execution.ref)
        self._path_ends(execution.context)

    def _record_expression_error(
        self,
        error: ExpressionError,
        ref: ExecutionRef | None = None,
        transition: int | None = None,
    ) -> None:
        self.state.add_error(
            ErrorEntry(
                type=error.kind,
                message=error.located(task=ref.task if ref else None).describe(),
                task=ref.task if ref else None,
                iteration=ref.iteration if ref else None,
                route=ref.route if ref else None,
                transition=transition,
                expression=error.expression or None,
            )
        )
        self._fail()

    def _abort(self, entry: ErrorEntry, *, canceled: bool) -> None:
        """Cancel or time out the run: stop everything in flight and finish."""
        state = self.state
        live = list(state.executions.values())
        out = [e.ref.id for e in live if e.sent or (e.items and e.items.in_flight)]
        if out:
            self._out.append(CancelDispatches(tuple(out)))
        for execution in live:
            timer = state.timers.get(execution.timer) if execution.timer is not None else None
            if timer is not None and timer.kind is TimerKind.RETRY and execution.attempt > 1:
                # Stopped during a retry's backoff: the next attempt never ran, so the
                # execution ends as its last attempt did, not as one that never started.
                execution.attempt -= 1
            self._finish_execution(
                execution, ExecutionStatus.CANCELED, None, ErrorInfo(entry.type, entry.message)
            )
            if not canceled:
                self._keep_execution(execution)
            self._path_ends(execution.context)
        state.in_flight = 0
        state.waiting_for_slot.clear()
        state.add_error(entry)
        if canceled:
            state.canceled = True
            for arrival in state.ready:
                self._path_ends(arrival.context)
            state.ready = []
        else:
            self._fail()

    def _on_timer(self, timer_id: int) -> None:
        state = self.state
        timer = state.timers.pop(timer_id, None)
        if timer is None:
            return
        if timer.kind is TimerKind.RUN_TIMEOUT:
            state.run_timer = None
            seconds = self.spec.timeout
            self._abort(
                ErrorEntry(type="timeout", message=f"the run did not finish within {seconds} s"),
                canceled=False,
            )
            return
        execution = state.executions.get(timer.execution or 0)
        if execution is None:
            return
        if timer.item is not None:
            assert execution.items is not None
            execution.items.waiting_retry -= 1
            execution.items.retry_queue.append(timer.item)
            self._guarded(execution, self._pump_items)
            return
        if execution.timer != timer_id:
            return
        execution.timer = None
        if timer.kind is TimerKind.DELAY:
            self._guarded(execution, self._run)
        else:
            self._guarded(execution, self._request_dispatch)

    # ----------------------------------------------------------------- the end

    def _maybe_finish(self) -> None:
        state = self.state
        if state.finished or state.executions or state.ready:
            return
        if not state.failing and not state.canceled:
            for by_route in state.barriers.values():
                for barrier in by_route.values():
                    if not barrier.fired:
                        needed = self.graph.join_threshold[barrier.task]
                        state.add_error(
                            ErrorEntry(
                                type="unreachable_join",
                                message=f"join task {barrier.task!r} got "
                                f"{len(barrier.arrived)} of the {needed} arrivals it needs "
                                f"(from {', '.join(barrier.arrived)}) and no more can come",
                                task=barrier.task,
                                route=barrier.route,
                            )
                        )
                        state.failing = True
        output: Any = None
        context = state.output_context or state.initial
        if self.spec.output is not None and context is not None:
            scope = Scope(
                ctx=context.values,
                run=self._run_binding,
                now_ms=state.now_ms,
                seed=f"{state.run.id if state.run else ''}:output",
                task_status=state.latest_status.get,
                limits=self.limits,
                secrets=self.secrets,
            )
            try:
                output = self.spec.output.render(scope)
                if state.behaviour >= Behaviour.CLARIFIED:
                    check_payload(output, "the run output")
            except ExpressionError as error:
                if error.kind == PAYLOAD_TOO_LARGE:
                    output = None  # Temporal would refuse the completion: the run fails
                    state.failing = True
                self._record_expression_error(error.located(field="output"))
        if state.run_timer is not None:
            self._cancel_timer(state.run_timer)
            state.run_timer = None
        if state.canceled:
            status = RunStatus.CANCELED
        elif state.failing:
            status = RunStatus.FAILED
        else:
            status = RunStatus.SUCCEEDED
        state.status = status
        state.finished = True
        rerun = None
        if status is RunStatus.FAILED and state.rerun and state.initial is not None:
            rerun = build_rerun_point(
                state.rerun,
                state.initial,
                state.output_context,
                [
                    (b.task, b.route, list(b.arrived), b.context, b.fired)
                    for by_route in state.barriers.values()
                    for b in by_route.values()
                ],
                state.stamp,
                state.next_route,
                state.latest_status,
            )
        self._out.append(
            FinishRun(status, output, tuple(state.errors), state.errors_dropped, rerun)
        )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
