"""What every part of the coordinator works over: the compiled program, the run's state,
the commands of the event being handled; scopes for expressions, numbers, timers.

The coordinator's steps are plain functions of a `Machine` (engine/coordinator/paths.py,
dispatching.py, completion.py, starting.py, finishing.py); `Machine` holds data only,
no behaviour, and nothing subclasses it. `Coordinator` (engine/coordinator/machine.py)
holds one and takes events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


class Machine:
    """One run's coordinator parts: its program, its state, and `out`, the commands the
    event being handled has caused so far. Data only: the steps are the functions below
    and in the modules that take a `Machine`."""

    __slots__ = (
        "action_retry_defaults",
        "graph",
        "item_limit",
        "limits",
        "out",
        "program",
        "run_binding",
        "secrets",
        "spec",
        "state",
    )

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
        self.out: list[Command] = []
        self.run_binding: dict[str, Any] = {}
        if self.state.run is not None:
            bind_run(self)


def bind_run(m: Machine) -> None:
    """The `$run` binding expressions see, from the run the state records."""
    run = m.state.run
    assert run is not None
    m.run_binding = {
        "id": run.id,
        "workflow": run.workflow,
        "version": run.version,
        "started_at": millis_to_iso(run.started_at_ms),
    }


def start_timer(
    m: Machine,
    kind: TimerKind,
    seconds: float,
    execution: int | None = None,
    item: int | None = None,
) -> int:
    """Start a timer of `kind`; its id, which `TimerFired` brings back."""
    state = m.state
    timer = state.next_timer
    state.next_timer += 1
    state.timers[timer] = Timer(kind, execution, item)
    m.out.append(StartTimer(timer, seconds, kind, execution))
    return timer


def cancel_timer(m: Machine, timer: int) -> None:
    """Cancel a timer that has not fired (nothing if it has)."""
    if m.state.timers.pop(timer, None) is not None:
        m.out.append(CancelTimer(timer))


def scope_for(
    m: Machine,
    execution: Execution,
    site: str,
    *,
    status: ExecutionStatus | None = None,
    result: Any = UNDEFINED,
    error: ErrorInfo | None = None,
    item: int | None = None,
    attempt: int | None = None,
) -> Scope:
    """What an expression of an execution sees at `site` (seeded per site)."""
    ref = execution.ref
    attempt = attempt or execution.attempt
    run_id = m.run_binding.get("id", "")
    scope = Scope(
        ctx=execution.context.values,
        run=m.run_binding,
        now_ms=m.state.now_ms,
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
        task_status=m.state.latest_status.get,
        limits=m.limits,
        secrets=m.secrets,
    )
    if item is not None and execution.items is not None:
        scope.item = execution.items.items[item]
        scope.index = item
    return scope


def number(m: Machine, template: Template, execution: Execution, field: str) -> float:
    """A template that must render a number >= 0 (delay, timeout, retry numbers)."""
    value = template.render(scope_for(m, execution, field))
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
