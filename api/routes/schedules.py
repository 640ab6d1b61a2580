"""`/workflows/{name}/schedules`: list, declare, remove, trigger, backfill, pause."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from api.problems import ApiProblem, documented
from api.routes.workflows import checked_name
from api.runs import require_version, valid_input
from api.schedules import (
    backfill_window,
    declared_from_request,
    put_api_schedule,
    reconcile,
    require_row,
    schedule_view,
)
from api.services import Services
from api.wire import BackfillRequest, PauseRequest, ScheduleList, ScheduleView, TriggerRequest
from engine.store import schedules as catalog
from engine.temporal.schedules import (
    backfill_schedule,
    pause_schedule,
    schedule_id,
    trigger_schedule,
)

ServicesDep = NamedDependency[Services]


def _checked_schedule_name(name: str) -> str:
    try:
        return checked_name(name)
    except ApiProblem:
        raise ApiProblem(
            400, "NAME_INVALID", f"invalid schedule name {name!r}: [A-Za-z_][A-Za-z0-9_-]*"
        ) from None


class ScheduleController(Controller):
    path = "/workflows/{name:str}/schedules"
    tags = ["schedules"]

    @get(
        "/",
        summary="The workflow's schedules with their next and recent runs",
        responses=documented(404),
    )
    async def listing(self, services: ServicesDep, name: FromPath[str]) -> ScheduleList:
        latest = await require_version(services, name)
        rows = await catalog.list_schedules(services.pool, name)
        gate = asyncio.Semaphore(8)  # Temporal is asked about each; a few at a time

        async def view(row: catalog.ScheduleRow) -> ScheduleView:
            async with gate:
                return await schedule_view(services, row, latest)

        live = [row for row in rows if not row.removing]
        return ScheduleList(schedules=list(await asyncio.gather(*(view(row) for row in live))))

    @get("/{schedule:str}", summary="One schedule", responses=documented(404))
    async def show(
        self, services: ServicesDep, name: FromPath[str], schedule: FromPath[str]
    ) -> ScheduleView:
        return await schedule_view(services, await require_row(services, name, schedule))

    @put(
        "/{schedule:str}",
        summary="Declare (or replace) a schedule through the API",
        description="The body is a schedule as in a workflow file's `schedules` entry. "
        "409 SCHEDULE_DECLARED_IN_FILE for a schedule the file declares.",
        responses=documented(404, 409, 422),
    )
    async def declare(
        self,
        services: ServicesDep,
        name: FromPath[str],
        schedule: FromPath[str],
        data: JSONBody[dict[str, Any]],
    ) -> ScheduleView:
        version = await require_version(services, name)
        declared = declared_from_request(data)
        await valid_input(services, version, declared["input"], "the schedule's input")
        row = await put_api_schedule(services, name, _checked_schedule_name(schedule), declared)
        await reconcile(services, name)
        return await schedule_view(services, await require_row(services, name, row.name))

    @delete(
        "/{schedule:str}",
        summary="Remove a schedule declared through the API",
        responses=documented(404, 409),
        status_code=204,
    )
    async def remove(
        self, services: ServicesDep, name: FromPath[str], schedule: FromPath[str]
    ) -> None:
        row = await require_row(services, name, schedule)
        if row.origin == "workflow":
            raise ApiProblem(
                409,
                "SCHEDULE_DECLARED_IN_FILE",
                f"schedule {schedule!r} is declared in the workflow file; remove it there",
            )
        await catalog.mark_removing(services.pool, name, schedule)
        await reconcile(services, name)

    @post(
        "/{schedule:str}/trigger",
        status_code=202,
        summary="Start a run now",
        responses=documented(404),
    )
    async def trigger(
        self,
        services: ServicesDep,
        name: FromPath[str],
        schedule: FromPath[str],
        data: JSONBody[TriggerRequest | None] = None,
    ) -> ScheduleView:
        row = _runnable(await require_row(services, name, schedule))
        await trigger_schedule(
            services.temporal,
            schedule_id(name, schedule),
            (data or TriggerRequest()).overlap,
            timeout=services.temporal_timeout,
        )
        return await schedule_view(services, row)

    @post(
        "/{schedule:str}/backfill",
        status_code=202,
        summary="Start the runs the schedule would have started in a past window",
        responses=documented(404),
    )
    async def backfill(
        self,
        services: ServicesDep,
        name: FromPath[str],
        schedule: FromPath[str],
        data: JSONBody[BackfillRequest],
    ) -> ScheduleView:
        row = _runnable(await require_row(services, name, schedule))
        start, end = backfill_window(data.start, data.end, row.declared)
        await backfill_schedule(
            services.temporal,
            schedule_id(name, schedule),
            start,
            end,
            data.overlap,
            timeout=services.temporal_timeout,
        )
        return await schedule_view(services, row)

    @post(
        "/{schedule:str}/pause",
        status_code=200,
        summary="Pause: no run starts",
        responses=documented(404),
    )
    async def pause(
        self,
        services: ServicesDep,
        name: FromPath[str],
        schedule: FromPath[str],
        data: JSONBody[PauseRequest | None] = None,
    ) -> Response[ScheduleView]:
        return Response(await _set_paused(services, name, schedule, True, data))

    @post("/{schedule:str}/unpause", status_code=200, summary="Unpause", responses=documented(404))
    async def unpause(
        self,
        services: ServicesDep,
        name: FromPath[str],
        schedule: FromPath[str],
        data: JSONBody[PauseRequest | None] = None,
    ) -> Response[ScheduleView]:
        return Response(await _set_paused(services, name, schedule, False, data))


def _runnable(row: catalog.ScheduleRow) -> catalog.ScheduleRow:
    """The row, unless it could only start runs that fail (409 SCHEDULE_HAS_PROBLEM)."""
    if row.problem is not None:
        raise ApiProblem(
            409, "SCHEDULE_HAS_PROBLEM", f"schedule {row.name!r} cannot start runs: {row.problem}"
        )
    return row


async def _set_paused(
    services: Services, name: str, schedule: str, paused: bool, data: PauseRequest | None
) -> ScheduleView:
    """The catalog first (the desired state survives a Temporal outage; the start-up
    reconcile applies it), then Temporal."""
    current = await require_row(services, name, schedule)
    if not paused:
        _runnable(current)
    row = await catalog.set_paused(services.pool, name, schedule, paused)
    if row is None:
        await require_row(services, name, schedule)  # removed meanwhile: 404
        raise AssertionError("unreachable")
    note = (data or PauseRequest()).note or (
        "paused" if paused else "unpaused"
    ) + " through the API"
    await pause_schedule(
        services.temporal,
        schedule_id(name, schedule),
        paused,
        note,
        timeout=services.temporal_timeout,
    )
    return await schedule_view(services, row)
