"""OpenTelemetry traces for the API and the worker, configured by the standard `OTEL_*`
variables and off unless they ask for an exporter.

On when `OTEL_TRACES_EXPORTER` names one or more exporters (not `none`), or when an
OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` / `..._TRACES_ENDPOINT`, which then
means `otlp`); off when `OTEL_SDK_DISABLED=true`. Exporters are found by name among the
installed `opentelemetry_traces_exporter` entry points (the SDK brings `console`;
`opentelemetry-exporter-otlp-proto-http` brings `otlp_proto_http`, the gRPC package
`otlp`), so no exporter is imported unless one is asked for. Sampling
(`OTEL_TRACES_SAMPLER`), batching (`OTEL_BSP_*`) and the resource
(`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`) are the SDK's own.

The provider is Temporal's replay-safe one: span ids inside a workflow come from the
workflow's deterministic randomness and spans are not ended while it replays history,
so a run's spans are exported once, by the worker that saw them happen, even when
another worker replays the run after a restart.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Final

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from temporalio.contrib.opentelemetry import (
    OpenTelemetryPlugin,
    ReplaySafeTracerProvider,
    create_tracer_provider,
)
from temporalio.plugin import SimplePlugin

log = logging.getLogger("segue.otel")

# Exporter names: short identifiers, a handful at most (the variable is operator input).
_EXPORTER_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_EXPORTERS: Final = 4


class TracingConfigError(ValueError):
    """The `OTEL_*` variables ask for tracing that cannot be set up; says which and why."""


def requested_exporters(environ: Mapping[str, str]) -> list[str]:
    """The exporter names the environment asks for (empty: tracing off)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if not named:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    names = [name.strip().lower() for name in named.split(",") if name.strip()]
    if names == ["none"]:
        return []
    if len(names) > MAX_EXPORTERS:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER names {len(names)} exporters; at most {MAX_EXPORTERS}"
        )
    for name in names:
        if not _EXPORTER_NAME.fullmatch(name):
            raise TracingConfigError(
                f"OTEL_TRACES_EXPORTER: {name[:40]!r} is not an exporter name "
                "(lower-case letters, digits and _)"
            )
    return names


def _exporter(name: str) -> SpanExporter:
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        hint = (
            " (install opentelemetry-exporter-otlp-proto-http and name `otlp_proto_http`, "
            "or the gRPC exporter package for `otlp`)"
            if name.startswith("otlp")
            else ""
        )
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER: no installed package provides the exporter {name!r}{hint}"
        )
    exporter_class = next(iter(found)).load()
    exporter: SpanExporter = exporter_class()
    return exporter


def install_tracing(service_name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Set up tracing if the `OTEL_*` variables ask for it; whether it is on."""
    environ = os.environ if environ is None else environ
    names = requested_exporters(environ)
    if not names:
        return False
    processors: list[SpanProcessor] = [BatchSpanProcessor(_exporter(name)) for name in names]
    install_processors(service_name, processors)
    log.info("tracing on: exporting spans with %s", ", ".join(names))
    return True


def install_processors(service_name: str, processors: list[SpanProcessor]) -> None:
    """Make a replay-safe provider with these processors the process's tracer provider
    (OpenTelemetry allows one per process: later calls add their processors to it)."""
    current = trace.get_tracer_provider()
    if not isinstance(current, ReplaySafeTracerProvider):
        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: service_name}))
        current = create_tracer_provider(resource=resource)
        trace.set_tracer_provider(current)
    for processor in processors:
        current.add_span_processor(processor)


def tracing_on() -> bool:
    return isinstance(trace.get_tracer_provider(), ReplaySafeTracerProvider)


def tracing_plugins() -> list[SimplePlugin]:
    """Temporal client plugins: the OpenTelemetry one while tracing is on. It carries the
    current span's context in the headers of the workflows and activities started."""
    return [OpenTelemetryPlugin()] if tracing_on() else []
