"""`/workflows`: register, validate, list, show, graph, and start runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, RawBody

from api.graph import graph_view
from api.problems import ApiProblem, documented, not_found, replayed
from api.runs import iso, request_hash, require_version, start_new_run, status_view
from api.schedules import reconcile_quietly
from api.services import Services
from api.tracing import run_start_span, trace_id_of
from api.validation import (
    WORKFLOW_NAME,
    diagnostic_views,
)
from api.wire import (
    GraphView,
    LatestVersionView,
    RegisteredWorkflow,
    RunStatusView,
    SimulateRequest,
    StartRunRequest,
    ValidationReport,
    VersionView,
    WorkflowList,
    WorkflowSummary,
    WorkflowView,
)
from engine.store import (
    get_workflow,
    list_workflows,
    register_workflow_version,
)
from engine.store.schedules import declare_file_schedules

MAX_IDEMPOTENCY_KEY = 200
ServicesDep = NamedDependency[Services]


@dataclass
class YamlBodyOperation(Operation):
    """OpenAPI: these routes take the workflow YAML as the raw request body."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={
                media: OpenAPIMediaType(schema=Schema(type="string"))  # type: ignore[arg-type]
                for media in ("application/yaml", "text/plain")
            },
            description="the workflow file (YAML, UTF-8)",
            required=True,
        )


def checked_name(name: str) -> str:
    if not WORKFLOW_NAME.fullmatch(name):
        raise ApiProblem(
            400,
            "NAME_INVALID",
            f"invalid workflow name {name!r}: names match [A-Za-z_][A-Za-z0-9_-]* "
            "and have at most 128 characters",
        )
    return name


class WorkflowController(Controller):
    path = "/workflows"
    tags = ["workflows"]

    @post(
        "/",
        operation_class=YamlBodyOperation,
        summary="Register a workflow version",
        responses={
            **documented(400, 413, 422),
            **replayed(RegisteredWorkflow, "This content was already registered under the name"),
        },
        description="201 with a new version; 200 (created=false) when this content is "
        "already registered under the name. 422 WORKFLOW_INVALID lists every error.",
    )
    async def register(
        self, services: ServicesDep, body: RawBody, name: FromQuery[str]
    ) -> Response[RegisteredWorkflow]:
        checked = await services.check_workflow(body, checked_name(name))
        if checked.content_hash is None:
            raise ApiProblem(
                422,
                "WORKFLOW_INVALID",
                f"{len(checked.errors)} error(s) in {name}.yaml",
                errors=msgspec.to_builtins(diagnostic_views(checked.errors)),
                extra={"warnings": msgspec.to_builtins(diagnostic_views(checked.warnings))},
            )
        version = await register_workflow_version(
            services.pool, name, body.decode("utf-8"), checked.content_hash, checked.compiled
        )
        # The file's schedules replace its earlier ones; Temporal follows (api/schedules.py).
        await declare_file_schedules(services.pool, name, checked.schedules or {})
        outcomes = await reconcile_quietly(services, name)
        answer = RegisteredWorkflow(
            name=version.name,
            version=version.version,
            content_hash=version.content_hash,
            created=version.created,
            created_at=iso(version.created_at),
            warnings=diagnostic_views(checked.warnings),
            schedules=outcomes,
        )
        return Response(answer, status_code=201 if version.created else 200)

    @post(
        "/validate",
        operation_class=YamlBodyOperation,
        status_code=200,
        summary="Validate a workflow without storing it",
        responses=documented(400, 413, 422),
    )
    async def validate(
        self, services: ServicesDep, body: RawBody, name: FromQuery[str] = "workflow"
    ) -> ValidationReport:
        checked = await services.check_workflow(body, checked_name(name), sketch=True)
        return ValidationReport(
            valid=not checked.errors,
            errors=diagnostic_views(checked.errors, checked.error_tasks),
            warnings=diagnostic_views(checked.warnings, checked.warning_tasks),
            graph=checked.graph,
        )

    @get(
        "/",
        summary="The catalog: the latest version of every workflow",
        responses=documented(),
    )
    async def catalog(self, services: ServicesDep) -> WorkflowList:
        return WorkflowList(
            workflows=[
                WorkflowSummary(
                    name=info.name,
                    latest_version=info.version,
                    content_hash=info.content_hash,
                    created_at=iso(info.created_at),
                )
                for info in await list_workflows(services.pool)
            ]
        )

    @get(
        "/{name:str}",
        summary="A workflow: its latest version (with YAML) and all versions",
        responses=documented(404),
    )
    async def show(self, services: ServicesDep, name: FromPath[str]) -> WorkflowView:
        found = await get_workflow(services.pool, name)
        if found is None:
            raise not_found("WORKFLOW_NOT_FOUND", f"no workflow {name!r}")
        latest = found.latest
        program = await services.versions.program(latest)
        return WorkflowView(
            name=found.name,
            latest=LatestVersionView(
                version=latest.version,
                content_hash=latest.content_hash,
                created_at=iso(latest.created_at),
                yaml=latest.yaml,
                description=program.spec.description,
            ),
            versions=[
                VersionView(
                    version=info.version,
                    content_hash=info.content_hash,
                    created_at=iso(info.created_at),
                )
                for info in found.versions
            ],
        )

    @get(
        "/{name:str}/graph",
        summary="The task graph (JSON, or Mermaid text with ?format=mermaid)",
        responses=documented(400, 404),
    )
    async def graph(
        self,
        services: ServicesDep,
        name: FromPath[str],
        version: FromQuery[int | None] = None,
        format: FromQuery[Literal["json", "mermaid"]] = "json",
    ) -> Response[Any]:
        found = await require_version(services, name, version)
        program = await services.versions.program(found)
        view: GraphView = graph_view(program.spec, found.name, found.version)
        if format == "mermaid":
            return Response(view.mermaid, media_type="text/plain; charset=utf-8")
        return Response(view)

    @post(
        "/{name:str}/simulate",
        status_code=200,
        summary="What if: the path a run would take with this input and these mocks "
        "(the simulator; nothing is started)",
        responses=documented(400, 404, 413, 422, 503),
    )
    async def simulate(
        self,
        services: ServicesDep,
        name: FromPath[str],
        data: JSONBody[SimulateRequest | None] = None,
    ) -> dict[str, Any]:
        body = data or SimulateRequest()
        version = await require_version(services, name, body.version)
        return await services.what_if(version, body.input, body.mocks)

    @post(
        "/{name:str}/runs",
        summary="Start a run (Idempotency-Key: the same run again)",
        responses={
            **documented(400, 404, 422),
            **replayed(RunStatusView, "The run already started with this Idempotency-Key"),
        },
    )
    async def start(
        self,
        services: ServicesDep,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        data: JSONBody[StartRunRequest | None] = None,
        idempotency_key: Annotated[
            str | None, HeaderParameter(name="Idempotency-Key", max_length=MAX_IDEMPOTENCY_KEY)
        ] = None,
    ) -> Response[RunStatusView]:
        body = data or StartRunRequest()
        version = await require_version(services, name, body.version)
        with run_start_span(request.headers, "/workflows/{name}/runs", name) as span:
            record, created = await start_new_run(
                services,
                version,
                body.input,
                idempotency_key=idempotency_key or None,
                fingerprint=request_hash("start", input=body.input, version=body.version),
            )
            span.set_attribute("segue.run_id", record.run_id)
            trace_id = trace_id_of(span)
        # A repeated request (the same Idempotency-Key) shows its run's trace with GET.
        view = msgspec.structs.replace(status_view(record), trace_id=trace_id if created else None)
        return Response(view, status_code=201 if created else 200)
