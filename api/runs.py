"""Runs: starting them, their status payload (Temporal is the authority, the store the
projection), and the control operations. Route handlers call these and stay thin."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from api.problems import ApiProblem, conflict, not_found, scrub, temporal_problem
from api.services import Services
from api.wire import Failure, Progress, RunStatusView
from engine.masking import mask_fields
from engine.statuses import ApiStatus
from engine.store import (
    TERMINAL_STATUSES,
    NewRun,
    RunRecord,
    RunStatus,
    WorkflowVersion,
    create_run,
    get_rerun_point,
    get_run,
    get_workflow_version,
    update_run_status,
)
from engine.temporal.client import (
    ExecutionNotFound,
    RunDescription,
    TemporalClientError,
    cancel_run,
    describe_run,
    query_progress,
    signal_pause,
    signal_resume,
    start_run,
)
from engine.temporal.run_progress import LiveProgress
from engine.temporal.types import InterpreterInput

TERMINAL_NAMES = frozenset(str(status) for status in TERMINAL_STATUSES)
CANCELLING = "CANCELLING"
_CONFIRM_SECONDS = 1.0  # how long pause/resume wait to see the run take the signal
_CONFIRM_INTERVAL = 0.05


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    return uuid.uuid4().hex


def request_hash(operation: str, **request: Any) -> str:
    """A hash of a request's meaning: canonical JSON (sorted keys, no spaces), so that
    the same request spelt differently hashes the same."""
    canonical = json.dumps(
        {"operation": operation, **request}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# ------------------------------------------------------------------ the status payload


def status_view(
    record: RunRecord,
    *,
    status: str | None = None,
    history_length: int | None = None,
    progress: tuple[int, int] | None = None,
) -> RunStatusView:
    """The status payload of a run row, with what Temporal said layered on top."""
    completed, total = progress or (record.progress_completed, record.progress_total or 0)
    failure = None
    if record.failure:
        failure = Failure(
            reason=str(record.failure.get("reason") or "the run failed"),
            temporal_code=record.failure.get("temporalCode"),
            details=record.failure.get("details"),
        )
    return RunStatusView(
        run_id=record.run_id,
        workflow_id=record.workflow_name,
        workflow_version=record.workflow_version,
        status=status or str(record.status),
        started_at=iso(record.started_at or record.created_at),
        updated_at=iso(datetime.now(UTC)),
        completed_at=iso(record.completed_at) if record.completed_at else None,
        task_queue=record.task_queue,
        history_length=record.history_length if history_length is None else history_length,
        progress=Progress(completed_actions=completed, total_actions=max(total, completed)),
        failure=failure,
        output=record.output,
        errors=record.errors if isinstance(record.errors, list) else [],
        errors_dropped=record.errors_dropped,
        created_at=iso(record.created_at),
        rerun_of=record.rerun_of,
        rerun_from=None
        if record.rerun_of is None
        else ("failed" if record.rerun_from_failed else "start"),
        parent_run_id=record.parent_run_id,
        temporal_run_id=record.temporal_run_id,
        schedule_id=record.schedule_id,
    )


LIVE_SHOWN = frozenset({RunStatus.PAUSED, RunStatus.QUEUED})


async def require_run(services: Services, run_id: str) -> RunRecord:
    record = await get_run(services.pool, run_id)
    if record is None:
        raise not_found("RUN_NOT_FOUND", f"no run {run_id!r}")
    return record


async def require_version(
    services: Services, name: str, version: int | None = None
) -> WorkflowVersion:
    """The workflow's version (its latest if `version` is None); 404 WORKFLOW_NOT_FOUND or
    WORKFLOW_VERSION_NOT_FOUND."""
    found = await get_workflow_version(services.pool, name, version)
    if found is not None:
        return found
    if version is None or await get_workflow_version(services.pool, name) is None:
        raise not_found("WORKFLOW_NOT_FOUND", f"no workflow {name!r}")
    raise not_found("WORKFLOW_VERSION_NOT_FOUND", f"workflow {name!r} has no version {version}")


async def current_status(services: Services, record: RunRecord) -> RunStatusView:
    """The status payload, reconciled with Temporal for a run the store has not seen end."""
    if record.status.is_terminal:
        return status_view(record)
    try:
        described = await describe_run(
            services.temporal, record.run_id, timeout=services.temporal_timeout
        )
    except ExecutionNotFound:
        return status_view(record)  # queued: its execution is not started yet
    if described.status in TERMINAL_NAMES:
        record = await settle_from_temporal(services, record, described)
        return status_view(record, status=described.status, history_length=described.history_length)
    # QUEUED once started: the run waits for a concurrency limit's slot.
    status = record.status.value if record.status in LIVE_SHOWN else "RUNNING"
    progress = None
    live = await live_progress(services, record.run_id)
    if live is not None:
        status = "PAUSED" if live.paused else "RUNNING"
        if live.status is ApiStatus.QUEUED:
            status = "QUEUED"
        progress = (live.finished, live.started)
    return status_view(
        record, status=status, history_length=described.history_length, progress=progress
    )


async def live_progress(services: Services, run_id: str) -> LiveProgress | None:
    """The interpreter's `progress` answer, or None when no worker answers in time."""
    try:
        return await query_progress(services.temporal, run_id, timeout=services.query_timeout)
    except TemporalClientError:
        return None


