"""Dispatching actions and taking their results: retries, with-items, concurrency slots."""

from __future__ import annotations

from typing import Any

from engine.coordinator.base import CoordinatorBase, expression_source
from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import (
    AttemptFailed,
    DispatchAction,
    ExecutionStatus,
    StartChildRun,
    TimerKind,
)
from engine.coordinator.events import ErrorInfo
from engine.coordinator.payloads import check_payload
from engine.coordinator.state import Execution, RetryPolicy
from engine.expressions import ExpressionError, Template


class Dispatching(CoordinatorBase):
    """The part of the coordinator between an execution's start and its last attempt."""

    def _retry_policy(self, execution: Execution) -> RetryPolicy | None:
        layers = self.program.retry[execution.task]
        task = self.spec.tasks[execution.task]
        if self.action_retry_defaults and task.action is not None:
            action = task.action.render(self._scope(execution, "action"))
            layers = layers.under(self.action_retry_defaults.get(str(action)))
        if layers.count is None:
            return None
        policy = RetryPolicy(count=int(self._number(layers.count, execution, "retry.count")))
        if layers.delay is not None:
            policy.delay = self._number(layers.delay, execution, "retry.delay")
        if layers.backoff is not None:
            policy.backoff = self._number(layers.backoff, execution, "retry.backoff")
        if layers.max_delay is not None:
            policy.max_delay = self._number(layers.max_delay, execution, "retry.max_delay")
        return policy

    # ----------------------------------------------------------------- dispatching

    def _slot_free(self) -> bool:
        limit = self.spec.concurrency
        return not self.state.paused and (limit is None or self.state.in_flight < limit)

    def _request_dispatch(self, execution: Execution) -> None:
        """Dispatch the execution's current attempt now, or when a concurrency slot frees."""
        execution.dispatched = True
        if self._slot_free():
            self._dispatch(execution, None)
        else:
            self.state.waiting_for_slot.append((execution.ref.id, None))

    def _pump_items(self, execution: Execution) -> None:
        """Dispatch as many items as the task's and the run's concurrency allow."""
        items = execution.items
        assert items is not None
        while len(items.in_flight) < items.concurrency:
            if items.retry_queue:
                index = items.retry_queue[0]
            elif items.first_error is None and items.next_index < len(items.items):
                index = items.next_index
            else:
                return
            if not self._slot_free():
                if (execution.ref.id, -1) not in self.state.waiting_for_slot:
                    self.state.waiting_for_slot.append((execution.ref.id, -1))
                return
            if items.retry_queue:
                items.retry_queue.pop(0)
                attempt = items.attempts.pop(index)
            else:
                items.next_index += 1
                # After `do: retry` the execution's count goes on: a rerun item's first
                # attempt is one more than the highest attempt of the round before.
                attempt = 1 if self._original_behaviour else execution.attempt
            items.in_flight[index] = attempt
            self._dispatch(execution, index)

    def _pump_slots(self) -> None:
        """Hand freed concurrency slots to the executions waiting for one, oldest first."""
        state = self.state
        while state.waiting_for_slot and self._slot_free():
            execution_id, item = state.waiting_for_slot.pop(0)
            execution = state.executions.get(execution_id)
            if execution is None:
                continue
            if item == -1:
                self._guarded(execution, self._pump_items)
            else:
                self._guarded(execution, lambda e: self._dispatch(e, None))

    def _dispatch(self, execution: Execution, item: int | None) -> None:
        task = self.spec.tasks[execution.task]
        attempt = execution.attempt if item is None else self._item_attempt(execution, item)
        scope = self._scope(execution, "input", item=item, attempt=attempt)
        rendered = task.input.render(scope) if task.input is not None else {}
        if self.state.behaviour >= Behaviour.CLARIFIED:
            check_payload(rendered, "the action input")
        self.state.in_flight += 1
        if item is None:
            execution.sent = True
        if task.workflow is not None:
            name = task.workflow.render(scope)
            self._out.append(
                StartChildRun(
                    execution.ref,
                    attempt,
                    _text(name, task.workflow, "workflow"),
                    rendered,
                    item,
                    execution.timeout,
                )
            )
            return
        assert task.action is not None
        action = task.action.render(scope)
        self._out.append(
            DispatchAction(
                execution.ref,
                attempt,
                _text(action, task.action, "action"),
                rendered,
                item,
                execution.timeout,
            )
        )

    @staticmethod
    def _item_attempt(execution: Execution, item: int) -> int:
        assert execution.items is not None
        return execution.items.in_flight.get(item, 1)

    # ----------------------------------------------------------------- results

    def _on_result(
        self,
        execution_id: int,
        attempt: int,
        item: int | None,
        status: ExecutionStatus,
        result: Any,
        error: ErrorInfo | None,
    ) -> None:
        state = self.state
        execution = state.executions.get(execution_id)
        if execution is None:
            return  # a result for an execution that was canceled or already failed
        if item is None:
            if execution.items is not None or not execution.dispatched:
                return
            if attempt != execution.attempt or not execution.sent:
                return
            execution.dispatched = execution.sent = False
        else:
            items = execution.items
            if items is None or items.in_flight.get(item) != attempt:
                return
            del items.in_flight[item]
        state.in_flight = max(0, state.in_flight - 1)
        if item is None:
            self._guarded(
                execution, lambda e: self._attempt_done(e, status, result, error, attempt)
            )
        else:
            self._guarded(
                execution, lambda e: self._item_done(e, item, attempt, status, result, error)
            )
        self._pump_slots()

    def _should_retry(
        self,
        execution: Execution,
        attempt: int,
        status: ExecutionStatus,
        result: Any,
        error: ErrorInfo | None,
        item: int | None,
    ) -> float | None:
        """Seconds until the next attempt, or None when this attempt is final."""
        policy = execution.policy
        if policy is None or attempt - 1 >= policy.count:
            return None
        condition = self.program.retry[execution.task].when
        if condition is None:
            wanted = status is ExecutionStatus.FAILED
        else:
            scope = self._scope(
                execution,
                "retry.when",
                status=status,
                result=result,
                error=error,
                item=item,
                attempt=attempt,
            )
            wanted = condition.holds(scope)
        if not wanted:
            return None
        return policy.delay_before(attempt)

    def _attempt_done(
        self,
        execution: Execution,
        status: ExecutionStatus,
        result: Any,
        error: ErrorInfo | None,
        attempt: int,
    ) -> None:
        delay = self._should_retry(execution, attempt, status, result, error, None)
        if delay is None:
            self._complete(execution, status, result, error)
            return
        self._announce_retry(execution, attempt, error, delay, None)
        execution.attempt = attempt + 1
        if delay > 0:
            execution.timer = self._start_timer(TimerKind.RETRY, delay, execution.ref.id)
        else:
            self._request_dispatch(execution)

    def _item_done(
        self,
        execution: Execution,
        index: int,
        attempt: int,
        status: ExecutionStatus,
        result: Any,
        error: ErrorInfo | None,
    ) -> None:
        items = execution.items
        assert items is not None
        delay = self._should_retry(execution, attempt, status, result, error, index)
        if delay is None:  # this item's last attempt
            items.highest_attempt = max(items.highest_attempt, attempt)
        if delay is not None:
            self._announce_retry(execution, attempt, error, delay, index)
            items.attempts[index] = attempt + 1
            if delay > 0:
                items.waiting_retry += 1
                self._start_timer(TimerKind.RETRY, delay, execution.ref.id, index)
            else:
                items.retry_queue.append(index)
        elif status is ExecutionStatus.SUCCEEDED:
            items.results[index] = result
            items.done += 1
        else:
            items.done += 1
            items.failed_items += 1
            if items.first_error is None:
                assert error is not None
                items.first_error = ErrorInfo(
                    error.type, f"item {index}: {error.message}", error.details
                )
        self._pump_items(execution)
        if items.finished:
            if not self._original_behaviour:
                # `$task.attempt` in `next`: the highest attempt any item took.
                execution.attempt = max(execution.attempt, items.highest_attempt)
            if items.first_error is None:
                self._complete(execution, ExecutionStatus.SUCCEEDED, items.results, None)
            else:
                first = items.first_error
                message = first.message
                if items.failed_items > 1:
                    message += f" (and {items.failed_items - 1} more items failed)"
                self._complete(
                    execution,
                    ExecutionStatus.FAILED,
                    items.results,
                    ErrorInfo(first.type, message, first.details),
                )

    def _announce_retry(
        self,
        execution: Execution,
        attempt: int,
        error: ErrorInfo | None,
        delay: float,
        item: int | None,
    ) -> None:
        self._out.append(
            AttemptFailed(
                execution.ref,
                attempt,
                error or ErrorInfo("retry", "the retry condition asked for another attempt"),
                delay,
                item,
            )
        )


def _text(value: Any, template: Template, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ExpressionError(
            f"{field} must evaluate to a non-empty string, got {value!r}"[:200],
            expression=expression_source(template),
            field=field,
        )
    return value
