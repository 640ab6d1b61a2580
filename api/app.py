"""The Litestar application: `create_app(config)`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from api.auth import bearer_guard
from api.browsers import LOOPBACK_HOSTS, browser_guard
from api.codec_cors import codec_cors
from api.config import ApiConfig, ConfigError
from api.console_assets import console_router
from api.limits import check_body_depth
from api.metrics import PROMETHEUS
from api.problems import EXCEPTION_HANDLERS
from api.routes.codec import CodecController
from api.routes.events import EventController
from api.routes.health import health
from api.routes.limits import LimitController
from api.routes.metrics import MetricsController
from api.routes.reports import RunReportsController
from api.routes.rules import RuleController
from api.routes.runs import RunController
from api.routes.schedules import ScheduleController
from api.routes.session import SessionController
from api.routes.webhooks import WebhookController, webhook_delivery
from api.routes.workflows import WorkflowController
from api.run_sweep import RunSweep
from api.schedules import ScheduleKeeper
from api.services import Services
from engine.actions.catalog import ActionCatalog
from engine.temporal.otel import TracingConfigError, install_tracing

log = logging.getLogger("segue.api")

API_VERSION = "1"


def create_app(
    config: ApiConfig | None = None, *, catalog: ActionCatalog | None = None
) -> Litestar:
    """The API over the store and Temporal. Refuses (`ConfigError`) to serve without a
    token unless `config.auth_disabled` (dev mode on loopback) says so explicitly."""
    config = config if config is not None else ApiConfig.from_env()
    config.check()
    try:
        install_tracing("segue-api")  # per the OTEL_* variables; off when they are unset
    except TracingConfigError as error:
        raise ConfigError(str(error)) from None
    services = Services(config, catalog)
    keeper = ScheduleKeeper(services)
    sweep = RunSweep(services, config.reconcile_seconds)

    def provide_services() -> Services:
        return services

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await services.start()
        keeper.start()
        sweep.start()
        if config.auth_disabled:
            log.warning("authentication is DISABLED (dev mode): serve on loopback only")
        try:
            yield
        finally:
            await keeper.stop()
            await services.stop()

    hosts = config.allowed_hosts or (LOOPBACK_HOSTS if config.auth_disabled else ("*",))
    app = Litestar(
        route_handlers=[
            WorkflowController,
            RunController,
            ScheduleController,
            WebhookController,
            webhook_delivery,
            RuleController,
            LimitController,
            RunReportsController,
            EventController,
            CodecController,
            SessionController,
            MetricsController,
            health,
            console_router(),
        ],
        middleware=[PROMETHEUS.middleware],
        before_request=check_body_depth,
        dependencies={"services": Provide(provide_services, sync_to_thread=False)},
        guards=[] if config.auth_disabled else [bearer_guard(config.tokens, services.sessions)],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=config.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Segue",
            version=API_VERSION,
            description="Run YAML workflows with Orquesta-style transitions on Temporal. "
            "Errors are RFC 7807 problem JSON with a stable `code`; see docs/api.md.",
            path="/schema",
        ),
        lifespan=[lifespan],
        debug=False,
    )
    # Around the whole ASGI handler, as Litestar's own CORS is: before routing, so that a
    # foreign Host is refused on every path (unknown ones included, not answered 404) and
    # the Temporal UI's codec preflight is answered without a route for OPTIONS.
    guarded = codec_cors(config.temporal_ui_origin)(app.asgi_handler)
    app.asgi_handler = browser_guard(hosts, config.allowed_origins, config.temporal_ui_origin)(
        guarded
    )
    return app