async def settle_from_temporal(
    services: Services, record: RunRecord, described: RunDescription
) -> RunRecord:
    """Record in the store that Temporal ended the run (the workflow writes its own end
    state when it can; a terminated or timed-out execution cannot)."""
    failure = None
    if described.status != "COMPLETED":
        failure = record.failure or {
            "reason": f"Temporal reports the run as {described.temporal_status}",
            "temporalCode": described.temporal_status,
        }
    updated = await update_run_status(
        services.pool,
        record.run_id,
        described.status,
        temporal_run_id=described.temporal_run_id,
        failure=failure,
        completed_at=described.closed_at,
        closed_by_temporal=True,
        history_length=described.history_length or None,
    )
    return updated or record


async def run_has_ended(services: Services, run_id: str) -> bool:
    """Whether the run has ended: the store's word when it knows, else one describe call
    to Temporal (no progress query: that would wake a worker for every idle stream)."""
    record = await get_run(services.pool, run_id)
    if record is None or record.status.is_terminal:
        return True
    try:
        described = await describe_run(
            services.temporal, record.run_id, timeout=services.temporal_timeout
        )
    except TemporalClientError:  # not started yet, or Temporal away: not ended
        return False
    if described.status not in TERMINAL_NAMES:
        return False
    await settle_from_temporal(services, record, described)
    return True


# ------------------------------------------------------------------ starting


async def failed_run_point(services: Services, record: RunRecord) -> Any:
    """Where a failed run stopped, for a rerun from its failed tasks; 409 when it did not
    fail (RUN_NOT_FAILED) or left nothing to run again (NOTHING_TO_RERUN: it failed on
    its input, on an unreachable join, or before Segue recorded its end)."""
    if record.status not in (RunStatus.FAILED, RunStatus.TIMED_OUT):
        raise conflict(
            "RUN_NOT_FAILED",
            f"only a failed run can be rerun from its failed tasks; this one is {record.status}",
            runStatus=str(record.status),
        )
    point = await get_rerun_point(services.pool, record.run_id)
    if point is None:
        raise conflict(
            "NOTHING_TO_RERUN",
            "the run failed without a task to run again (its input, an unreachable join, "
            'or a failure outside the workflow); rerun it with {"from": "start"}',
        )
    return point


async def valid_input(
    services: Services, version: WorkflowVersion, given: Any, what: str = "the run input"
) -> dict[str, Any]:
    """The input with its defaults; 422 INPUT_INVALID listing every schema violation."""
    values, problems = await services.prepare_input(version, given)
    if problems:
        raise ApiProblem(
            422,
            "INPUT_INVALID",
            f"{what} breaks the input schema of {version.name!r} "
            f"version {version.version} ({len(problems)} problem(s))",
            errors=[{"path": problem.path, "reason": problem.reason} for problem in problems],
        )
    return values


