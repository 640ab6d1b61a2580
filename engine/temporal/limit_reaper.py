"""The limit reaper: slots whose run can no longer release them go back to the waiters.

A run releases its slots itself on every ending it sees (engine/temporal/limits.py). A
run terminated from Temporal, or one whose history ended while the store was away, sees
none: the reaper asks Temporal about every run holding or waiting for a slot and
releases those that are closed (or unknown to it), waking the waiters that promoted. It
also wakes a promoted waiter whose wake-up signal never arrived (its releaser was
terminated between its release and its signal). It runs in the worker beside the
workflows (it needs both Temporal and the store) and reports the slots in use and the
waiters per limit as gauges.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import MetricMeter
from temporalio.service import RPCError, RPCStatusCode

from engine.store._db import StorePool, fetch_value
from engine.store.limits import (
    Promotion,
    leased_runs,
    limit_usage,
    mark_woken,
    release,
    unwoken_holders,
)
from engine.temporal.run_progress import LiveProgress, QueuedAttempt, QueuedRun
from engine.temporal.types import QUERY_PROGRESS, SIGNAL_LIMIT, LimitSignal

log = logging.getLogger("segue.limits")
TRY_LOCK = "SELECT pg_try_advisory_xact_lock(%s)"

REAP_EVERY = 5.0  # seconds between passes: how long a terminated run's slot stays taken
UNWOKEN_AFTER = 10.0  # seconds a promoted waiter may go without its signal


REAP_PAGE = 200  # runs described per pass: one DescribeWorkflowExecution each
# One worker reaps at a time (a transaction-scoped advisory lock for the pass): more
# workers do not multiply the calls to Temporal. "segue" "rp" as bytes.
REAPER_LOCK_KEY = 0x73656775657270


@dataclass
class ReapReport:
    released: list[str] = field(default_factory=list)  # closed runs whose leases went
    woken: list[str] = field(default_factory=list)  # promoted waiters signalled
    next_after: str = ""  # where the next pass goes on ("" : from the start again)


async def reap_once(client: Client, pool: StorePool, after: str = "") -> ReapReport:
    """One pass over a page of leased runs (from `after`): release the leases of closed
    runs, wake promoted waiters whose wake-up was lost."""
    report = ReapReport()
    page = await leased_runs(pool, after, REAP_PAGE)
    report.next_after = page[-1] if len(page) == REAP_PAGE else ""
    for run_id in page:
        if await _closed(client, run_id):
            report.released.append(run_id)
            for promotion in await release(pool, run_id):
                if await _wake(client, promotion):
                    report.woken.append(promotion.run_id)
                    await mark_woken(pool, promotion)
    # Promotions a releasing run made: its signal normally arrived (the query says the
    # run no longer waits, and the row is marked); one that did not is sent now.
    for promotion in await unwoken_holders(pool, UNWOKEN_AFTER):
        if not await _still_waiting(client, promotion):
            await mark_woken(pool, promotion)
        elif await _wake(client, promotion):
            report.woken.append(promotion.run_id)
            await mark_woken(pool, promotion)
    return report


async def _closed(client: Client, run_id: str) -> bool:
    try:
        described = await client.get_workflow_handle(run_id).describe()
    except RPCError as error:
        # Unknown to Temporal (deleted by retention): nothing will ever release it.
        return error.status == RPCStatusCode.NOT_FOUND
    return described.status not in (None, WorkflowExecutionStatus.RUNNING)


async def _still_waiting(client: Client, promotion: Promotion) -> bool:
    """Whether the promoted run still waits for this slot (a query adds no history)."""
    try:
        progress: LiveProgress = await client.get_workflow_handle(promotion.run_id).query(
            QUERY_PROGRESS, result_type=LiveProgress, rpc_timeout=timedelta(seconds=5)
        )
    except TypeError:  # an answer of another shape (the converter's word): not waiting
        return False
    except Exception:  # no worker to answer now: signal anyway, a duplicate is harmless
        return True
    if promotion.holder:  # a task attempt of the run
        waiting = progress.queued_attempts or []
        return QueuedAttempt(promotion.holder, promotion.name, promotion.key) in waiting
    queued = progress.queued
    return isinstance(queued, QueuedRun) and (queued.limit, queued.key) == (
        promotion.name,
        promotion.key,
    )


async def _wake(client: Client, promotion: Promotion) -> bool:
    try:
        await client.get_workflow_handle(promotion.run_id).signal(
            SIGNAL_LIMIT,
            LimitSignal(promotion.name, promotion.key, holder=promotion.holder),
        )
    except RPCError:
        return False  # closed meanwhile: the next pass releases it
    return True


class LimitGauges:
    """`segue_limit_slots_in_use` and `segue_limit_waiters`, per limit (not per key:
    keys are as many as the inputs)."""

    def __init__(self, meter: MetricMeter) -> None:
        self.in_use = meter.create_gauge(
            "segue_limit_slots_in_use", "Slots of concurrency limits held by runs."
        )
        self.waiters = meter.create_gauge(
            "segue_limit_waiters", "Runs queued for a concurrency limit's slot."
        )
        self.known: set[str] = set()

    async def report(self, pool: StorePool) -> None:
        usage = {u.name: u for u in await limit_usage(pool)}
        for name in self.known | set(usage):
            found = usage.get(name)
            attributes = {"limit": name}
            self.in_use.set(found.holders if found else 0, attributes)
            self.waiters.set(found.waiters if found else 0, attributes)
        self.known |= set(usage)


async def run_reaper(
    client: Client, pool: StorePool, meter: MetricMeter | None = None, every: float = REAP_EVERY
) -> None:
    """Reap until cancelled; a pass that fails (store or Temporal away) is logged and
    the next one tries again."""
    gauges = LimitGauges(meter) if meter is not None else None
    after = ""
    while True:
        try:
            async with pool.connection() as conn, conn.transaction():
                locked = await fetch_value(conn, TRY_LOCK, (REAPER_LOCK_KEY,))
                report = await reap_once(client, pool, after) if locked else ReapReport()
            after = report.next_after
            if report.released:
                log.info("released the limits of closed runs %s", report.released)
            if gauges is not None:
                await gauges.report(pool)
        except Exception:
            log.exception("limit reaper pass failed")
        await asyncio.sleep(every)
