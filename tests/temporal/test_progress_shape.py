"""The `progress` query's answer is a Struct now (engine/temporal/run_progress.py), but an
API and a worker of different releases ask and answer each other during an upgrade: the
Struct writes the very bytes the dict it replaced wrote, in every state a run can be in,
and an answer written as that dict reads back as the Struct. An answer of another shape
is refused with the path of what is wrong."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from engine.statuses import ApiStatus
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.run_progress import (
    LiveProgress,
    OpenWait,
    QueuedAttempt,
    QueuedRun,
    RecentExecution,
    RunningExecution,
)

CONVERTER = DATA_CONVERTER.payload_converter


def _running(execution: int, task: str, attempt: int = 1) -> RunningExecution:
    return RunningExecution(execution, task, 0, 0, attempt, "running", 1000 + execution)


def _running_dict(execution: int, task: str, attempt: int = 1) -> dict[str, Any]:
    """A running entry as driver.carry_out wrote it before."""
    return {
        "execution": execution,
        "task": task,
        "iteration": 0,
        "route": 0,
        "attempt": attempt,
        "status": "running",
        "started_ms": 1000 + execution,
    }


def _progress(status: ApiStatus, *, paused: bool = False, **fields: Any) -> LiveProgress:
    progress = LiveProgress(status, paused, 0, 0, [], [], [])
    for name, value in fields.items():
        setattr(progress, name, value)
    return progress


def _old(status: ApiStatus, *, paused: bool = False, **fields: Any) -> dict[str, Any]:
    """The answer as trace_pump.progress_of built it before: a dict, `queued` and
    `queued_attempts` only when there is something in them."""
    return {
        "status": status,
        "paused": paused,
        "started": 0,
        "finished": 0,
        "running": [],
        "recent": [],
        "waiting": [],
        **fields,
    }


# (state, the Struct the workflow answers now, the dict it answered before)
STATES: list[tuple[str, LiveProgress, dict[str, Any]]] = [
    (
        "running, one execution retried and one finished",
        _progress(
            ApiStatus.RUNNING,
            started=3,
            finished=1,
            running=[_running(2, "fetch", attempt=2), _running(3, "scan")],
            recent=[RecentExecution.of(_running(1, "start"), "succeeded", 1, 1500)],
        ),
        _old(
            ApiStatus.RUNNING,
            started=3,
            finished=1,
            running=[_running_dict(2, "fetch", attempt=2), _running_dict(3, "scan")],
            recent=[
                {
                    **_running_dict(1, "start"),
                    "status": "succeeded",
                    "attempt": 1,
                    "finished_ms": 1500,
                }
            ],
        ),
    ),
    (
        "a finished execution that had no running entry keeps only how it ended",
        _progress(ApiStatus.RUNNING, recent=[RecentExecution.of(None, "failed", 3, 2000)]),
        _old(
            ApiStatus.RUNNING,
            recent=[{"status": "failed", "attempt": 3, "finished_ms": 2000}],
        ),
    ),
    (
        "paused",
        _progress(ApiStatus.PAUSED, paused=True, started=1, finished=1),
        _old(ApiStatus.PAUSED, paused=True, started=1, finished=1),
    ),
    (
        "queued for a limit, position known",
        _progress(ApiStatus.QUEUED, queued=QueuedRun("deploys", "prod", 4)),
        _old(ApiStatus.QUEUED, queued={"limit": "deploys", "key": "prod", "position": 4}),
    ),
    (
        "queued for a limit, position null",
        _progress(ApiStatus.QUEUED, queued=QueuedRun("deploys", "", None)),
        _old(ApiStatus.QUEUED, queued={"limit": "deploys", "key": "", "position": None}),
    ),
    (
        "task attempts waiting for a limit's slot",
        _progress(
            ApiStatus.RUNNING,
            running=[_running(1, "build")],
            queued_attempts=[QueuedAttempt("run-1/1", "builders", "")],
        ),
        _old(
            ApiStatus.RUNNING,
            running=[_running_dict(1, "build")],
            queued_attempts=[{"holder": "run-1/1", "limit": "builders", "key": ""}],
        ),
    ),
    (
        "waits: an approval (no item, no key) and a keyed event wait of an item",
        _progress(
            ApiStatus.RUNNING,
            waiting=[
                OpenWait("approve", 1, None, 1, "approval", None),
                OpenWait("hear", 2, 0, 2, "deployed", "order-7"),
            ],
        ),
        _old(
            ApiStatus.RUNNING,
            waiting=[
                {
                    "task": "approve",
                    "execution": 1,
                    "item": None,
                    "attempt": 1,
                    "event": "approval",
                    "key": None,
                },
                {
                    "task": "hear",
                    "execution": 2,
                    "item": 0,
                    "attempt": 2,
                    "event": "deployed",
                    "key": "order-7",
                },
            ],
        ),
    ),
    (
        "finished",
        _progress(
            ApiStatus.COMPLETED,
            started=2,
            finished=2,
            recent=[RecentExecution.of(_running(2, "end"), "succeeded", 1, 3000)],
        ),
        _old(
            ApiStatus.COMPLETED,
            started=2,
            finished=2,
            recent=[
                {
                    **_running_dict(2, "end"),
                    "status": "succeeded",
                    "attempt": 1,
                    "finished_ms": 3000,
                }
            ],
        ),
    ),
]


@pytest.mark.parametrize(("state", "answer", "before"), STATES, ids=[s[0] for s in STATES])
def test_the_answer_writes_the_bytes_the_dict_wrote(
    state: str, answer: LiveProgress, before: dict[str, Any]
) -> None:
    written = CONVERTER.to_payloads([answer])[0]
    assert written.data == CONVERTER.to_payloads([before])[0].data
    assert written.metadata == CONVERTER.to_payloads([before])[0].metadata


@pytest.mark.parametrize(("state", "answer", "before"), STATES, ids=[s[0] for s in STATES])
def test_an_answer_of_the_previous_release_reads_as_the_struct(
    state: str, answer: LiveProgress, before: dict[str, Any]
) -> None:
    old_payload = CONVERTER.to_payloads([before])[0]
    (read,) = CONVERTER.from_payloads([old_payload], [LiveProgress])
    assert read == answer
    assert msgspec.json.decode(old_payload.data) == msgspec.to_builtins(answer)


def test_keys_a_later_release_adds_are_ignored() -> None:
    newer = {**_old(ApiStatus.RUNNING), "budget": {"left": 3}}
    (read,) = CONVERTER.from_payloads(CONVERTER.to_payloads([newer]), [LiveProgress])
    assert read == _progress(ApiStatus.RUNNING)


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ([1, 2], "Expected `object`, got `array`"),
        ({**_old(ApiStatus.RUNNING), "status": "DANCING"}, "at `$.status`"),
        ({k: v for k, v in _old(ApiStatus.RUNNING).items() if k != "waiting"}, "`waiting`"),
        (_old(ApiStatus.RUNNING, waiting=[{"task": "t"}]), "at `$.waiting[0]`"),
        (_old(ApiStatus.QUEUED, queued={"limit": 1, "key": "", "position": 0}), "`$.queued.limit`"),
    ],
)
def test_an_answer_of_another_shape_says_where(answer: Any, says: str) -> None:
    with pytest.raises(TypeError, match=r"the payload is not a LiveProgress") as raised:
        CONVERTER.from_payloads(CONVERTER.to_payloads([answer]), [LiveProgress])
    assert says in str(raised.value)