async def start_new_run(
    services: Services,
    version: WorkflowVersion,
    given_input: Any,
    *,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    rerun_of: str | None = None,
    rerun_point: Any = None,
) -> tuple[RunRecord, bool]:
    """Validate the input, record the run, start it in Temporal; (run, created). With an
    idempotency key already used for the workflow and operation: that run, not a new one,
    if the request (its `fingerprint`) was the same, else 422 IDEMPOTENCY_KEY_REUSED.
    With a `rerun_point` (the failed run `rerun_of` stopped there), the run starts from it."""
    values = await valid_input(services, version, given_input)
    # The store keeps the input with declared secrets masked (at rest in clear nowhere but
    # Temporal's sealed history); the run itself is started with `values`.
    secret_inputs = (await services.versions.program(version)).spec.secret_inputs
    run_id = new_run_id()
    record = await create_run(
        services.pool,
        NewRun(
            run_id=run_id,
            workflow_name=version.name,
            workflow_version=version.version,
            task_queue=services.config.task_queue,
            input=mask_fields(values, secret_inputs),
            idempotency_key=idempotency_key,
            idempotency_scope="start" if rerun_of is None else "rerun",
            request_hash=fingerprint if idempotency_key else None,
            rerun_of=rerun_of,
            rerun_from_failed=rerun_point is not None,
            temporal_workflow_id=run_id,
        ),
    )
    if not record.existing:
        return await launch(services, record, version.yaml, values, rerun_point), True
    if record.request_hash is not None and record.request_hash != fingerprint:
        raise ApiProblem(
            422,
            "IDEMPOTENCY_KEY_REUSED",
            f"the Idempotency-Key {idempotency_key!r} was used for another request "
            f"(run {record.run_id!r}); use a new key for a new request",
            extra={"runId": record.run_id},
        )
    if record.status is RunStatus.QUEUED and record.temporal_run_id is None:
        # The first request recorded the run but may not have started it (it may have
        # died in between): starting again is safe, Temporal keeps one execution.
        earlier = await get_workflow_version(
            services.pool, record.workflow_name, record.workflow_version
        )
        if earlier is not None:
            # The same request again (same fingerprint): its input and rerun point are the
            # real ones the first request would have started with, not the stored masks.
            point = rerun_point
            if point is None and record.rerun_from_failed and record.rerun_of is not None:
                point = await get_rerun_point(services.pool, record.rerun_of)
            record = await launch(services, record, earlier.yaml, values, point)
    return record, False


async def started_anyway(services: Services, run_id: str) -> str | None:
    """The Temporal run id of a run whose start went unanswered, if Temporal has it."""
    try:
        described = await describe_run(services.temporal, run_id, timeout=services.temporal_timeout)
    except TemporalClientError:
        return None
    return described.temporal_run_id or run_id


async def launch(
    services: Services,
    record: RunRecord,
    yaml_text: str,
    run_input: dict[str, Any],
    rerun_point: Any = None,
) -> RunRecord:
    """Start the run's interpreter workflow with its real input (the record's is masked);
    a refusal marks the run FAILED (503)."""
    params = InterpreterInput(
        run_id=record.run_id,
        workflow=record.workflow_name,
        version=str(record.workflow_version),
        yaml=yaml_text,
        input=run_input,
        task_queue=record.task_queue,
        rerun=rerun_point,
        # The run decides with these for its whole life, whichever worker replays it.
        action_retry_defaults=services.catalog.retry_defaults(),
        local_actions=services.catalog.local_actions(),
    )
    try:
        temporal_run_id = await start_run(
            services.temporal,
            params,
            task_queue=record.task_queue,
            timeout=services.temporal_timeout,
        )
    except TemporalClientError as error:
        if not error.outcome_unknown:
            await update_run_status(
                services.pool,
                record.run_id,
                RunStatus.FAILED,
                failure={
                    "reason": f"Temporal did not start the run: {scrub(error.message)}",
                    "temporalCode": error.temporal_code,
                },
            )
            raise temporal_problem(error, runId=record.run_id) from error
        # No answer in time: the start may still have happened. Never record a run that
        # Temporal may be running as FAILED; confirm, else leave it QUEUED for a retry.
        started = await started_anyway(services, record.run_id)
        if started is None:
            raise ApiProblem(
                503,
                "START_UNCONFIRMED",
                f"Temporal did not confirm the start in time ({scrub(error.message)}); the run "
                "may still start. Retry with the same Idempotency-Key to make sure it does, "
                "or watch the run",
                extra={"runId": record.run_id},
                headers={"Retry-After": "5"},
            ) from error
        temporal_run_id = started
    updated = await update_run_status(
        services.pool,
        record.run_id,
        RunStatus.RUNNING,
        temporal_workflow_id=record.run_id,
        temporal_run_id=temporal_run_id,
        # The run may already have said QUEUED (a concurrency limit) or more: keep that.
        unless_the_workflow_wrote=True,
    )
    return updated or record


