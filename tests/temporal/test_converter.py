"""The fast `json/plain` converter writes the JSON Temporal's default one writes (the same
bytes, except that characters beyond ASCII stay UTF-8 instead of `\\u` escapes) and
reads back what the default one reads, for every payload type that crosses Temporal."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import msgspec
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.types import (
    ActionRequest,
    InterpreterInput,
    InterpreterResult,
    Projection,
    RunFailure,
    TimerLeft,
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


# The typed parts of a dataclass payload, and the plain JSON the default converter wrote
# for them before they were typed: the same bytes on the wire.
TYPED_PARTS = [
    (
        replace(BATCH, projection=Projection("running", 1, 3, 12)),
        replace(
            BATCH,
            projection={
                "status": "running",
                "progress_completed": 1,
                "progress_total": 3,
                "history_length": 12,
            },
        ),
    ),
    (
        replace(
            BATCH,
            projection=Projection(
                "failed",
                2,
                2,
                30,
                output={"b": 1},
                errors=[{"type": "x", "message": "m"}],
                errors_dropped=0,
                completed_at_ms=5,
                failure=RunFailure("m", {"type": "x"}),
            ),
        ),
        replace(
            BATCH,
            projection={
                "status": "failed",
                "progress_completed": 2,
                "progress_total": 2,
                "history_length": 30,
                "output": {"b": 1},
                "errors": [{"type": "x", "message": "m"}],
                "errors_dropped": 0,
                "completed_at_ms": 5,
                "failure": {"reason": "m", "details": {"type": "x"}},
            },
        ),
    ),
    (
        InterpreterInput("r", "w", "1", "y", {}, timers=[TimerLeft(2, 1500), TimerLeft(5, 0)]),
        InterpreterInput("r", "w", "1", "y", {}, timers=[[2, 1500], [5, 0]]),  # type: ignore[list-item]
    ),
]


@pytest.mark.parametrize(("typed", "plain"), TYPED_PARTS)
def test_typed_parts_write_what_their_plain_json_wrote(typed: Any, plain: Any) -> None:
    written = FAST.to_payloads([typed])[0]
    assert written.data == DEFAULT.to_payloads([plain])[0].data
    assert FAST.from_payloads([written], [type(typed)])[0] == typed


def test_a_projection_reads_back_from_the_plain_json_of_older_workflows() -> None:
    # A live run's row as the workflow wrote it before (no output, errors or failure).
    older = {"status": "running", "progress_completed": 0, "progress_total": 1,
             "history_length": 3}  # fmt: skip
    payload = DEFAULT.to_payloads([replace(BATCH, projection=older)])
    (batch,) = FAST.from_payloads(payload, [TraceBatch])
    assert batch.projection == Projection("running", 0, 1, 3)
    assert msgspec.to_builtins(batch.projection) == older
