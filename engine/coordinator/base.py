"""What every part of the coordinator shares: its fields, scopes for expressions, timers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import CancelTimer, Command, ExecutionStatus, StartTimer, TimerKind
from engine.coordinator.events import ErrorInfo
from engine.coordinator.program import WorkflowProgram, program_for
from engine.coordinator.state import CoordinatorState, Execution, Timer
from engine.expressions import UNDEFINED, ExpressionError, Limits, Scope, Template
from engine.expressions.budget import DEFAULT_LIMITS
from engine.expressions.runtime import millis_to_iso
from engine.language.spec import RetrySpec, WorkflowSpec

# With-items never has more item executions out at once than this, whatever the
# `concurrency` (Temporal allows 2,000 pending activities per workflow).
ENGINE_ITEM_LIMIT = 500


class CoordinatorBase:
    """Fields and helpers of the coordinator; the behaviour lives in its subclasses."""

    def __init__(
        self,
        spec: WorkflowSpec,
        state: CoordinatorState | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        action_retry_defaults: dict[str, RetrySpec] | None = None,
        item_limit: int = ENGINE_ITEM_LIMIT,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        self.program: WorkflowProgram = program_for(spec)
        self.spec = spec
        self.graph = self.program.graph
        self.state = state if state is not None else CoordinatorState()
        self.limits = limits
        self.action_retry_defaults = action_retry_defaults or {}
        self.item_limit = item_limit
        # The run's named secrets, resolved outside the coordinator (an activity, or the
        # simulator): `$secret('name')` reads them; they are not part of the state.
        self.secrets: Mapping[str, str] = secrets or {}
        self._out: list[Command] = []
        self._run_binding: dict[str, Any] = {}
        if self.state.run is not None:
            self._bind_run()

    @property
    def _original_behaviour(self) -> bool:
        """The run started on behaviour 1 (engine/coordinator/behaviour.py)."""
        return self.state.behaviour is Behaviour.ORIGINAL

    def _bind_run(self) -> None:
        run = self.state.run
        assert run is not None
        self._run_binding = {
            "id": run.id,
            "workflow": run.workflow,
            "version": run.version,
            "started_at": millis_to_iso(run.started_at_ms),
        }

    # Implemented by the coordinator itself; declared here for the parts that call them.
    def _complete(
        self,
        execution: Execution,
        status: ExecutionStatus,
        result: Any,
        error: ErrorInfo | None,
    ) -> None:
        raise NotImplementedError

    def _guarded(self, execution: Execution, step: Any) -> None:
        raise NotImplementedError

    def _start_timer(
        self, kind: TimerKind, seconds: float, execution: int | None = None, item: int | None = None
    ) -> int:
        state = self.state
        timer = state.next_timer
        state.next_timer += 1
        state.timers[timer] = Timer(kind, execution, item)
        self._out.append(StartTimer(timer, seconds, kind, execution))
        return timer

    def _cancel_timer(self, timer: int) -> None:
        if self.state.timers.pop(timer, None) is not None:
            self._out.append(CancelTimer(timer))

    # ----------------------------------------------------------------- helpers

    def _scope(
        self,
        execution: Execution,
        site: str,
        *,
        status: ExecutionStatus | None = None,
        result: Any = UNDEFINED,
        error: ErrorInfo | None = None,
        item: int | None = None,
        attempt: int | None = None,
    ) -> Scope:
        ref = execution.ref
        attempt = attempt or execution.attempt
        run_id = self._run_binding.get("id", "")
        scope = Scope(
            ctx=execution.context.values,
            run=self._run_binding,
            now_ms=self.state.now_ms,
            seed=f"{run_id}:{ref.id}:{attempt}:{item}:{site}",
            task={
                "name": ref.task,
                "iteration": ref.iteration,
                "route": ref.route,
                "attempt": attempt,
            },
            status=str(status) if status is not None else None,
            result=result,
            error=error.to_json() if error is not None else UNDEFINED,
            task_status=self.state.latest_status.get,
            limits=self.limits,
            secrets=self.secrets,
        )
        if item is not None and execution.items is not None:
            scope.item = execution.items.items[item]
            scope.index = item
        return scope

    def _number(self, template: Template, execution: Execution, field: str) -> float:
        value = template.render(self._scope(execution, field))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ExpressionError(
                f"{field} must be a number >= 0, got {value!r}"[:200],
                expression=expression_source(template),
                field=field,
                task=execution.task,
            )
        return float(value)


def expression_source(template: Template) -> str:
    """The first expression's source in a template (for error entries)."""
    return next((e.source for e in template.expressions()), "")
