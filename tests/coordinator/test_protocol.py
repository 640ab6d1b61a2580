"""The coordinator's event/command protocol, as data (protocol.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from engine.coordinator import Coordinator, Event, RunInfo, TransitionEvaluated
from engine.coordinator.events import AnyEvent
from engine.language.loader import load_workflow
from engine.language.spec import RetrySpec
from tests.support.expectations import matches

CASES = yaml.safe_load((Path(__file__).parent / "protocol.yaml").read_text())
RUN = RunInfo("run-1", "protocol", "v1", 0)


def _event(raw: dict[str, Any], step: int) -> Event:
    data = {"at_ms": step * 1000, **raw}
    if data["event"] == "run_started":
        data.setdefault("run", msgspec.to_builtins(RUN))
    event: Event = msgspec.convert(data, AnyEvent)  # type: ignore[arg-type]
    return event


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_protocol(case: dict[str, Any]) -> None:
    coordinator = Coordinator(load_workflow(case["workflow"], "protocol.yaml", name="protocol"))
    for step, item in enumerate(case["steps"]):
        commands = [
            msgspec.json.decode(msgspec.json.encode(c))
            for c in coordinator.handle(_event(item["send"], step))
            # The transition notices have their own cases (test_transition_notices.py).
            if not isinstance(c, TransitionEvaluated)
        ]
        expected = item["expect"]
        assert len(commands) == len(expected), (item["send"], commands)
        for got, wanted in zip(commands, expected, strict=True):
            assert matches(wanted, got), (item["send"], wanted, got)


def test_retry_layers_merge_field_by_field() -> None:
    """engine baseline -> the action's own default -> workflow `retry` -> task `retry`."""
    text = """
version: 1
retry: {count: 1}
tasks:
  call:
    action: svc.call
    retry: {backoff: 3}
"""
    defaults = {"svc.call": RetrySpec.from_numbers({"count": 5, "delay": 2, "backoff": 2})}
    coordinator = Coordinator(load_workflow(text, "merge.yaml"), action_retry_defaults=defaults)
    coordinator.handle(_event({"event": "run_started", "input": {}}, 0))
    coordinator.handle(_event({"event": "start_ready"}, 1))
    failed = {
        "event": "action_failed",
        "execution": 1,
        "attempt": 1,
        "error": {"type": "x", "message": "m"},
    }
    commands = [msgspec.to_builtins(c) for c in coordinator.handle(_event(failed, 2))]
    # count from the workflow (1), delay from the action (2 s), backoff from the task.
    assert commands[0]["command"] == "attempt_failed" and commands[0]["retry_in_seconds"] == 2.0
    coordinator.handle(_event({"event": "timer_fired", "timer": 1}, 3))
    failed["attempt"] = 2
    finished = [msgspec.to_builtins(c) for c in coordinator.handle(_event(failed, 4))]
    assert [c["command"] for c in finished] == ["execution_finished", "finish_run"]
