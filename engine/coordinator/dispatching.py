"""From an execution's start to its last attempt: delays, retries, with-items,
concurrency slots, dispatching actions and taking their results."""

from __future__ import annotations

from typing import Any

from engine.coordinator import completion
from engine.coordinator.base import (
    Machine,
    expression_source,
    number,
    scope_for,
    start_timer,
)
from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import (
    AttemptFailed,
    DispatchAction,
    ExecutionStatus,
    StartChildRun,
    TimerKind,
)
from engine.coordinator.events import (
    ErrorInfo,
)
from engine.coordinator.lifecycle import ExecutionEvent, ExecutionPhase
from engine.coordinator.paths import guarded
from engine.coordinator.payloads import (
    MAX_ITEM_RESULTS_BYTES,
    PAYLOAD_TOO_LARGE,
    check_payload,
    payload_size,
)
from engine.coordinator.state import (
    Execution,
    ItemsProgress,
    RetryPolicy,
    SlotWait,
)
from engine.expressions import ExpressionError, Template


def _retry_policy(m: Machine, execution: Execution) -> RetryPolicy | None:
    """The execution's retry policy: task, action and default layers."""
    layers = m.program.retry[execution.task]
    task = m.spec.tasks[execution.task]
    if m.action_retry_defaults and task.action is not None:
        action = task.action.render(scope_for(m, execution, "action"))
        layers = layers.under(m.action_retry_defaults.get(str(action)))
    if layers.count is None:
        return None
    policy = RetryPolicy(count=int(number(m, layers.count, execution, "retry.count")))
    if layers.delay is not None:
        policy.delay = number(m, layers.delay, execution, "retry.delay")
    if layers.backoff is not None:
        policy.backoff = number(m, layers.backoff, execution, "retry.backoff")
    if layers.max_delay is not None:
        policy.max_delay = number(m, layers.max_delay, execution, "retry.max_delay")
    return policy


def _slot_free(m: Machine) -> bool:
    """Whether the run's `concurrency` lets one more dispatch out now."""
    limit = m.spec.concurrency
    return not m.state.paused and (limit is None or m.state.in_flight < limit)


def request_dispatch(m: Machine, execution: Execution) -> None:
    """Dispatch the execution's current attempt now, or when a concurrency slot frees."""
    execution.advance(ExecutionEvent.QUEUE)
    if _slot_free(m):
        dispatch(m, execution, None)
    else:
        m.state.waiting_for_slot.append(SlotWait(execution.ref.id))


def pump_items(m: Machine, execution: Execution) -> None:
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
        if not _slot_free(m):
            wait = SlotWait(execution.ref.id, items=True)
            if wait not in m.state.waiting_for_slot:
                m.state.waiting_for_slot.append(wait)
            return
        if items.retry_queue:
            items.retry_queue.pop(0)
            attempt = items.attempts.pop(index)
        else:
            items.next_index += 1
            # After `do: retry` the execution's count goes on: a rerun item's first
            # attempt is one more than the highest attempt of the round before.
            attempt = 1 if m.state.behaviour is Behaviour.ORIGINAL else execution.attempt
        items.in_flight[index] = attempt
        dispatch(m, execution, index)


def pump_slots(m: Machine) -> None:
    """Hand freed concurrency slots to the executions waiting for one, oldest first."""
    state = m.state
    while state.waiting_for_slot and _slot_free(m):
        wait = state.waiting_for_slot.pop(0)
        execution = state.executions.get(wait.execution)
        if execution is None:
            continue
        if wait.items:
            guarded(m, execution, pump_items)
        else:
            guarded(m, execution, lambda m, e: dispatch(m, e, None))