# ------------------------------------------------------------------ control


async def require_live(services: Services, record: RunRecord, code: str) -> RunDescription:
    """Temporal's description of a run that is still running; 409 `code` otherwise.

    Temporal decides, not the store: a run the store shows ended while Temporal still
    runs it (a completion Temporal refused, issue 11 case 4) can still be controlled."""
    ended = conflict(code, f"the run has ended ({record.status})", runStatus=str(record.status))
    try:
        described = await describe_run(
            services.temporal, record.run_id, timeout=services.temporal_timeout
        )
    except ExecutionNotFound:
        if record.status.is_terminal:
            raise ended from None
        raise conflict(
            code, "the run has no Temporal execution yet", runStatus=str(record.status)
        ) from None
    except TemporalClientError:
        if record.status.is_terminal:
            raise ended from None  # the store's word is the best there is
        raise
    if described.status in TERMINAL_NAMES:
        if not record.status.is_terminal:
            await settle_from_temporal(services, record, described)
        raise conflict(code, f"the run has ended ({described.status})", runStatus=described.status)
    return described


async def request_cancel(services: Services, record: RunRecord) -> RunStatusView:
    """Ask Temporal to cancel; the answer says CANCELLING until Temporal ended the run
    (the workflow records CANCELLED itself, through its trace)."""
    await require_live(services, record, "RUN_NOT_RUNNING")
    try:
        await cancel_run(
            services.temporal, record.run_id, reason="cancel requested through the API"
        )
    except ExecutionNotFound:
        raise conflict("RUN_NOT_RUNNING", "the run ended before the cancel arrived") from None
    view = await current_status(services, await require_run(services, record.run_id))
    if view.status not in TERMINAL_NAMES:
        view.status = CANCELLING
    return view


async def request_pause(services: Services, record: RunRecord, *, pause: bool) -> RunStatusView:
    """Signal pause (resume); wait briefly until the run reports it, then the status."""
    code = "RUN_NOT_PAUSABLE" if pause else "RUN_NOT_RUNNING"
    await require_live(services, record, code)
    signal = signal_pause if pause else signal_resume
    try:
        await signal(services.temporal, record.run_id, timeout=services.temporal_timeout)
    except ExecutionNotFound:
        raise conflict(code, "the run ended before the signal arrived") from None
    await _await_paused(services, record.run_id, pause)
    return await current_status(services, await require_run(services, record.run_id))


async def _await_paused(services: Services, run_id: str, paused: bool) -> None:
    """Poll the live progress until it shows `paused` (or give up quietly), and record
    the confirmed status in the store, whose projection only moves with trace writes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _CONFIRM_SECONDS
    while loop.time() < deadline:
        live = await live_progress(services, run_id)
        if live is not None and live.paused is paused:
            status = RunStatus.PAUSED if paused else RunStatus.RUNNING
            await update_run_status(services.pool, run_id, status)
            return
        await asyncio.sleep(_CONFIRM_INTERVAL)
