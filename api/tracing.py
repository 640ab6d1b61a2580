"""The API's OpenTelemetry span for a run's start (`POST /workflows/{name}/runs`, and
reruns): the root of the run's trace, or a child of the caller's when the request
carries a `traceparent`. Temporal's interceptor carries it into the run (the client is
connected with engine/temporal/otel.py's plugins), so the run's spans join it. With
tracing off the span records nothing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

_TRACER = trace.get_tracer("segue.api")


@contextmanager
def run_start_span(headers: Mapping[str, str], route: str, workflow: str) -> Iterator[Span]:
    """The span of one request that starts a run; current inside the block."""
    parent = propagate.extract(dict(headers))
    with _TRACER.start_as_current_span(
        f"POST {route}",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "POST", "http.route": route, "segue.workflow": workflow},
    ) as span:
        yield span


def trace_id_of(span: Span) -> str | None:
    """The span's trace id as 32 hex digits, if it is sampled (exported)."""
    context = span.get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return format(context.trace_id, "032x")
