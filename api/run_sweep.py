"""Reconcile the runs nobody reads: every `SEGUE_RECONCILE_SECONDS` (30 s; 0 turns it
off) one API process asks Temporal about the runs the store has not seen end, and the
runs that ended a short while ago, and writes what Temporal closed them with.

Reconcile on read (api/reconcile.py) only settles the runs someone opens or lists; a
run terminated from Temporal's side that nobody reads would stay RUNNING in the store,
and in what reads the store (`/metrics`, concurrency limit views, schedules). The sweep
settles them through the same `settle_closed`, so a row is written the same way
whichever finds it.

It runs in the API, not the worker: the API is the Temporal client that already owns
reconciling (the worker writes what its workflows decide, and its imports never reach
the API's), and the API can be scaled to one replica or many without changing what a
worker does. Bounded: pages of `MAX_DESCRIBED` rows, one visibility query per page
(never a call per row), at most `MAX_PAGES_PER_SWEEP` pages per tick; a larger set is
covered over several ticks, each taking up where the last stopped. Only one process
sweeps at a time (a PostgreSQL advisory lock; the others skip the tick), and every write
is idempotent, so running it in every replica is harmless. Temporal or PostgreSQL away:
the tick is logged, counted as failed, and the next one tries again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from enum import StrEnum
from typing import Final

import psycopg

from api.metrics import SWEEPS, SWEPT_RUNS
from api.problems import StoreUnavailable
from api.reconcile import settle_closed
from api.services import Services
from engine.store import StoreError
from engine.store.sweep import SweepPosition, runs_to_reconcile, sweep_lock
from engine.temporal.client import MAX_DESCRIBED, TemporalClientError, describe_runs

log = logging.getLogger("segue.api.sweep")

# 10 pages of 200: a tick asks Temporal at most 10 visibility queries.
MAX_PAGES_PER_SWEEP: Final = 10
# Terminal rows are asked about this long after they ended: a final projection Temporal
# refused and a termination after it happen within moments, not hours.
ENDED_WINDOW: Final = timedelta(minutes=10)


class SweepOutcome(StrEnum):
    SWEPT = "swept"
    SKIPPED = "skipped"  # another process held the lock
    FAILED = "failed"


class RunSweep:
    """The background reconciler of one API process (started by the app)."""

    def __init__(
        self,
        services: Services,
        every_seconds: float,
        *,
        page_size: int = MAX_DESCRIBED,
        max_pages: int = MAX_PAGES_PER_SWEEP,
        ended_within: timedelta = ENDED_WINDOW,
    ) -> None:
        if not 1 <= page_size <= MAX_DESCRIBED:
            raise ValueError(f"page_size must be 1..{MAX_DESCRIBED}, got {page_size}")
        self._services = services
        self._every = every_seconds
        self._page_size = page_size
        self._max_pages = max_pages
        self._ended_within = ended_within
        # Where the next tick starts (None: from the oldest run); kept per process.
        self._position: SweepPosition | None = None

    @property
    def pass_complete(self) -> bool:
        """Whether the last sweep reached the newest candidate (the next starts over)."""
        return self._position is None

    def start(self) -> None:
        """Sweep every `every_seconds` for as long as the process serves (the services
        cancel it when they stop); nothing when 0."""
        if self._every > 0:
            self._services.spawn(self._run(), name="segue-run-sweep")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            await self.sweep_once()

    async def sweep_once(self) -> SweepOutcome:
        """One tick: sweep if no other process does; never raises (the log says why)."""
        outcome = SweepOutcome.FAILED
        try:
            async with sweep_lock(self._services.pool) as held:
                if held:
                    await self._sweep()
                    outcome = SweepOutcome.SWEPT
                else:
                    outcome = SweepOutcome.SKIPPED
        except TemporalClientError as error:
            log.warning("runs not reconciled this time: Temporal did not answer (%s)", error)
        except (StoreUnavailable, StoreError, psycopg.Error, OSError) as error:
            log.warning("runs not reconciled this time: the store is away (%s)", error)
        except Exception:  # unforeseen: said loudly, and the next tick tries again
            log.exception("runs not reconciled this time")
        SWEEPS.labels(str(outcome)).inc()
        return outcome

    async def _sweep(self) -> None:
        services = self._services
        for _ in range(self._max_pages):
            page = await runs_to_reconcile(
                services.pool, self._position, self._page_size, self._ended_within
            )
            described = (
                await describe_runs(
                    services.temporal,
                    [record.run_id for record in page],
                    timeout=services.temporal_timeout,
                )
                if page
                else {}
            )
            for record in page:
                found = described.get(record.run_id)
                written = None if found is None else await settle_closed(services, record, found)
                if written is not None and written.status != record.status:
                    SWEPT_RUNS.inc()
                    log.info(
                        "run %s reconciled: Temporal closed it %s", record.run_id, written.status
                    )
            if len(page) < self._page_size:
                self._position = None  # the end: the next tick starts from the oldest
                return
            last = page[-1]
            self._position = SweepPosition(last.created_at, last.run_id)
