"""The API's `/metrics` (Prometheus text): every request by method, route template and
status (Litestar's Prometheus middleware over `prometheus_client`), and the live
server-sent event streams. Route templates, never concrete paths: a run id is no label.

The worker's metrics (runs, tasks, Temporal's own) are served by the worker itself at
`SEGUE_METRICS_ADDRESS` (engine/temporal/metrics.py). `/metrics` needs a token like any
route but `/health` when authentication is on (Prometheus sends one as
`authorization: {credentials: …}`).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.stream_limits import StreamLimits

PROMETHEUS = PrometheusConfig(
    app_name="segue",
    prefix="segue_api",
    group_path=True,  # `/runs/{run_id}`, not one series per run
    exclude=["/metrics"],
)


class MetricsController(PrometheusController):
    """`GET /metrics`."""

    path = "/metrics"
    include_in_schema = False


class _StreamsCollector(Collector):
    """`segue_sse_streams`: the streams every live app in this process holds now."""

    def __init__(self) -> None:
        self.limits: list[weakref.ref[StreamLimits]] = []

    def collect(self) -> Iterator[Any]:
        live = [limits for ref in self.limits if (limits := ref()) is not None]
        self.limits = [weakref.ref(limits) for limits in live]
        gauge = GaugeMetricFamily("segue_sse_streams", "live server-sent event streams")
        gauge.add_metric([], float(sum(limits.open for limits in live)))
        yield gauge


_STREAMS = _StreamsCollector()
REGISTRY.register(_STREAMS)


def count_streams(limits: StreamLimits) -> None:
    """Report `limits`' open streams in `segue_sse_streams` while it lives."""
    _STREAMS.limits.append(weakref.ref(limits))
