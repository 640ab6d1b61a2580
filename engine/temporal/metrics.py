"""Segue's own run metrics, through Temporal's metric meter, exported with the SDK's.

The workflow meter records nothing while a workflow replays, so a run counted once is
never counted again when a worker restarts and replays its history (tested in
tests/temporal/test_metrics.py). Labels name workflows, tasks and statuses, never a run:
the series stay as many as the workflows' tasks. A worker exports them, with Temporal's
own worker metrics (durations in seconds), in Prometheus text at
`SEGUE_METRICS_ADDRESS` (host:port, `/metrics`); unset, nothing is served.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

with workflow.unsafe.imports_passed_through():
    from engine.coordinator import ExecutionFinished, FinishRun
    from engine.coordinator.error_types import ErrorType


def prometheus_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime that serves its metrics, Segue's included, at `bind_address`."""
    config = PrometheusConfig(bind_address=bind_address, durations_as_seconds=True)
    return Runtime(telemetry=TelemetryConfig(metrics=config))


class RunMetrics:
    """The counters one run feeds (create inside the workflow: the meter is its own)."""

    def __init__(self, workflow_name: str) -> None:
        meter = workflow.metric_meter().with_additional_attributes({"workflow": workflow_name})
        self._started = meter.create_counter("segue_runs_started_total", "runs started")
        self._finished = meter.create_counter("segue_runs_finished_total", "runs finished")
        self._duration = meter.create_histogram_float(
            "segue_run_duration_seconds", "run duration, start to finish (workflow time)", "s"
        )
        self._executions = meter.create_counter(
            "segue_task_executions_total", "task executions finished"
        )
        self._capped = meter.create_counter(
            "segue_iteration_cap_hits_total", "starts refused by an iteration cap"
        )
        self._expressions = meter.create_counter(
            "segue_expression_errors_total", "expression errors"
        )
        self._continued = meter.create_counter(
            "segue_continue_as_new_total", "runs continued as new"
        )

    def run_started(self) -> None:
        self._started.add(1)

    def execution_finished(self, command: ExecutionFinished) -> None:
        status = str(command.status)
        self._executions.add(1, {"task": command.execution.task, "status": status})

    def run_finished(self, finish: FinishRun, seconds: float) -> None:
        status = str(finish.status)
        self._finished.add(1, {"status": status})
        self._duration.record(max(seconds, 0.0), {"status": status})
        for entry in finish.errors:
            if entry.type == ErrorType.ITERATION_CAP:
                self._capped.add(1, {"task": entry.task or ""})
            elif entry.type == "expression":
                self._expressions.add(1)

    def continued_as_new(self) -> None:
        self._continued.add(1)
