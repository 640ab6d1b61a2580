"""Concurrency limits across runs, in the workflow: admission before the first task and
release on every ending.

A new run (behaviour OBSERVED or later) of a workflow that declares `concurrency_limits`
asks the limiter (an activity over PostgreSQL) for each limit in name order, so two runs
never wait for each other in a cycle. Queued, it records WORKFLOW_QUEUED with the limit and
its position, shows status QUEUED, and waits for the `limit` signal the releasing run (or
the reaper, engine/temporal/limit_reaper.py) sends: no timer, no polling. Refused, it
ends cancelled (`cancel_new`, a superseded `debounce` waiter) or failed (`fail`, a key
that does not render). Whatever ends the run, it releases before it reports its end and
wakes the waiters its release promoted; a run that cannot (terminated) is the reaper's.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.coordinator import CancelRequested, FailRequested, TimerFired
    from engine.coordinator.behaviour import Behaviour
    from engine.coordinator.error_types import ErrorType
    from engine.expressions import ExpressionError, Scope
    from engine.language.concurrency_limits import render_key
    from engine.language.spec import LimitSpec
    from engine.temporal.compiled import compiled_spec
    from engine.temporal.driver import drive, feed
    from engine.temporal.limit_calls import (
        LIMITER_RETRY,
        LIMITER_TIMEOUT,
        believed,
        cancel_run,
        signal_run,
        wake,
    )
    from engine.temporal.run_state import RunState
    from engine.temporal.types import (
        ACQUIRE_LIMIT,
        RELEASE_LIMITS,
        LimitAcquire,
        LimitAnswer,
        LimitPromotion,
        LimitSignal,
    )

LIMIT_FULL = ErrorType.LIMIT_FULL


async def drive_admitted(run: RunState) -> str:
    """`drive`, once the run holds every limit it declares (or has ended without)."""
    await admit(run)
    return await drive(run)


def declared_limits(run: RunState) -> tuple[LimitSpec, ...]:
    """The limits this run takes part in: none for runs on an older behaviour, or for a
    run continued as new (it already holds them)."""
    params = run.input
    if params.snapshot is not None:
        return ()
    if run.behaviour < Behaviour.OBSERVED:
        return ()
    return compiled_spec(params).limits


async def admit(run: RunState) -> None:
    limits = declared_limits(run)
    state = run.coordinator.state
    if not limits or state.initial is None or run.finish is not None:
        return  # nothing declared, or the input was refused: the run ends at once
    run_id = workflow.info().workflow_id
    scope = Scope(
        ctx=state.initial.values, run={"id": run_id}, now_ms=run.now_ms(), seed=f"{run_id}:limits"
    )
    for limit in limits:
        try:
            key = render_key(limit, scope)
        except ExpressionError as error:
            feed(run, FailRequested(run.now_ms(), "expression", str(error)))
            return
        run.limits.asked = True
        answer = await workflow.execute_activity(
            ACQUIRE_LIMIT,
            LimitAcquire(run_id, limit.name, key, limit.capacity, limit.strategy, limit.priority),
            result_type=LimitAnswer,
            start_to_close_timeout=LIMITER_TIMEOUT,
            retry_policy=LIMITER_RETRY,
            # The acquire commits even when the run is cancelled meanwhile: wait for it,
            # so the release that follows finds the row.
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        for superseded in answer.superseded:
            await signal_run(superseded, LimitSignal(limit.name, key, False, "superseded"))
        for holder in answer.evict:
            await cancel_run(holder)
        if answer.outcome == "refused":
            _refuse(run, limit, key)
            return
        if answer.outcome == "queued" and not await _wait(run, limit, key, answer.position):
            return


def _refuse(run: RunState, limit: LimitSpec, key: str) -> None:
    reason = f"limit {limit.name!r} is full for key {key!r} ({limit.capacity} at a time)"
    if limit.strategy == "fail":
        feed(run, FailRequested(run.now_ms(), LIMIT_FULL, reason))
    else:
        _end_cancelled(run, reason)


def _end_cancelled(run: RunState, reason: str) -> None:
    """End the run CANCELLED with `reason`. Temporal refuses a workflow's request to
    cancel itself, so the execution closes completed; the run's projection says
    CANCELLED and the API shows that (api/reconcile.py, REFINED_BY_THE_WORKFLOW)."""
    feed(run, CancelRequested(run.now_ms(), reason))


async def _wait(run: RunState, limit: LimitSpec, key: str, position: int | None) -> bool:
    """Wait for the slot; False when the run ends first (superseded, timed out)."""
    gate = run.limits
    gate.waiting_for, gate.position = (limit.name, key), position
    run.trace.queued(run.now_ms(), limit.name, key, position)
    run.projection_dirty = True
    while True:
        # A run timeout still applies while queued; pause and resume wait for the drive
        # loop.
        await workflow.wait_condition(
            lambda: (
                (limit.name, key, "") in gate.granted
                or gate.ended is not None
                or any(isinstance(event, TimerFired) for event in run.inbox)
            )
        )
        woken = (limit.name, key, "") in gate.granted or gate.ended is not None
        if woken and not await believed(run, limit, key):
            continue  # a `limit` signal the store does not bear out: keep waiting
        break
    gate.waiting_for, gate.position = None, None
    run.projection_dirty = True
    if (limit.name, key, "") in gate.granted:
        return True
    if gate.ended is not None:
        _end_cancelled(run, f"limit {limit.name!r}: {gate.ended}")
        return False
    events, run.inbox = run.inbox, []
    for event in events:
        feed(run, event)
    return run.finish is None and await _wait(run, limit, key, position)


async def release_limits(run: RunState) -> None:
    """Give up every slot and place in line of this run and wake whom that promoted.
    Called on every ending except continue-as-new (the run goes on holding)."""
    if not run.limits.asked:
        return
    promoted = await workflow.execute_activity(
        RELEASE_LIMITS,
        workflow.info().workflow_id,
        result_type=list[LimitPromotion],
        start_to_close_timeout=LIMITER_TIMEOUT,
        retry_policy=LIMITER_RETRY,
    )
    run.limits.asked = False
    await wake(run, promoted)
