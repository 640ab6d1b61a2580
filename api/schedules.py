"""Schedules: the catalog (engine/store/schedules.py) is the desired state, and Temporal's
Schedules are reconciled to it (engine/temporal/schedules.py) after every change and at
start-up. Route handlers call these and stay thin."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Final

from jsonschema import Draft202012Validator

from api.problems import ApiProblem, conflict, not_found
from api.runs import iso
from api.services import Services
from api.wire import ScheduledRunView, ScheduleOutcome, ScheduleView
from engine.language.schedules import read_schedule, schedule_problems, schedule_to_json
from engine.language.schema import workflow_schema
from engine.masking import mask_fields
from engine.store import WorkflowVersion, get_workflow_version
from engine.store import schedules as catalog
from engine.temporal.client import ExecutionNotFound, TemporalClientError, TemporalUnavailable
from engine.temporal.schedules import (
    ScheduleStatus,
    describe_schedule,
    ensure_schedule,
    remove_schedule,
    schedule_id,
    temporal_schedule,
)
from engine.temporal.types import InterpreterInput

log = logging.getLogger("segue.api")

# A workflow's file declares at most 20 (the schema); the API may add as many again.
MAX_SCHEDULES_PER_WORKFLOW: Final = 40
MAX_BACKFILL: Final = timedelta(days=366)
# Temporal buffers about a thousand starts per schedule; a larger backfill would be cut
# short silently (cron windows are bounded by Temporal alone).
MAX_BACKFILL_STARTS: Final = 1000
_RECONCILE_RETRY_SECONDS = 5.0
_RECONCILE_LOCK_CLASS = 0x5C4E
_RECONCILE_PARALLEL = 4


@cache
def _schedule_validator() -> Draft202012Validator:
    schema = workflow_schema()
    return Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/schedule"})


def declared_from_request(body: Any) -> dict[str, Any]:
    """A schedule given to the API, checked as a file's would be; 422 SCHEDULE_INVALID
    lists every problem (path inside the schedule and reason)."""
    errors = [
        {"path": "/" + "/".join(map(str, error.absolute_path)), "reason": error.message[:300]}
        for error in sorted(_schedule_validator().iter_errors(body), key=lambda e: list(e.path))
    ]
    if not errors:
        errors = [
            {"path": "/" + "/".join(map(str, path)), "reason": reason}
            for path, reason in schedule_problems(body)
        ]
    if errors:
        raise ApiProblem(
            422,
            "SCHEDULE_INVALID",
            f"the schedule is invalid ({len(errors)} problem(s))",
            errors=errors,
        )
    return schedule_to_json(read_schedule("_", body))


@contextlib.asynccontextmanager
async def _reconcile_lock(services: Services, workflow: str) -> AsyncIterator[None]:
    """One reconcile of a workflow at a time across API processes: otherwise one that read
    a schedule before another removed it could create it again in Temporal."""
    async with services.pool.connection() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_RECONCILE_LOCK_CLASS, workflow)
        )
        yield


async def reconcile(
    services: Services, workflow: str, *, force: bool = False
) -> list[ScheduleOutcome]:
    """Make Temporal's schedules of `workflow` match the catalog: create or update each
    one, delete those marked for removal. Idempotent; a schedule that fails is reported
    (and its `problem` recorded) without stopping the others. Temporal away: raises.
    A schedule already applied as it is now is left alone unless `force` (start-up:
    someone may have changed or deleted it in Temporal meanwhile)."""
    async with _reconcile_lock(services, workflow):
        version = await get_workflow_version(services.pool, workflow)
        rows = await catalog.list_schedules(services.pool, workflow)
        # A few at a time: each is an input check and a Temporal call or two.
        gate = asyncio.Semaphore(_RECONCILE_PARALLEL)

        async def one(row: catalog.ScheduleRow) -> ScheduleOutcome:
            async with gate:
                return await _reconcile_one(services, workflow, version, row, force)

        return list(await asyncio.gather(*(one(row) for row in rows)))


async def _reconcile_one(
    services: Services,
    workflow: str,
    version: WorkflowVersion | None,
    row: catalog.ScheduleRow,
    force: bool,
) -> ScheduleOutcome:
    sid = schedule_id(workflow, row.name)
    if row.removing or version is None:
        await remove_schedule(services.temporal, sid, timeout=services.temporal_timeout)
        await catalog.forget_removed(services.pool, workflow, row.name)
        return ScheduleOutcome(name=row.name, outcome="removed")
    retry_defaults = services.catalog.retry_defaults()
    fingerprint = _fingerprint(row, version, services.config.task_queue, retry_defaults)
    if fingerprint == row.applied and not force:
        return ScheduleOutcome(name=row.name, outcome="unchanged", problem=row.problem)
    spec = read_schedule(row.name, row.declared)
    values, problems = await services.prepare_input(version, spec.input)
    problem = None
    if problems:
        # It could only start runs that fail on their input: kept paused, and why.
        problem = f"its input breaks the input schema of version {version.version}: " + (
            "; ".join(f"{p.path}: {p.reason}" for p in problems)
        )
    params = InterpreterInput(
        run_id="",
        workflow=version.name,
        version=str(version.version),
        yaml=version.yaml,
        input=values,
        task_queue=services.config.task_queue,
        action_retry_defaults=retry_defaults,
        schedule_id=sid,
    )
    schedule = temporal_schedule(spec, params, paused=row.paused or problem is not None)
    try:
        outcome = await ensure_schedule(
            services.temporal,
            sid,
            schedule,
            exists=row.applied is not None,
            timeout=services.temporal_timeout,
        )
    except TemporalUnavailable:
        raise
    except TemporalClientError as error:
        problem, outcome = f"Temporal refused the schedule: {error.message}", "failed"
    applied = None if outcome == "failed" else fingerprint
    await catalog.set_outcome(services.pool, workflow, row.name, problem, applied)
    return ScheduleOutcome(name=row.name, outcome=outcome, problem=problem)


def _fingerprint(
    row: catalog.ScheduleRow,
    version: WorkflowVersion,
    task_queue: str,
    retry_defaults: dict[str, dict[str, float]],
) -> str:
    """Everything the Temporal schedule is made from, hashed."""
    made_of = [row.declared, row.paused, version.version, version.content_hash]
    canonical = json.dumps([*made_of, task_queue, retry_defaults], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def reconcile_quietly(services: Services, workflow: str) -> list[ScheduleOutcome]:
    """`reconcile`, with Temporal away reported as one outcome, and retried in the
    background until it is back (and, failing that, at the next start-up)."""
    try:
        return await reconcile(services, workflow)
    except TemporalUnavailable:
        services.spawn(_retry(services, workflow), f"segue-schedules-{workflow}")
        return [
            ScheduleOutcome(
                name="*",
                outcome="pending",
                problem="Temporal cannot be reached; the schedules are applied when it is back",
            )
        ]


async def _retry(services: Services, workflow: str) -> None:
    delay = _RECONCILE_RETRY_SECONDS
    while True:
        await asyncio.sleep(delay)
        try:
            await reconcile(services, workflow)
        except Exception as error:  # keep trying; the log says why
            log.warning("schedules of %r not reconciled yet (%s); retrying", workflow, error)
            delay = min(delay * 2, 300.0)
            continue
        return


class ScheduleKeeper:
    """At start-up, reconciles every workflow with schedules, retrying while Temporal or
    the database is away: changes made while this process was down (or a reconcile cut
    short by a crash) are finished here."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="segue-schedule-keeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        await self._services.store.ready.wait()
        while True:
            try:
                rows = await catalog.list_schedules(self._services.pool)
                for workflow in dict.fromkeys(row.workflow_name for row in rows):
                    await reconcile(self._services, workflow, force=True)
            except Exception as error:  # keep trying; the log says why
                log.warning("schedules not reconciled yet (%s); retrying", error)
                await asyncio.sleep(_RECONCILE_RETRY_SECONDS)
                continue
            self.done.set()
            return


