"""Worst values of two inputs that need no server: the `traceparent` (and its companion
headers) a caller sends with a run's start, and the workflow name a `GET
/runs/{id}/export` answer gives `segue export --dir` to name its files with, and the
size of a run that export is asked for."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from api.export import MAX_EXPORT_EVENTS, run_case
from api.export_files import write_case
from api.problems import ApiProblem
from api.services import Services
from api.tracing import run_start_span, trace_id_of
from engine.store import RunRecord, WorkflowVersion

GARBAGE_HEADERS = [
    {"traceparent": "00-" + "z" * 32 + "-" + "0" * 16 + "-01"},
    {"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"},  # the invalid all-zero id
    {"traceparent": "ff-" + "a" * 10_000},
    {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "tracestate": "k=v," * 5_000},
    {"baggage": "k=v," * 10_000},
]


@pytest.mark.parametrize("headers", GARBAGE_HEADERS)
def test_a_malformed_trace_header_starts_a_span_of_its_own(headers: dict[str, str]) -> None:
    # Never a 500: a header that does not parse is as if it were not sent.
    with run_start_span(headers, "/workflows/{name}/runs", "w") as span:
        trace_id = trace_id_of(span)
    assert trace_id is None or trace_id not in {"0" * 32, "z" * 32}


@pytest.mark.parametrize("name", ["../../outside", "/etc/passwd", "..", "", "a" * 500])
def test_export_files_stay_in_their_directory(tmp_path: Path, name: str) -> None:
    case = {"source": {"workflow": name}, "workflow": "version: 1\n", "mocks": {}, "input": {}}
    directory = tmp_path / "case"
    paths = write_case(case, directory)
    for path in paths.values():
        assert path.parent == directory and path.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case"]


def test_an_export_past_its_event_cap_is_refused_before_anything_is_read() -> None:
    # GET /runs/{id}/export builds the whole case in the API's memory: a run with more
    # trace events than the cap is a 409, and nothing is fetched for it.
    run = cast(RunRecord, SimpleNamespace(run_id="r", last_seq=MAX_EXPORT_EVENTS + 1))
    no_services = cast(Services, None)  # any use of it would raise
    with pytest.raises(ApiProblem) as refused:
        asyncio.run(run_case(no_services, run, cast(WorkflowVersion, None)))
    assert (refused.value.status, refused.value.code) == (409, "EXPORT_TOO_LARGE")
