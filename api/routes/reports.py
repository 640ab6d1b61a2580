"""`/runs/{id}/logs` and `/runs/{id}/artifacts`: what a run's actions reported while they
ran, kept outside Temporal history (engine/temporal/task_logs.py)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent

from api.problems import documented, not_found
from api.runs import require_run
from api.services import Services
from api.sse_response import admitted_stream, resume_point
from api.task_reports import LogFilter, log_stream
from api.wire import ArtifactList, LogEnvelope
from engine.store import (
    MAX_LOG_PAGE,
    artifact_json,
    decode_log_cursor,
    encode_log_cursor,
    get_artifact,
    list_artifacts,
    log_line_json,
    log_page,
)

ServicesDep = NamedDependency[Services]
RunId = FromPath[str]
TaskName = Annotated[str | None, QueryParameter(min_length=1, max_length=200)]
Execution = Annotated[int | None, QueryParameter(ge=0, le=2**31 - 1)]
LogPageSize = Annotated[int, QueryParameter(ge=1, le=MAX_LOG_PAGE)]
Cursor = Annotated[str | None, QueryParameter(max_length=512)]


class RunReportsController(Controller):
    path = "/runs"
    tags = ["logs and artifacts"]

    @get(
        "/{run_id:str}/logs",
        summary="A page of the run's task log lines after the cursor (of one task or execution)",
        responses=documented(400, 404),
    )
    async def logs(
        self,
        services: ServicesDep,
        run_id: RunId,
        task: TaskName = None,
        execution: Execution = None,
        cursor: Cursor = None,
        limit: LogPageSize = 500,
    ) -> LogEnvelope:
        after = decode_log_cursor(cursor) if cursor else 0
        await require_run(services, run_id)
        lines = await log_page(services.pool, run_id, after, limit, task=task, execution=execution)
        last = lines[-1].run_seq if lines else after
        return LogEnvelope(
            run_id=run_id,
            logs=[log_line_json(line) for line in lines],
            cursor=encode_log_cursor(last),
        )

    @get(
        "/{run_id:str}/logs/stream",
        summary="Server-sent task log lines, live until the run ended; resume with "
        "Last-Event-ID or ?cursor=",
        media_type="text/event-stream",
        responses=documented(400, 404, 429),
    )
    async def follow_logs(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        run_id: RunId,
        task: TaskName = None,
        execution: Execution = None,
        cursor: Cursor = None,
        last_event_id: Annotated[str | None, HeaderParameter(name="Last-Event-ID")] = None,
    ) -> ServerSentEvent:
        after = resume_point(last_event_id, cursor, decode_log_cursor)
        await require_run(services, run_id)
        return admitted_stream(
            request,
            services,
            run_id,
            lambda ended: log_stream(
                services.pool,
                services.log_hub,
                run_id,
                after,
                LogFilter(task, execution),
                run_has_ended=ended,
                keepalive_seconds=services.config.sse_keepalive_seconds,
                end_check_seconds=services.config.sse_idle_check_seconds,
                end_check_max_seconds=services.config.sse_idle_check_max_seconds,
            ),
        )

    @get(
        "/{run_id:str}/artifacts",
        summary="The run's artifacts (of one task), oldest first, without their content",
        responses=documented(404),
    )
    async def artifacts(
        self, services: ServicesDep, run_id: RunId, task: TaskName = None
    ) -> ArtifactList:
        await require_run(services, run_id)
        found = await list_artifacts(services.pool, run_id, task=task)
        return ArtifactList(run_id=run_id, artifacts=[artifact_json(info) for info in found])

    @get(
        # A string, not `:int`: a path that is no artifact id must still reach the token
        # check (401 before 404), and then be an ARTIFACT_NOT_FOUND like any unknown id.
        "/{run_id:str}/artifacts/{artifact_id:str}",
        summary="Download one artifact (its bytes, with its media type)",
        media_type="application/octet-stream",
        responses=documented(404),
    )
    async def download(
        self,
        services: ServicesDep,
        run_id: RunId,
        artifact_id: FromPath[str],
    ) -> Response[bytes]:
        await require_run(services, run_id)
        found = None
        number = int(artifact_id) if artifact_id.isascii() and artifact_id.isdigit() else 0
        if 1 <= number <= 2**63 - 1:
            found = await get_artifact(services.pool, run_id, number)
        if found is None:
            shown = artifact_id if len(artifact_id) <= 40 else artifact_id[:40] + "…"
            raise not_found("ARTIFACT_NOT_FOUND", f"run {run_id!r} has no artifact {shown!r}")
        return Response(
            found.content,
            media_type=found.media_type,
            headers={
                # The name is checked at ctx.artifact: letters, digits, '.', '_', '-'.
                "Content-Disposition": f'attachment; filename="{found.name}"',
                "X-Content-Type-Options": "nosniff",
                # An HTML artifact opened anyway runs nothing with the API's origin.
                "Content-Security-Policy": "sandbox",
                "ETag": f'"{found.sha256}"',
            },
        )