async def require_row(services: Services, workflow: str, name: str) -> catalog.ScheduleRow:
    row = await catalog.get_schedule(services.pool, workflow, name)
    if row is None or row.removing:
        raise not_found("SCHEDULE_NOT_FOUND", f"workflow {workflow!r} has no schedule {name!r}")
    return row


async def put_api_schedule(
    services: Services, workflow: str, name: str, declared: dict[str, Any]
) -> catalog.ScheduleRow:
    """Create or replace a schedule through the API (never one the file declares)."""
    existing = await catalog.list_schedules(services.pool, workflow)
    same = next((row for row in existing if row.name == name and not row.removing), None)
    if same is not None and same.origin == "workflow":
        raise conflict(
            "SCHEDULE_DECLARED_IN_FILE",
            f"schedule {name!r} is declared in the workflow file; change it there",
        )
    if same is None and sum(not row.removing for row in existing) >= MAX_SCHEDULES_PER_WORKFLOW:
        raise conflict(
            "TOO_MANY_SCHEDULES",
            f"workflow {workflow!r} has {MAX_SCHEDULES_PER_WORKFLOW} schedules, the most allowed",
        )
    return await catalog.put_schedule(services.pool, workflow, name, declared)


async def schedule_view(
    services: Services, row: catalog.ScheduleRow, latest: WorkflowVersion | None = None
) -> ScheduleView:
    """The row with what Temporal says of it (without it when Temporal has none).
    `latest`: the workflow's latest version, when the caller has it already."""
    sid = schedule_id(row.workflow_name, row.name)
    view = ScheduleView(
        workflow=row.workflow_name,
        name=row.name,
        schedule_id=sid,
        origin="workflow" if row.origin == "workflow" else "api",
        declared=await _shown(services, row, latest),
        paused=row.paused,
        in_temporal=True,
        problem=row.problem,
    )
    try:
        status = await describe_schedule(services.temporal, sid, timeout=services.temporal_timeout)
    except ExecutionNotFound:
        view.in_temporal = False
        return view
    return _with_status(view, status)


