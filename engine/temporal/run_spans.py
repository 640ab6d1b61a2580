"""A run's OpenTelemetry spans, made inside the workflow: one for the run (a child of the
context the run was started in, e.g. the API's `POST …/runs` span) and one per task
execution under it. Each action attempt's activity runs in its execution's context, so
the worker's attempt span (engine/temporal/activities.py) and what the action calls
(`http.request` sends `traceparent`) join the same trace.

Spans use the process's tracer provider; with tracing off it hands out spans that record
nothing. With tracing on it is Temporal's replay-safe provider (engine/temporal/otel.py):
the ids come from the workflow's deterministic randomness and nothing ends while history
replays, so a span started before a worker restart ends once, with its original start
time, on the worker that goes on with the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Status, StatusCode
    from opentelemetry.util.types import AttributeValue

    from engine.coordinator import ExecutionFinished, ExecutionStarted, ExecutionStatus


class RunSpans:
    """The open spans of one run (create inside the workflow)."""

    def __init__(self, workflow_name: str, run_id: str) -> None:
        self._workflow = workflow_name
        self._tracer = trace.get_tracer("segue.workflow")
        self._attributes: dict[str, AttributeValue] = {
            "segue.workflow": workflow_name,
            "segue.run_id": run_id,
        }
        self._run: Span | None = None
        self._executions: dict[int, Span] = {}

    def run_started(self, continued: bool) -> None:
        name = f"run {self._workflow}"
        attributes = {**self._attributes, "segue.continued": continued}
        self._run = self._tracer.start_span(name, attributes=attributes)

    @property
    def trace_id(self) -> str | None:
        """The run's trace id (32 hex digits) while its span records, else None."""
        if self._run is None or not self._run.is_recording():
            return None
        return format(self._run.get_span_context().trace_id, "032x")

    def execution_started(self, command: ExecutionStarted) -> None:
        ref = command.execution
        self._executions[ref.id] = self._tracer.start_span(
            f"task {ref.task}",
            context=self._run_context(),
            attributes={
                **self._attributes,
                "segue.task": ref.task,
                "segue.execution": ref.id,
                "segue.iteration": ref.iteration,
                "segue.route": ref.route,
            },
        )

    def execution_finished(self, command: ExecutionFinished) -> None:
        span = self._executions.pop(command.execution.id, None)
        if span is None:
            return
        span.set_attribute("segue.status", str(command.status))
        span.set_attribute("segue.attempts", command.attempts)
        if command.status is ExecutionStatus.FAILED and command.error is not None:
            span.set_status(
                Status(StatusCode.ERROR, f"{command.error.type}: {command.error.message}")
            )
        span.end()

    @contextmanager
    def current(self, execution: int) -> Iterator[None]:
        """Make an execution's span current inside the block: the activities started there
        carry its context (Temporal's OpenTelemetry interceptor puts it in their headers)."""
        span = self._executions.get(execution)
        if span is None:
            yield
            return
        token = otel_context.attach(trace.set_span_in_context(span, self._run_context()))
        try:
            yield
        finally:
            otel_context.detach(token)

    def run_finished(self, status: str, failed: bool) -> None:
        """End the run's span (and any execution left open, e.g. by a cancel)."""
        for span in self._executions.values():
            span.end()
        self._executions.clear()
        if self._run is not None:
            self._run.set_attribute("segue.status", status)
            if failed:
                self._run.set_status(Status(StatusCode.ERROR, f"run {status}"))
            self._run.end()
            self._run = None

    def _run_context(self) -> Context | None:
        return trace.set_span_in_context(self._run) if self._run is not None else None
