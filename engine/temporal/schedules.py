"""Segue schedules as Temporal Schedules: the translation of a `ScheduleSpec` and the
client calls the API reconciles and controls them with.

A schedule's action starts the interpreter directly with an empty `run_id`: Temporal
names each started workflow `<workflow>.<schedule>-<scheduled time>`, and the run takes
that id as its run id (engine/temporal/interpreter.py), so the run, its Temporal
execution and the store's row share one id, as for runs the API starts. Overlap,
catch-up and jitter are then Temporal's, applied to the runs themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from engine.language.spec import ScheduleSpec as SegueSchedule
from engine.temporal.client import ExecutionNotFound, translated_errors
from engine.temporal.types import INTERPRETER_WORKFLOW, InterpreterInput

OVERLAP: Final = {
    "skip": ScheduleOverlapPolicy.SKIP,
    "buffer_one": ScheduleOverlapPolicy.BUFFER_ONE,
    "buffer_all": ScheduleOverlapPolicy.BUFFER_ALL,
    "cancel_other": ScheduleOverlapPolicy.CANCEL_OTHER,
    "terminate_other": ScheduleOverlapPolicy.TERMINATE_OTHER,
    "allow_all": ScheduleOverlapPolicy.ALLOW_ALL,
}
NEXT_TIMES_SHOWN: Final = 5


def schedule_id(workflow: str, name: str) -> str:
    """Temporal's id of a Segue schedule (names cannot hold `.`, so it is unambiguous)."""
    return f"segue.{workflow}.{name}"


def temporal_schedule(
    spec: SegueSchedule, params: InterpreterInput, *, paused: bool, note: str = ""
) -> Schedule:
    """The Temporal Schedule that starts `params` (its `run_id` empty) on `spec`'s times."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            INTERPRETER_WORKFLOW,
            params,
            id=f"{params.workflow}.{spec.name}",
            task_queue=params.task_queue,
        ),
        spec=ScheduleSpec(
            cron_expressions=list(spec.cron),
            intervals=[]
            if spec.every is None
            else [
                ScheduleIntervalSpec(
                    every=timedelta(seconds=spec.every), offset=timedelta(seconds=spec.offset)
                )
            ],
            time_zone_name=spec.timezone,
            jitter=timedelta(seconds=spec.jitter) if spec.jitter else None,
            start_at=datetime.fromisoformat(spec.start) if spec.start else None,
            end_at=datetime.fromisoformat(spec.end) if spec.end else None,
        ),
        policy=SchedulePolicy(
            overlap=OVERLAP[spec.overlap],
            catchup_window=timedelta(seconds=spec.catchup_window),
        ),
        state=ScheduleState(paused=paused, note=note or spec.note or None),
    )


async def ensure_schedule(
    client: Client,
    sid: str,
    schedule: Schedule,
    *,
    exists: bool = False,
    timeout: timedelta | None = None,
) -> str:
    """Make Temporal's schedule `sid` this one: "created" or "updated". Idempotent: an
    update with the same schedule changes nothing but the next times' jitter. `exists`:
    the caller believes it exists (an update is tried first; either guess is safe)."""

    def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    handle = client.get_schedule_handle(sid)
    if exists:
        try:
            async with translated_errors():
                await handle.update(replace, rpc_timeout=timeout)
        except ExecutionNotFound:
            pass  # deleted behind Segue's back: created below
        else:
            return "updated"
    async with translated_errors():
        try:
            await client.create_schedule(sid, schedule, rpc_timeout=timeout)
        except ScheduleAlreadyRunningError:
            await handle.update(replace, rpc_timeout=timeout)
            return "updated"
    return "created"


async def remove_schedule(client: Client, sid: str, *, timeout: timedelta | None = None) -> None:
    """Delete Temporal's schedule `sid`; one already gone is fine (idempotent)."""
    try:
        async with translated_errors():
            await client.get_schedule_handle(sid).delete(rpc_timeout=timeout)
    except ExecutionNotFound:
        pass


@dataclass(frozen=True)
class ScheduledStart:
    """One start the schedule made: when it was due, when it happened, which run."""

    scheduled_at: datetime
    started_at: datetime
    run_id: str


@dataclass(frozen=True)
class ScheduleStatus:
    """What Temporal says about a schedule now."""

    paused: bool
    note: str
    next_times: list[datetime]
    recent: list[ScheduledStart]
    running: list[str]
    actions: int
    missed_catchup: int
    skipped_overlap: int


async def describe_schedule(
    client: Client, sid: str, *, timeout: timedelta | None = None
) -> ScheduleStatus:
    """Temporal's view of the schedule; `ExecutionNotFound` when it has none."""
    async with translated_errors():
        found = await client.get_schedule_handle(sid).describe(rpc_timeout=timeout)
    info = found.info
    return ScheduleStatus(
        paused=found.schedule.state.paused,
        note=found.schedule.state.note or "",
        next_times=list(info.next_action_times[:NEXT_TIMES_SHOWN]),
        recent=[
            ScheduledStart(result.scheduled_at, result.started_at, result.action.workflow_id)
            for result in info.recent_actions
            if isinstance(result.action, ScheduleActionExecutionStartWorkflow)
        ],
        running=[
            action.workflow_id
            for action in info.running_actions
            if isinstance(action, ScheduleActionExecutionStartWorkflow)
        ],
        actions=info.num_actions,
        missed_catchup=info.num_actions_missed_catchup_window,
        skipped_overlap=info.num_actions_skipped_overlap,
    )


async def trigger_schedule(
    client: Client, sid: str, overlap: str | None = None, *, timeout: timedelta | None = None
) -> None:
    """Start a run now (the schedule's overlap policy applies unless `overlap` is given)."""
    async with translated_errors():
        await client.get_schedule_handle(sid).trigger(
            overlap=OVERLAP[overlap] if overlap else None, rpc_timeout=timeout
        )


async def backfill_schedule(
    client: Client,
    sid: str,
    start: datetime,
    end: datetime,
    overlap: str | None = None,
    *,
    timeout: timedelta | None = None,
) -> None:
    """Start the runs the schedule would have started between `start` and `end`."""
    async with translated_errors():
        await client.get_schedule_handle(sid).backfill(
            ScheduleBackfill(start, end, OVERLAP[overlap] if overlap else None),
            rpc_timeout=timeout,
        )


async def pause_schedule(
    client: Client, sid: str, paused: bool, note: str, *, timeout: timedelta | None = None
) -> None:
    async with translated_errors():
        handle = client.get_schedule_handle(sid)
        if paused:
            await handle.pause(note=note, rpc_timeout=timeout)
        else:
            await handle.unpause(note=note, rpc_timeout=timeout)