def dispatch(m: Machine, execution: Execution, item: int | None) -> None:
    """Render the input and send one attempt (or one item) out as a command."""
    task = m.spec.tasks[execution.task]
    attempt = execution.attempt if item is None else _item_attempt(execution, item)
    scope = scope_for(m, execution, "input", item=item, attempt=attempt)
    rendered = task.input.render(scope) if task.input is not None else {}
    if m.state.behaviour >= Behaviour.CLARIFIED:
        check_payload(rendered, "the action input")
    m.state.in_flight += 1
    if item is None:
        execution.advance(ExecutionEvent.SEND)
    if task.workflow is not None:
        name = task.workflow.render(scope)
        m.out.append(
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
    m.out.append(
        DispatchAction(
            execution.ref,
            attempt,
            _text(action, task.action, "action"),
            rendered,
            item,
            execution.timeout,
        )
    )


def _item_attempt(execution: Execution, item: int) -> int:
    assert execution.items is not None
    return execution.items.in_flight.get(item, 1)


def on_result(
    m: Machine,
    execution_id: int,
    attempt: int,
    item: int | None,
    status: ExecutionStatus,
    result: Any,
    error: ErrorInfo | None,
) -> None:
    """An attempt's result: retry, next item, or complete the execution."""
    state = m.state
    execution = state.executions.get(execution_id)
    if execution is None:
        return  # a result for an execution that was canceled or already failed
    if item is None:
        if execution.phase is not ExecutionPhase.SENT or attempt != execution.attempt:
            return  # not out (queued for a slot, with-items) or a stale attempt
        execution.advance(ExecutionEvent.REPORT)
    else:
        items = execution.items
        if items is None or items.in_flight.get(item) != attempt:
            return
        del items.in_flight[item]
    state.in_flight = max(0, state.in_flight - 1)
    if item is None:
        guarded(m, execution, lambda m, e: _attempt_done(m, e, status, result, error, attempt))
    else:
        guarded(m, execution, lambda m, e: _item_done(m, e, item, attempt, status, result, error))
    pump_slots(m)


def _should_retry(
    m: Machine,
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
    condition = m.program.retry[execution.task].when
    if condition is None:
        wanted = status is ExecutionStatus.FAILED
    else:
        scope = scope_for(
            m,
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
    m: Machine,
    execution: Execution,
    status: ExecutionStatus,
    result: Any,
    error: ErrorInfo | None,
    attempt: int,
) -> None:
    """An attempt of a plain execution ended: retry it or complete."""
    delay = _should_retry(m, execution, attempt, status, result, error, None)
    if delay is None:
        completion.complete(m, execution, status, result, error)
        return
    announce_retry(m, execution, attempt, error, delay, None)
    execution.attempt = attempt + 1
    if delay > 0:
        execution.timer = start_timer(m, TimerKind.RETRY, delay, execution.ref.id)
        execution.advance(ExecutionEvent.BACK_OFF)
    else:
        request_dispatch(m, execution)


def _item_done(
    m: Machine,
    execution: Execution,
    index: int,
    attempt: int,
    status: ExecutionStatus,
    result: Any,
    error: ErrorInfo | None,
) -> None:
    """An attempt of a with-items item ended: retry it, record it, go on."""
    items = execution.items
    assert items is not None
    delay = _should_retry(m, execution, attempt, status, result, error, index)
    if delay is None:  # this item's last attempt
        items.highest_attempt = max(items.highest_attempt, attempt)
    if delay is not None:
        announce_retry(m, execution, attempt, error, delay, index)
        items.attempts[index] = attempt + 1
        if delay > 0:
            items.waiting_retry += 1
            start_timer(m, TimerKind.RETRY, delay, execution.ref.id, index)
        else:
            items.retry_queue.append(index)
    elif status is ExecutionStatus.SUCCEEDED and not _over_item_cap(m, items, index, result):
        items.results[index] = result
        items.done += 1
    elif status is ExecutionStatus.SUCCEEDED:  # its result would pass the cap: it fails
        items.done += 1
        items.failed_items += 1
        if items.first_error is None:
            items.first_error = ErrorInfo(
                PAYLOAD_TOO_LARGE,
                f"item {index}: with its result of {payload_size(result):,} bytes as JSON, "
                f"the results of this task's items would pass the "
                f"{MAX_ITEM_RESULTS_BYTES:,} a with-items task keeps",
            )
    else:
        items.done += 1
        items.failed_items += 1
        if items.first_error is None:
            assert error is not None
            items.first_error = ErrorInfo(
                error.type, f"item {index}: {error.message}", error.details
            )
    pump_items(m, execution)
    if items.finished:
        if m.state.behaviour is not Behaviour.ORIGINAL:
            # `$task.attempt` in `next`: the highest attempt any item took.
            execution.attempt = max(execution.attempt, items.highest_attempt)
        if items.first_error is None:
            completion.complete(m, execution, ExecutionStatus.SUCCEEDED, items.results, None)
        else:
            first = items.first_error
            message = first.message
            if items.failed_items > 1:
                message += f" (and {items.failed_items - 1} more items failed)"
            completion.complete(
                m,
                execution,
                ExecutionStatus.FAILED,
                items.results,
                ErrorInfo(first.type, message, first.details),
            )


def _over_item_cap(m: Machine, items: ItemsProgress, index: int, result: Any) -> bool:
    """Whether keeping this item's result passes MAX_ITEM_RESULTS_BYTES (behaviour 5;
    never on earlier ones, which do not measure); counts it in when it does not."""
    if m.state.behaviour < Behaviour.TIMED:
        return False
    size = payload_size(result) if result is not None else 0
    if items.result_bytes + size > MAX_ITEM_RESULTS_BYTES:
        return True
    items.result_bytes += size
    return False


def announce_retry(
    m: Machine,
    execution: Execution,
    attempt: int,
    error: ErrorInfo | None,
    delay: float,
    item: int | None,
) -> None:
    """Say that an attempt failed and another follows (a trace event)."""
    m.out.append(
        AttemptFailed(
            execution.ref,
            attempt,
            error or ErrorInfo("retry", "the retry condition asked for another attempt"),
            delay,
            item,
        )
    )


def begin(m: Machine, execution: Execution) -> None:
    """An execution starts: its `delay` first, if any, else it runs."""
    task = m.spec.tasks[execution.task]
    if task.delay is not None:
        seconds = number(m, task.delay, execution, "delay")
        if seconds > 0:
            execution.timer = start_timer(m, TimerKind.DELAY, seconds, execution.ref.id)
            execution.advance(ExecutionEvent.DELAY)
            return
    run_execution(m, execution)


def run_execution(m: Machine, execution: Execution) -> None:
    """Run the task: complete a pass-through, else dispatch it or its items."""
    task = m.spec.tasks[execution.task]
    if task.is_pass_through:
        completion.complete(m, execution, ExecutionStatus.SUCCEEDED, None, None)
        return
    execution.policy = _retry_policy(m, execution)
    if task.timeout is not None:
        execution.timeout = number(m, task.timeout, execution, "timeout") or None
    if task.with_items is None:
        request_dispatch(m, execution)
        return
    items = task.with_items.items.render(scope_for(m, execution, "with.items"))
    if not isinstance(items, list):
        raise ExpressionError(
            f"with.items must evaluate to a list, got {type(items).__name__}",
            expression=expression_source(task.with_items.items),
            field="with.items",
        )
    concurrency = len(items)
    if task.with_items.concurrency is not None:
        concurrency = int(number(m, task.with_items.concurrency, execution, "concurrency"))
    concurrency = max(1, min(concurrency, m.item_limit))
    execution.items = ItemsProgress(list(items), concurrency, results=[None] * len(items))
    execution.advance(ExecutionEvent.RUN_ITEMS)
    if not items:
        completion.complete(m, execution, ExecutionStatus.SUCCEEDED, [], None)
        return
    pump_items(m, execution)


def _text(value: Any, template: Template, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise ExpressionError(
            f"{field} must evaluate to a non-empty string, got {value!r}"[:200],
            expression=expression_source(template),
            field=field,
        )
    return value
