"""The Temporal calls concurrency limits make from the workflow, for the run's own limits
(engine/temporal/limits.py) and its tasks' (engine/temporal/task_limits.py): how the
limiter activities are retried, believing a `limit` signal only when the store bears it
out, and waking (or cancelling) the runs a release or an acquire names."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from engine.language.spec import LimitSpec
    from engine.temporal.run_state import RunState
    from engine.temporal.types import (
        LIMIT_STANDING,
        SIGNAL_LIMIT,
        LimitPromotion,
        LimitSignal,
        LimitStanding,
    )

# The limiter is one short transaction: retry a store that is briefly away for as long as
# it takes (a run that gave up here would run unlimited or strand its slot).
LIMITER_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["limits_need_store"],
)
LIMITER_TIMEOUT = timedelta(seconds=30)
# Behaviour 3 runs recorded since the gate confirms a `limit` signal with the store carry
# this marker (limits.json, recorded before, believes the signal: it must replay so).
STANDING_PATCH = "segue-limit-standing"


async def believed(run: RunState, limit: LimitSpec, key: str, holder: str = "") -> bool:
    """Whether the store bears out the `limit` signal that ended the wait. Anyone who can
    reach Temporal (or a stale duplicate) can send one; only a releaser's (or the
    reaper's) promotion in PostgreSQL admits the run. A grant is believed when the run
    holds; a wait's end (debounce) when its place is gone. What is not believed is
    forgotten, and the run waits on. Runs recorded before this check (no marker in
    their history) believe the signal, as they did."""
    if not workflow.patched(STANDING_PATCH):
        return True
    gate = run.limits
    found = await workflow.execute_activity(
        LIMIT_STANDING,
        LimitStanding(workflow.info().workflow_id, limit.name, key, holder),
        result_type=str,
        start_to_close_timeout=LIMITER_TIMEOUT,
        retry_policy=LIMITER_RETRY,
    )
    if (limit.name, key, holder) in gate.granted:
        if found == "holding":
            return True
        gate.granted.discard((limit.name, key, holder))
    if gate.ended is not None and not holder:
        if found == "gone":
            return True
        gate.ended = None
    return False


async def wake(run: RunState, promoted: list[LimitPromotion]) -> None:
    """Signal each waiter (a run, or a task attempt in one) that a release promoted. A
    task attempt of this very run is told directly: a run cannot signal itself."""
    own = workflow.info().workflow_id
    for promotion in promoted:
        signal = LimitSignal(promotion.name, promotion.key, holder=promotion.holder)
        if promotion.run_id == own:
            run.limits.deliver(signal)
        else:
            await signal_run(promotion.run_id, signal)


async def signal_run(run_id: str, signal: LimitSignal) -> None:
    # A run that is gone (terminated) refuses: the reaper releases its row, wakes the next.
    with contextlib.suppress(FailureError):
        await workflow.get_external_workflow_handle(run_id).signal(SIGNAL_LIMIT, signal)


async def cancel_run(run_id: str) -> None:
    with contextlib.suppress(FailureError):  # gone already: the reaper hands its slot over
        await workflow.get_external_workflow_handle(run_id).cancel()
