"""`POST /events`: correlated ingress."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.ingress import route_event
from api.problems import documented
from api.services import Services
from api.wire import IngressEvent, IngressResult


class EventController(Controller):
    path = "/events"
    tags = ["events"]

    @post(
        "/",
        status_code=202,
        summary="Deliver an event to every run waiting for it (by name and correlation key)",
        responses=documented(400, 422),
    )
    async def ingest(
        self, services: NamedDependency[Services], data: JSONBody[IngressEvent]
    ) -> IngressResult:
        return await route_event(services, data)
