"""Replay safety: committed histories of example runs replay on the current interpreter
without non-determinism (JSONata passed through the sandbox; clock and randomness bound
to workflow time and the run id). Re-record with tests/temporal/histories/record.py
only for deliberate, versioned changes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from engine.temporal.converter import DATA_CONVERTER
from engine.temporal.interpreter import Interpreter
from engine.temporal.worker import workflow_runner

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", json.loads(path.read_text()))
    replayer = Replayer(
        workflows=[Interpreter], workflow_runner=workflow_runner(), data_converter=DATA_CONVERTER
    )
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=True))
    assert result.replay_failure is None


def test_there_are_histories() -> None:
    assert {p.stem for p in HISTORIES} >= {"monitoring", "features"}
