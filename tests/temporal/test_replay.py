"""Replay safety: committed histories of example runs replay on the current interpreter
without non-determinism (JSONata passed through the sandbox; clock and randomness bound
to workflow time and the run id). Re-record with tests/temporal/histories/record.py
only for deliberate, versioned changes; histories of older releases stay, as the runs in
flight that an upgrade must not disturb."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, WorkflowReplayResult

from engine.temporal import versioning
from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.interpreter import Interpreter
from engine.temporal.worker import workflow_runner

HERE = Path(__file__).parent / "histories"
HISTORIES = sorted(HERE.glob("*.json"))


def _history(stem: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((HERE / f"{stem}.json").read_text())
    return loaded


def _replay(stem: str) -> WorkflowReplayResult:
    history = WorkflowHistory.from_json(f"replay-{stem}", _history(stem))
    replayer = Replayer(
        workflows=[Interpreter], workflow_runner=workflow_runner(), data_converter=DATA_CONVERTER
    )
    return asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=False))


def _timers(stem: str) -> int:
    return sum(e["eventType"] == "EVENT_TYPE_TIMER_STARTED" for e in _history(stem)["events"])


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_history_replays(path: Path) -> None:
    assert _replay(path.stem).replay_failure is None


def test_there_are_histories() -> None:
    assert {p.stem for p in HISTORIES} >= {
        "monitoring",
        "features",
        "joins",
        "joins-behaviour-1",
        "answers",
        "limits",
    }


def test_answers_went_through_updates() -> None:
    """`answers` (behaviour 2): two refused answers and one taken, all as Updates; the
    signal sent before the wait began answered nothing (the output names `ada`)."""
    events = _history("answers")["events"]
    kinds = [event["eventType"] for event in events]
    assert kinds.count("EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED") == 3
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED" in kinds
    [payload] = events[-1]["workflowExecutionCompletedEventAttributes"]["result"]["payloads"]
    assert json.loads(base64.b64decode(payload["data"]))["output"]["greeting"] == "Hello ada"


def test_a_queued_run_waits_by_signal_not_by_polling() -> None:
    """`limits` (behaviour 3): the run acquired (queued), waited with no timer for the
    `limit` signal its holder's release sent, and released before it ended."""
    events = _history("limits")["events"]
    scheduled = [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    ]
    assert scheduled == ["segue.acquire_limit", "segue.release_limits"]
    signals = [
        e["workflowExecutionSignaledEventAttributes"]["signalName"]
        for e in events
        if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"
    ]
    assert signals == ["limit", "deliver"]
    assert _timers("limits") == 0


def test_a_run_keeps_the_behaviour_it_started_on() -> None:
    """The same workflow, recorded on behaviour 1 (its join task ran twice: a timer each)
    and on behaviour 2 (once): both histories replay on this code, each as it ran."""
    assert (_timers("joins-behaviour-1"), _timers("joins")) == (3, 2)


def test_without_the_gate_an_old_run_would_change_course(monkeypatch: pytest.MonkeyPatch) -> None:
    """The negative control: a worker that gave every run the newest behaviour would
    break the run recorded on behaviour 1 when Temporal replays it."""

    class EveryRunIsNew:
        @staticmethod
        def patched(patch_id: str) -> bool:
            return True

    monkeypatch.setattr(versioning, "workflow", EveryRunIsNew)
    assert _replay("joins-behaviour-1").replay_failure is not None
