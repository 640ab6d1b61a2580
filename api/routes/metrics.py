"""`GET /metrics`: Prometheus text of this process's `segue_*` families (api/metrics.py),
with the runs not yet ended counted in the store as the scrape is answered."""

from __future__ import annotations

import logging

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from api.metrics import RUNS_ACTIVE
from api.services import Services
from engine.store.run_counts import active_runs

log = logging.getLogger("segue.api.metrics")


class MetricsController(Controller):
    """`GET /metrics`."""

    path = "/metrics"
    include_in_schema = False

    @get()
    async def metrics(self, services: NamedDependency[Services]) -> Response[bytes]:
        try:
            RUNS_ACTIVE.latest = await active_runs(services.pool)
        except Exception as error:  # the store is away: the other metrics still answer
            log.warning("runs not counted for /metrics: %s", error)
            RUNS_ACTIVE.latest = None
        return Response(generate_latest(REGISTRY), status_code=200, media_type=CONTENT_TYPE_LATEST)