async def _shown(
    services: Services, row: catalog.ScheduleRow, latest: WorkflowVersion | None
) -> dict[str, Any]:
    """The schedule as declared, its input's declared secrets masked (`***`), as a run's
    input is shown: the latest version's input schema says which are secret."""
    declared = dict(row.declared)
    if isinstance(declared.get("input"), dict):
        version = latest or await get_workflow_version(services.pool, row.workflow_name)
        if version is not None:
            secret = (await services.versions.program(version)).spec.secret_inputs
            declared["input"] = mask_fields(declared["input"], secret)
    return declared


def _with_status(view: ScheduleView, status: ScheduleStatus) -> ScheduleView:
    view.paused = status.paused
    view.note = status.note or None
    view.next_runs = [iso(moment) for moment in status.next_times]
    view.recent_runs = [
        ScheduledRunView(
            run_id=start.run_id,
            scheduled_at=iso(start.scheduled_at),
            started_at=iso(start.started_at),
        )
        for start in status.recent
    ]
    view.running = status.running
    view.actions = status.actions
    view.missed_catchup = status.missed_catchup
    view.skipped_overlap = status.skipped_overlap
    return view


def backfill_window(start: str, end: str, declared: dict[str, Any]) -> tuple[datetime, datetime]:
    """The backfill's bounds: aware instants, start before end, at most a year apart,
    and (for an interval) at most `MAX_BACKFILL_STARTS` starts in between."""
    bounds = []
    for key, text in (("start", start), ("end", end)):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ApiProblem(
                400, "INVALID_REQUEST", f"`{key}` must be an ISO 8601 date-time with a zone"
            )
        bounds.append(moment)
    first, last = bounds
    if not first < last <= first + MAX_BACKFILL:
        raise ApiProblem(
            400,
            "INVALID_REQUEST",
            "a backfill needs `start` before `end`, at most 366 days apart",
        )
    every = declared.get("every")
    if every and (last - first).total_seconds() / float(every) > MAX_BACKFILL_STARTS:
        raise ApiProblem(
            400,
            "BACKFILL_TOO_LARGE",
            f"this window holds more than {MAX_BACKFILL_STARTS} starts of an interval of "
            f"{every:g} s; backfill a shorter window",
        )
    return first, last
