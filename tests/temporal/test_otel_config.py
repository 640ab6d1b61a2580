"""Which `OTEL_*` settings turn tracing on, with which exporters, and the precise error
for each setting that cannot work (engine/temporal/otel.py). No server needed."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from engine.temporal.otel import TracingConfigError, _exporter, requested_exporters

# environment -> the exporters asked for ([] = tracing off)
CASES: list[tuple[dict[str, str], list[str]]] = [
    ({}, []),
    ({"OTEL_SERVICE_NAME": "segue"}, []),
    ({"OTEL_TRACES_EXPORTER": "none"}, []),
    ({"OTEL_TRACES_EXPORTER": " "}, []),
    ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
    ({"OTEL_TRACES_EXPORTER": "Console, otlp_proto_http"}, ["console", "otlp_proto_http"]),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
    ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, []),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"}, []),
    ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "false"}, ["console"]),
]


@pytest.mark.parametrize(("environ", "expected"), CASES)
def test_exporters_asked_for(environ: dict[str, str], expected: list[str]) -> None:
    assert requested_exporters(environ) == expected


# environment -> the words the error must contain
REFUSED: list[tuple[dict[str, str], str]] = [
    ({"OTEL_TRACES_EXPORTER": "a,b,c,d,e"}, "names 5 exporters; at most 4"),
    ({"OTEL_TRACES_EXPORTER": "console;rm -rf /"}, "is not an exporter name"),
    ({"OTEL_TRACES_EXPORTER": "x" * 10_000}, "is not an exporter name"),
    ({"OTEL_TRACES_EXPORTER": "9lives"}, "is not an exporter name"),
]


@pytest.mark.parametrize(("environ", "words"), REFUSED)
def test_settings_that_cannot_work_are_refused(environ: dict[str, str], words: str) -> None:
    with pytest.raises(TracingConfigError, match=words) as refused:
        requested_exporters(environ)
    assert len(str(refused.value)) < 200  # a 10,000-character value is not echoed whole


def test_an_exporter_is_found_by_its_entry_point_name() -> None:
    assert isinstance(_exporter("console"), ConsoleSpanExporter)


def test_an_exporter_no_package_provides_says_what_to_install() -> None:
    with pytest.raises(TracingConfigError, match="opentelemetry-exporter-otlp-proto-http"):
        _exporter("otlp_proto_http")
    with pytest.raises(TracingConfigError, match=r"no installed package provides .*'zipkin_json'"):
        _exporter("zipkin_json")
