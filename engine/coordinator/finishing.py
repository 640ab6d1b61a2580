"""The run ends once nothing is live: its output, its status, and (a failed run) the
point a rerun starts from."""

from __future__ import annotations

from typing import Any

from engine.coordinator.base import Machine, cancel_timer
from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import (
    ErrorEntry,
    FinishRun,
    RunStatus,
)
from engine.coordinator.error_types import ErrorType
from engine.coordinator.lifecycle import TERMINAL_RUN_PHASES, RunEvent, RunPhase
from engine.coordinator.paths import record_expression_error
from engine.coordinator.payloads import PAYLOAD_TOO_LARGE, check_payload
from engine.coordinator.rerun import build_rerun_point
from engine.expressions import ExpressionError, Scope


def maybe_finish(m: Machine) -> None:
    """Nothing is live: finish the run with its output and status."""
    state = m.state
    if state.executions or state.ready or state.phase in TERMINAL_RUN_PHASES:
        return
    if state.phase is RunPhase.RUNNING:
        for by_route in state.barriers.values():
            for barrier in by_route.values():
                if not barrier.fired:
                    needed = m.graph.join_threshold[barrier.task]
                    state.add_error(
                        ErrorEntry(
                            type=ErrorType.UNREACHABLE_JOIN,
                            message=f"join task {barrier.task!r} got "
                            f"{len(barrier.arrived)} of the {needed} arrivals it needs "
                            f"(from {', '.join(barrier.arrived)}) and no more can come",
                            task=barrier.task,
                            route=barrier.route,
                        )
                    )
                    state.advance(RunEvent.FAIL)
    output: Any = None
    context = state.output_context or state.initial
    if m.spec.output is not None and context is not None:
        scope = Scope(
            ctx=context.values,
            run=m.run_binding,
            now_ms=state.now_ms,
            seed=f"{state.run.id if state.run else ''}:output",
            task_status=state.latest_status.get,
            limits=m.limits,
            secrets=m.secrets,
        )
        try:
            output = m.spec.output.render(scope)
            if state.behaviour >= Behaviour.CLARIFIED:
                check_payload(output, "the run output")
        except ExpressionError as error:
            if error.kind == PAYLOAD_TOO_LARGE:
                output = None  # Temporal would refuse the completion: the run fails
                state.advance(RunEvent.FAIL)
            record_expression_error(m, error.located(field="output"))
    if state.run_timer is not None:
        cancel_timer(m, state.run_timer)
        state.run_timer = None
    state.advance(RunEvent.FINISH)
    status = state.status
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
    m.out.append(FinishRun(status, output, tuple(state.errors), state.errors_dropped, rerun))
