"""Every payload of every recorded history reads as the type its reader asks for, and the
typed payloads write back the JSON they were read from: the Structs that replaced dicts
and positional rows (an action's outcome, a looked-up workflow, the continuation record,
timers left) change nothing on the wire in either direction.

A payload kind this table does not know fails the test: a new one gets a row here."""

from __future__ import annotations

import base64
import json
import typing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import msgspec
import pytest
from temporalio.api.common.v1 import Payload

from engine.temporal.carried import Carried, carried_of, carried_record
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.types import (
    ACQUIRE_LIMIT,
    LIMIT_STANDING,
    LOOKUP_WORKFLOW,
    RECORD_TRACE,
    RELEASE_HOLDER,
    RELEASE_LIMITS,
    RESOLVE_SECRETS,
    RUN_ACTION,
    SIGNAL_DELIVER,
    SIGNAL_LIMIT,
    SIGNAL_TASK_ARTIFACT,
    SIGNAL_TASK_PROGRESS,
    UPDATE_ANSWER,
    UPDATE_EVENT,
    ActionOutcome,
    ActionRequest,
    InterpreterInput,
    InterpreterResult,
    LimitAcquire,
    LimitAnswer,
    LimitHolder,
    LimitPromotion,
    LimitSignal,
    LimitStanding,
    SignalPayload,
    TakenWait,
    TaskArtifact,
    TaskProgress,
    TimerLeft,
    TraceBatch,
    WorkflowFound,
)

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
CONVERTER = DATA_CONVERTER.payload_converter

# activity name -> (what the workflow sends, what it reads back)
ACTIVITIES: dict[str, tuple[Any, Any]] = {
    RUN_ACTION: (ActionRequest, ActionOutcome),
    LOOKUP_WORKFLOW: (str, WorkflowFound),
    RESOLVE_SECRETS: (list, dict),
    RECORD_TRACE: (TraceBatch, None),
    ACQUIRE_LIMIT: (LimitAcquire, LimitAnswer),
    LIMIT_STANDING: (LimitStanding, str),
    RELEASE_LIMITS: (str, list[LimitPromotion]),
    RELEASE_HOLDER: (LimitHolder, list[LimitPromotion]),
}
SIGNALS = {
    SIGNAL_DELIVER: SignalPayload,
    SIGNAL_LIMIT: LimitSignal,
    SIGNAL_TASK_PROGRESS: TaskProgress,
    SIGNAL_TASK_ARTIFACT: TaskArtifact,
}
# update name -> (what the client sends, what the handler returns)
UPDATES: dict[str, tuple[Any, Any]] = {
    UPDATE_ANSWER: (SignalPayload, TakenWait),
    UPDATE_EVENT: (SignalPayload, list[TakenWait]),
}
# The typed payloads this table checks byte for byte: what they write is what was read.
ROUND_TRIPS = (ActionOutcome, WorkflowFound, TakenWait, list[LimitPromotion], list[TakenWait])


@dataclass
class Found:
    """One payload of a history and the type its reader asks for."""

    where: str
    payload: Payload
    shape: Any


def _payloads(holder: dict[str, Any] | None) -> list[Payload]:
    return [
        Payload(
            metadata={k: base64.b64decode(v) for k, v in raw.get("metadata", {}).items()},
            data=base64.b64decode(raw.get("data", "")),
        )
        for raw in (holder or {}).get("payloads", [])
    ]


def _attributes(event: dict[str, Any]) -> dict[str, Any]:
    return next((v for k, v in event.items() if k.endswith("Attributes")), {})


