"""`/runs`: list, status, trace, live stream, and control (cancel, pause, resume, rerun,
signals)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, QueryParameter
from litestar.response import ServerSentEvent

from api.export import run_case
from api.problems import ApiProblem, documented, replayed
from api.reconcile import reconciled_page, reconciled_status
from api.rerun_sources import earlier_input, earlier_rerun_point
from api.routes.workflows import MAX_IDEMPOTENCY_KEY
from api.runs import (
    failed_run_point,
    request_cancel,
    request_hash,
    request_pause,
    require_run,
    require_version,
    start_new_run,
    status_view,
)
from api.services import Services
from api.signals import signal_task
from api.sse_response import admitted_stream, resume_point
from api.streaming import trace_stream
from api.task_reports import with_task_progress
from api.tracing import run_start_span, trace_id_of
from api.wire import (
    RerunRequest,
    RunList,
    RunStatusView,
    SignalAccepted,
    SignalRequest,
    TraceEnvelope,
)
from engine.store import (
    RunStatus,
    decode_cursor,
    encode_cursor,
    list_runs,
    trace_event_json,
    trace_page,
)
from engine.store.trace_ids import run_trace_id

PageSize = Annotated[int, QueryParameter(ge=1, le=1000)]
ServicesDep = NamedDependency[Services]
RunId = FromPath[str]
IdempotencyKey = Annotated[
    str | None, HeaderParameter(name="Idempotency-Key", max_length=MAX_IDEMPOTENCY_KEY)
]


class RunController(Controller):
    path = "/runs"
    tags = ["runs"]

    @get(
        "/",
        summary="Runs, newest first; filter by workflow, status and schedule; page with cursor",
        responses=documented(400),
    )
    async def listing(
        self,
        services: ServicesDep,
        workflow: FromQuery[str | None] = None,
        status: FromQuery[RunStatus | None] = None,
        schedule: FromQuery[str | None] = None,
        limit: PageSize = 50,
        cursor: FromQuery[str | None] = None,
    ) -> RunList:
        page = await list_runs(
            services.pool,
            workflow=workflow,
            status=status,
            schedule=schedule,
            limit=limit,
            before=cursor,
        )
        views = await reconciled_page(services, page.runs, status)
        return RunList(runs=views, next_cursor=page.next_cursor)

    @get(
        "/{run_id:str}",
        summary="The status payload (reconciled with Temporal)",
        responses=documented(404),
    )
    async def status(self, services: ServicesDep, run_id: RunId) -> RunStatusView:
        view = await reconciled_status(services, await require_run(services, run_id))
        view = await with_task_progress(services.pool, view)
        trace_id = await run_trace_id(services.pool, run_id)
        return msgspec.structs.replace(view, trace_id=trace_id) if trace_id else view

    @get(
        "/{run_id:str}/trace",
        summary="A page of trace events after the cursor",
        responses=documented(400, 404),
    )
    async def trace(
        self,
        services: ServicesDep,
        run_id: RunId,
        cursor: FromQuery[str | None] = None,
        limit: PageSize = 200,
    ) -> TraceEnvelope:
        after = decode_cursor(cursor) if cursor else 0
        await require_run(services, run_id)
        events = await trace_page(services.pool, run_id, after, limit)
        last = events[-1].seq if events else after
        return TraceEnvelope(
            run_id=run_id,
            events=[trace_event_json(event) for event in events],
            cursor=encode_cursor(last),
        )

    @get(
        "/{run_id:str}/stream",
        summary="Server-sent trace events, live; resume with Last-Event-ID or ?cursor=",
        media_type="text/event-stream",
        responses=documented(400, 404, 429),
    )
    async def stream(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        run_id: RunId,
        cursor: FromQuery[str | None] = None,
        last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID")] = None,
    ) -> ServerSentEvent:
        after = resume_point(last_event_id, cursor, decode_cursor)
        await require_run(services, run_id)
        return admitted_stream(
            request,
            services,
            run_id,
            lambda ended: trace_stream(
                services.pool,
                services.hub,
                run_id,
                after,
                run_has_ended=ended,
                keepalive_seconds=services.config.sse_keepalive_seconds,
                end_check_seconds=services.config.sse_idle_check_seconds,
                end_check_max_seconds=services.config.sse_idle_check_max_seconds,
            ),
        )

    @get(
        "/{run_id:str}/export",
        summary="The run as a `segue simulate` case: workflow, input, mocks, expectations",
        responses=documented(404, 409),
    )
    async def export(self, services: ServicesDep, run_id: RunId) -> dict[str, Any]:
        run = await require_run(services, run_id)
        version = await require_version(services, run.workflow_name, run.workflow_version)
        return await run_case(services, run, version)

    @post(
        "/{run_id:str}/cancel",
        status_code=202,
        summary="Ask Temporal to cancel the run (CANCELLING until Temporal ended it)",
        responses=documented(404, 409),
    )
    async def cancel(self, services: ServicesDep, run_id: RunId) -> RunStatusView:
        return await request_cancel(services, await require_run(services, run_id))

    @post(
        "/{run_id:str}/pause",
        status_code=202,
        summary="Start nothing new until resumed",
        responses=documented(404, 409),
    )
    async def pause(self, services: ServicesDep, run_id: RunId) -> RunStatusView:
        return await request_pause(services, await require_run(services, run_id), pause=True)

    @post(
        "/{run_id:str}/resume",
        status_code=202,
        summary="Resume a paused run",
        responses=documented(404, 409),
    )
    async def resume(self, services: ServicesDep, run_id: RunId) -> RunStatusView:
        return await request_pause(services, await require_run(services, run_id), pause=False)

    @post(
        "/{run_id:str}/rerun",
        summary="A new run of the same workflow version with the same (or the given) input",
        responses={
            **documented(400, 404, 409, 422),
            **replayed(RunStatusView, "The run already started with this Idempotency-Key"),
        },
    )
    async def rerun(
        self,
        services: ServicesDep,
        request: Request[Any, Any, Any],
        run_id: RunId,
        data: JSONBody[RerunRequest | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[RunStatusView]:
        body = data or RerunRequest()
        if body.from_ not in ("start", "failed"):
            raise ApiProblem(400, "INVALID_REQUEST", '`from` must be "start" or "failed"')
        if body.from_ == "failed" and body.input is not None:
            raise ApiProblem(
                400,
                "INVALID_REQUEST",
                "a rerun from the failed tasks continues with the data of the failed run; "
                '`input` can only be given with {"from": "start"}',
            )
        earlier = await require_run(services, run_id)
        point = None
        if body.from_ == "failed":
            point = await earlier_rerun_point(
                services, earlier, await failed_run_point(services, earlier)
            )
        version = await require_version(services, earlier.workflow_name, earlier.workflow_version)
        # The store's copy of the input has its secrets masked: the real one is read back.
        given = (
            await earlier_input(services, earlier, version) if body.input is None else body.input
        )
        route = "/runs/{run_id}/rerun"
        with run_start_span(request.headers, route, earlier.workflow_name) as span:
            record, created = await start_new_run(
                services,
                version,
                given,
                idempotency_key=idempotency_key or None,
                fingerprint=request_hash(
                    "rerun", of=earlier.run_id, input=body.input, start=body.from_
                ),
                rerun_of=earlier.run_id,
                rerun_point=point,
            )
            span.set_attribute("segue.run_id", record.run_id)
            trace_id = trace_id_of(span)
        # A repeated request (the same Idempotency-Key) shows its run's trace with GET.
        view = msgspec.structs.replace(status_view(record), trace_id=trace_id if created else None)
        return Response(view, status_code=201 if created else 200)

    @post(
        "/{run_id:str}/signals/{task:str}",
        status_code=202,
        summary="Resume a waiting task (core.wait_event / core.approval), or one item of it",
        responses=documented(404, 409),
    )
    async def signal(
        self,
        services: ServicesDep,
        run_id: RunId,
        task: FromPath[str],
        data: JSONBody[SignalRequest | None] = None,
    ) -> SignalAccepted:
        return await signal_task(services, run_id, task, data or SignalRequest())
