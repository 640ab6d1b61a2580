"""The API's `/metrics` (Prometheus text): every request by method, route template and
status (Litestar's Prometheus middleware over `prometheus_client`), and the live
server-sent event streams. Route templates, never concrete paths: a run id is no label.

Also the runs that have not ended, per workflow, read from the store at each scrape:
every worker sees only its own share of runs, the store sees them all. Every API replica
reports the same figure (aggregate with `max`, not `sum`).

The worker's metrics (runs, tasks, Temporal's own) are served by the worker itself at
`SEGUE_METRICS_ADDRESS` (engine/temporal/metrics.py). `/metrics` needs a token like any
route but `/health` when authentication is on (Prometheus sends one as
`authorization: {credentials: …}`).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.stream_limits import StreamLimits
from engine.store.run_counts import ActiveRuns

PROMETHEUS = PrometheusConfig(
    app_name="segue",
    prefix="segue_api",
    group_path=True,  # `/runs/{run_id}`, not one series per run
    exclude=["/metrics"],
)


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


class _ActiveRunsCollector(Collector):
    """`segue_runs_active{workflow}` and `segue_runs_oldest_idle_seconds{workflow}`, as the
    store said at the scrape that is being answered (nothing while it cannot say)."""

    def __init__(self) -> None:
        self.latest: list[ActiveRuns] | None = None

    def collect(self) -> Iterator[Any]:
        if self.latest is None:
            return
        active = GaugeMetricFamily(
            "segue_runs_active", "runs queued, running or paused", labels=["workflow"]
        )
        idle = GaugeMetricFamily(
            "segue_runs_oldest_idle_seconds",
            "longest time a run not yet ended has gone without a trace event",
            labels=["workflow"],
        )
        for entry in self.latest:
            active.add_metric([entry.workflow], float(entry.active))
            idle.add_metric([entry.workflow], entry.oldest_idle_seconds)
        yield active
        yield idle


RUNS_ACTIVE = _ActiveRunsCollector()
REGISTRY.register(RUNS_ACTIVE)


# The background reconciler (api/run_sweep.py). Only the process that held the sweep's
# lock counts a sweep: across replicas, aggregate these with `sum`.
SWEEPS = Counter(
    "segue_sweeps",
    "background reconcile sweeps, by outcome: swept, skipped (another process held the "
    "lock) or failed (Temporal or the store away; retried at the next tick)",
    ["outcome"],
)
SWEPT_RUNS = Counter(
    "segue_sweep_runs_reconciled",
    "runs whose end Temporal had closed and the store had not shown, written by the sweep",
)
