"""The fast `json/plain` converter writes the JSON Temporal's default one writes (the same
bytes, except that characters beyond ASCII stay UTF-8 instead of `\\u` escapes) and
reads back what the default one reads, for every payload type that crosses Temporal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.types import (
    ActionRequest,
    InterpreterInput,
    InterpreterResult,
    TraceBatch,
    TraceRecord,
    WaitChange,
)

FAST = DATA_CONVERTER.payload_converter
DEFAULT = DataConverter.default.payload_converter

BATCH = TraceBatch(
    "run-1",
    "wf",
    [TraceRecord(1, "STARTED", "info", 1_700_000_000_000, "t", data={"iteration": 1})],
    projection={"status": "RUNNING", "progress_total": 3},
    waits=[WaitChange(4, "approve", "order.paid", "o-1")],
)
VALUES: list[tuple[Any, type | None]] = [
    (
        ActionRequest(
            "run-1", "wf", "t", 2, 0, 1, 7, "http.request", {"url": "http://x", "n": [1, 2.5]}
        ),
        ActionRequest,
    ),
    (ActionRequest("r", "w", "t", 1, 0, 1, 1, "a", None, item=3, trace=BATCH), ActionRequest),
    (InterpreterInput("run-1", "wf", "3", "version: 1\n", {"who": "é ✓"}), InterpreterInput),
    (InterpreterResult("run-1", "failed", None, [{"type": "x", "message": "m"}]), None),
    (BATCH, TraceBatch),
    ({"result": {"b": 1, "a": [None, True, 1.5]}, "traced": False}, dict),
    ([1, "two", {"z": 3, "a": 4}], list),
    ("text", str),
    (17, int),
]


@pytest.mark.parametrize(("value", "hint"), VALUES)
def test_same_bytes_and_same_values_as_the_default_converter(value: Any, hint: type | None) -> None:
    fast, default = FAST.to_payloads([value]), DEFAULT.to_payloads([value])
    assert fast[0].metadata == default[0].metadata
    if fast[0].data.isascii():
        assert fast[0].data == default[0].data
    else:
        assert json.loads(fast[0].data) == json.loads(default[0].data)
    hints = None if hint is None else [hint]
    assert FAST.from_payloads(fast, hints) == DEFAULT.from_payloads(default, hints)


def test_a_whole_number_reads_into_a_float_field() -> None:
    payload = FAST.to_payloads([{"run_id": "r", "workflow": "w", "task": "t", "iteration": 1,
                                 "route": 0, "attempt": 1, "execution": 1, "action": "a",
                                 "input": None, "timeout_seconds": 60}])  # fmt: skip
    (request,) = FAST.from_payloads(payload, [ActionRequest])
    assert request.timeout_seconds == 60


def test_what_msgspec_cannot_read_goes_to_the_default_converter() -> None:
    # A field of the wrong type: the default converter's own error, not msgspec's.
    payload = Payload(metadata={"encoding": b"json/plain"}, data=b'{"run_id": 5}')
    with pytest.raises(Exception) as fast_error:
        FAST.from_payloads([payload], [ActionRequest])
    with pytest.raises(Exception) as default_error:
        DEFAULT.from_payloads([payload], [ActionRequest])
    assert type(fast_error.value) is type(default_error.value)
