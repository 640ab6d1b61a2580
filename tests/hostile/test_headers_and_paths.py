"""Worst values of two inputs that need no server: the `traceparent` (and its companion
headers) a caller sends with a run's start, and the workflow name a `GET
/runs/{id}/export` answer gives `segue export --dir` to name its files with."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.export_files import write_case
from api.tracing import run_start_span, trace_id_of

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
