"""`GET /health`: liveness and readiness (PostgreSQL and Temporal both answer)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import psycopg
from litestar import Response, get
from litestar.di import NamedDependency

from api.problems import PROBLEM_MEDIA_TYPE, StoreUnavailable, documented, problem_body
from api.services import Services
from api.wire import Health
from engine.temporal.client import TemporalClientError, check_health

CHECK_SECONDS = 2.0


async def postgres_state(services: Services) -> str:
    try:
        async with services.pool.connection(timeout=CHECK_SECONDS) as conn:
            await conn.execute("SELECT 1")
    except (StoreUnavailable, psycopg.Error, OSError):
        return "unavailable"
    return "ok"


async def temporal_state(services: Services) -> str:
    try:
        healthy = await check_health(services.temporal, timeout=timedelta(seconds=CHECK_SECONDS))
    except TemporalClientError:
        return "unavailable"
    return "ok" if healthy else "unavailable"


@get(
    "/health",
    opt={"public": True},
    tags=["health"],
    summary="Liveness and readiness: 503 (code UNHEALTHY) names the part that is down",
    responses=documented(public=True),
)
async def health(services: NamedDependency[Services]) -> Response[Any]:
    postgres, temporal = await asyncio.gather(postgres_state(services), temporal_state(services))
    if postgres == temporal == "ok":
        return Response(Health(status="ok", postgres=postgres, temporal=temporal))
    failed = [
        name for name, state in (("postgres", postgres), ("temporal", temporal)) if state != "ok"
    ]
    body = problem_body(
        503,
        "UNHEALTHY",
        f"not ready: {' and '.join(failed)} unavailable",
        extra={"postgres": postgres, "temporal": temporal},
    )
    return Response(body, status_code=503, media_type=PROBLEM_MEDIA_TYPE)
