"""Reconcile on read: a run view shows only what Temporal has accepted.

The store is a projection. It can say a run ended that Temporal still runs (the final
projection is written just before the workflow completes, and Temporal can still
refuse the completion), and it can say a run runs that Temporal closed (terminated from
Temporal's side, a child closed by its parent's policy, a time-out): the workflow
cannot write those ends. So `GET /runs/{id}` asks Temporal about every run (one
describe) and `GET /runs` about every row of the page (one visibility query per 200
rows, never a call per row); a status Temporal closed with is written to the projection
(`closed_by_temporal`), with its history length; a terminal row Temporal still runs is
shown RUNNING and left for the workflow to finish. When Temporal cannot be asked, or
no longer keeps the run (retention), the projection is shown as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec

from api.runs import TERMINAL_NAMES, current_status, settle_from_temporal, status_view
from api.services import Services
from api.wire import RunStatusView
from engine.store import RunRecord, RunStatus
from engine.temporal.client import (
    MAX_DESCRIBED,
    RunDescription,
    TemporalClientError,
    describe_run,
    describe_runs,
)

log = logging.getLogger("segue.api")


async def reconciled_status(services: Services, record: RunRecord) -> RunStatusView:
    """The status payload of one run, as Temporal has it."""
    if not record.status.is_terminal:
        return await current_status(services, record)
    try:
        described = await describe_run(
            services.temporal, record.run_id, timeout=services.temporal_timeout
        )
    except TemporalClientError:  # not kept any more, or Temporal away: the projection
        return status_view(record)
    return await _reconciled(services, record, described)


async def reconciled_page(
    services: Services, records: Sequence[RunRecord], wanted: RunStatus | None
) -> list[RunStatusView]:
    """The status payloads of a page of runs, as Temporal has them; with a status
    filter, rows whose true status is another are left out."""
    described: dict[str, RunDescription] = {}
    ids = [record.run_id for record in records]
    try:
        for start in range(0, len(ids), MAX_DESCRIBED):
            described |= await describe_runs(
                services.temporal,
                ids[start : start + MAX_DESCRIBED],
                timeout=services.temporal_timeout,
            )
    except TemporalClientError as error:
        log.warning("runs listed from the store alone: Temporal did not answer (%s)", error)
    views = []
    for record in records:
        found = described.get(record.run_id)
        view = status_view(record) if found is None else await _reconciled(services, record, found)
        if wanted is None or view.status == str(wanted):
            views.append(view)
    return views


# Ends the workflow gives a run itself that Temporal has no close for: a run it cancelled
# itself (a concurrency limit's `cancel_new`, a superseded `debounce` waiter; Temporal
# refuses a workflow's request to cancel itself) closes COMPLETED, a run timeout FAILED.
# The workflow's own projection, written before it closed, has the precise word.
REFINED_BY_THE_WORKFLOW = frozenset({("COMPLETED", "CANCELLED"), ("FAILED", "TIMED_OUT")})


async def settle_closed(
    services: Services, record: RunRecord, described: RunDescription
) -> RunRecord | None:
    """Write to the projection the end Temporal closed the run with (and its history
    length) when the row says otherwise; the row as written, or None when there was
    nothing to write (Temporal still runs it, or the row already agrees). Reads and the
    background sweep (api/run_sweep.py) both settle through here."""
    if (str(described.status), str(record.status)) in REFINED_BY_THE_WORKFLOW:
        return None
    if described.status not in TERMINAL_NAMES:
        return None
    if described.status == str(record.status) and (
        not described.history_length or described.history_length == record.history_length
    ):
        return None
    return await settle_from_temporal(services, record, described)


async def _reconciled(
    services: Services, record: RunRecord, described: RunDescription
) -> RunStatusView:
    if (str(described.status), str(record.status)) in REFINED_BY_THE_WORKFLOW:
        return status_view(record, history_length=described.history_length or None)
    if described.status in TERMINAL_NAMES:
        record = await settle_closed(services, record, described) or record
        return status_view(
            record,
            status=described.status,
            history_length=described.history_length or record.history_length,
        )
    if record.status.is_terminal:
        # The projection got ahead of Temporal, which has not accepted this end (yet).
        unaccepted = msgspec.structs.replace(record, completed_at=None, output=None, failure=None)
        return status_view(
            unaccepted,
            status="RUNNING",
            history_length=described.history_length or record.history_length,
        )
    return status_view(record)