def _found(history: dict[str, Any]) -> list[Found]:
    """Each payload of the history with the type its reader asks for (None: no reader)."""
    scheduled: dict[str, str] = {}
    updates: dict[str, str] = {}  # update id -> name
    found: list[Found] = []
    for event in history["events"]:
        kind, attributes = event["eventType"].removeprefix("EVENT_TYPE_"), _attributes(event)
        where = f"event {event['eventId']} {kind}"

        def add(holder: dict[str, Any] | None, shape: Any, where: str = where) -> None:
            found.extend(Found(where, payload, shape) for payload in _payloads(holder))

        if kind in (
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
            "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        ):
            add(attributes.get("input"), InterpreterInput)
        elif kind in ("WORKFLOW_EXECUTION_COMPLETED", "CHILD_WORKFLOW_EXECUTION_COMPLETED"):
            add(attributes.get("result"), InterpreterResult)
        elif kind == "ACTIVITY_TASK_SCHEDULED":
            name = attributes["activityType"]["name"]
            scheduled[event["eventId"]] = name
            add(attributes.get("input"), ACTIVITIES[name][0], f"{where} {name}")
        elif kind == "ACTIVITY_TASK_COMPLETED":
            name = scheduled[attributes["scheduledEventId"]]
            add(attributes.get("result"), ACTIVITIES[name][1], f"{where} {name}")
        elif kind == "MARKER_RECORDED" and attributes["markerName"] == "core_local_activity":
            [data] = _payloads(attributes["details"]["data"])
            name = json.loads(data.data)["activity_type"]
            add(attributes["details"].get("result"), ACTIVITIES[name][1], f"{where} {name}")
        elif kind == "WORKFLOW_EXECUTION_SIGNALED":
            name = attributes["signalName"]
            add(attributes.get("input"), SIGNALS.get(name), f"{where} {name}")
        elif kind == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
            request = attributes["acceptedRequest"]["input"]
            updates[attributes["acceptedRequest"]["meta"]["updateId"]] = request["name"]
            add(request.get("args"), UPDATES[request["name"]][0])
        elif kind == "WORKFLOW_EXECUTION_UPDATE_COMPLETED":
            name = updates[attributes["meta"]["updateId"]]
            add(attributes["outcome"].get("success"), UPDATES[name][1], f"{where} {name}")
        else:
            # Temporal's own payloads (patch markers, search attributes, update outcomes
            # the handlers return as plain JSON): read as untyped JSON.
            for key, value in attributes.items():
                if isinstance(value, dict) and "payloads" in value:
                    add(value, None, f"{where} {key}")
    return found


def _check(found: Found) -> None:
    value = CONVERTER.from_payloads([found.payload], [found.shape] if found.shape else None)[0]
    if found.shape in ROUND_TRIPS:
        assert CONVERTER.to_payloads([value])[0].data == found.payload.data, found.where
    if typing.get_origin(found.shape) is list:
        (each,) = typing.get_args(found.shape)
        assert isinstance(value, list), found.where
        assert all(isinstance(v, each) for v in value), found.where
        return
    if found.shape is None or found.shape in (str, list, dict):
        assert found.shape is None or isinstance(value, found.shape), found.where
        return
    assert isinstance(value, found.shape), f"{found.where}: {type(value).__name__}"
    written = json.loads(found.payload.data)
    if isinstance(value, InterpreterInput):
        carried = carried_of(value)
        assert isinstance(carried, Carried)
        # What it writes back is what it read, less fields at their defaults (the
        # records of older releases wrote some) and fields since dropped.
        record = json.loads(json.dumps(carried_record(carried)))
        assert record == {k: v for k, v in written["carried"].items() if k in record}
        assert carried_of(replace(value, carried=record)) == carried, found.where
        assert all(isinstance(timer, TimerLeft) for timer in value.timers), found.where
        assert msgspec.to_builtins(value.timers) == written["timers"], found.where


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_every_payload_reads_as_its_type(path: Path) -> None:
    found = _found(json.loads(path.read_text()))
    assert found, path.stem
    for each in found:
        _check(each)


def test_the_corpus_holds_every_typed_payload() -> None:
    """The typed payloads each appear in some history, so the test above reads them: a
    run continued as new and children started with and without a record. (No history
    holds a timer or an open wait across continue-as-new: tests/temporal/test_converter.py
    and test_continuation_record.py check those shapes.)"""
    found = [f for path in HISTORIES for f in _found(json.loads(path.read_text()))]
    shapes = {f.shape for f in found}
    assert shapes >= {ActionOutcome, WorkflowFound, TakenWait, InterpreterInput, InterpreterResult}
    promoted = [f for f in found if f.shape == list[LimitPromotion] and f.payload.data != b"[]"]
    assert promoted  # a release that woke a waiter
    records = [
        json.loads(f.payload.data)["carried"]
        for f in found
        if "CONTINUED_AS_NEW" in f.where or "CHILD_WORKFLOW_EXECUTION_INITIATED" in f.where
    ]
    assert any("drain_paused" in record for record in records)  # continued as new
    assert any("masked" in record for record in records)  # a child given secrets
    assert {} in records  # a child given none


@pytest.mark.parametrize(
    ("outcome", "written"),
    [
        (ActionOutcome(None, False), b'{"result":null,"traced":false}'),
        (ActionOutcome({"a": 1}, True), b'{"result":{"a":1},"traced":true}'),
        (ActionOutcome(1, True, ["s"]), b'{"result":1,"secrets":["s"],"traced":true}'),
        (WorkflowFound("w", 3, "y"), b'{"name":"w","version":3,"yaml":"y"}'),
        (WorkflowFound("w", "ab12", "y"), b'{"name":"w","version":"ab12","yaml":"y"}'),
        (TimerLeft(4, 1500), b"[4,1500]"),
        (
            TakenWait("approve", 3, None, 1),
            b'{"attempt":1,"execution":3,"item":null,"task":"approve"}',
        ),
        (LimitPromotion("r", "db", "k"), b'{"holder":"","key":"k","name":"db","run_id":"r"}'),
    ],
)
def test_typed_payloads_write_the_json_the_dicts_wrote(outcome: Any, written: bytes) -> None:
    payload = CONVERTER.to_payloads([outcome])[0]
    assert payload.data == written
    assert CONVERTER.from_payloads([payload], [type(outcome)])[0] == outcome


@pytest.mark.parametrize(
    ("shape", "data", "says"),
    [
        (ActionOutcome, b'{"traced":true}', "missing required field `result`"),
        (ActionOutcome, b'{"result":1,"traced":true,"secrets":"s"}', "`$.secrets`"),
        (WorkflowFound, b'{"name":"w","version":1}', "missing required field `yaml`"),
        (WorkflowFound, b"[1]", "Expected `object`"),
        (list[LimitPromotion], b'[{"run_id":"r","name":"db"}]', "`key` - at `$[0]`"),
        (list[TakenWait], b'{"task":"t"}', "Expected `array`"),
    ],
)
def test_a_payload_that_is_not_its_type_says_where(shape: Any, data: bytes, says: str) -> None:
    payload = Payload(metadata={"encoding": b"json/plain"}, data=data)
    with pytest.raises(TypeError, match="the payload is not a") as refused:
        CONVERTER.from_payloads([payload], [shape])
    assert says in str(refused.value)
