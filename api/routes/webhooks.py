"""Webhooks: `/workflows/{name}/webhooks` to manage them (bearer token), and
`POST /hooks/{id}` where signed deliveries arrive (no token: the signature is the proof)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from api.auth import PUBLIC
from api.mapping import PayloadExpression
from api.problems import ApiProblem, documented, not_found
from api.runs import iso, require_version, status_view
from api.services import Services
from api.webhooks import deliver, new_hook_id, new_secret
from api.wire import RunStatusView, WebhookList, WebhookRequest, WebhookView
from engine.store import admission as store

ServicesDep = NamedDependency[Services]
MAX_WEBHOOKS_PER_WORKFLOW = 20


def _view(hook: store.Webhook, *, with_secret: bool = False) -> WebhookView:
    return WebhookView(
        id=hook.id,
        workflow=hook.workflow_name,
        name=hook.name,
        url=f"/hooks/{hook.id}",
        tolerance_seconds=hook.tolerance_seconds,
        max_body_bytes=hook.max_body_bytes,
        created_at=iso(hook.created_at),
        input=hook.input_mapping,
        secret=hook.secret if with_secret else None,
    )


class WebhookController(Controller):
    path = "/workflows/{name:str}/webhooks"
    tags = ["webhooks"]

    @post(
        "/",
        summary="Create a webhook (the answer shows its secret, once)",
        responses=documented(404, 409, 422),
    )
    async def create(
        self, services: ServicesDep, name: FromPath[str], data: JSONBody[WebhookRequest]
    ) -> Response[WebhookView]:
        await require_version(services, name)
        if data.input is not None:
            PayloadExpression(data.input, "input")  # 422 EXPRESSION_INVALID now, not later
        if len(await store.list_webhooks(services.pool, name)) >= MAX_WEBHOOKS_PER_WORKFLOW:
            raise ApiProblem(
                409,
                "TOO_MANY_WEBHOOKS",
                f"workflow {name!r} has {MAX_WEBHOOKS_PER_WORKFLOW} webhooks, the most allowed",
            )
        created = await store.create_webhook(
            services.pool,
            id=new_hook_id(),
            workflow_name=name,
            name=data.name,
            secret=new_secret(),
            input_mapping=data.input,
            tolerance_seconds=data.tolerance_seconds,
            max_body_bytes=data.max_body_bytes,
        )
        if created is None:
            raise ApiProblem(
                409, "WEBHOOK_EXISTS", f"workflow {name!r} already has a webhook {data.name!r}"
            )
        return Response(_view(created, with_secret=True), status_code=201)

    @get("/", summary="The workflow's webhooks (without secrets)", responses=documented(404))
    async def listing(self, services: ServicesDep, name: FromPath[str]) -> WebhookList:
        await require_version(services, name)
        return WebhookList(
            webhooks=[_view(hook) for hook in await store.list_webhooks(services.pool, name)]
        )

    @delete("/{hook:str}", status_code=204, summary="Remove a webhook", responses=documented(404))
    async def remove(self, services: ServicesDep, name: FromPath[str], hook: FromPath[str]) -> None:
        if not await store.delete_webhook(services.pool, name, hook):
            raise not_found("WEBHOOK_NOT_FOUND", f"workflow {name!r} has no webhook {hook!r}")


@post(
    "/hooks/{hook_id:str}",
    opt={PUBLIC: True},
    tags=["webhooks"],
    summary="A signed delivery: starts a run (Segue-Timestamp, Segue-Signature)",
    description="401 WEBHOOK_SIGNATURE_MISSING / WEBHOOK_SIGNATURE_INVALID / "
    "WEBHOOK_TIMESTAMP_INVALID / WEBHOOK_TIMESTAMP_EXPIRED, 409 WEBHOOK_REPLAYED, "
    "413 WEBHOOK_BODY_TOO_LARGE, 400 WEBHOOK_PAYLOAD_INVALID, 422 WEBHOOK_MAPPING_FAILED "
    "or INPUT_INVALID; see docs/api.md.",
    responses=documented(401, 404, 409, 413, 422, public=True),
    status_code=201,
)
async def webhook_delivery(
    services: NamedDependency[Services], request: Request[Any, Any, Any], hook_id: FromPath[str]
) -> RunStatusView:
    body = await request.body()
    record, _ = await deliver(services, hook_id, request.headers, body)
    return status_view(record)
