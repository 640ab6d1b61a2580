"""The coordinator's event/command protocol, as data (protocol.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from engine.coordinator import Coordinator, Event, RunInfo
from engine.coordinator.events import AnyEvent
from engine.language.loader import load_workflow
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
        ]
        expected = item["expect"]
        assert len(commands) == len(expected), (item["send"], commands)
        for got, wanted in zip(commands, expected, strict=True):
            assert matches(wanted, got), (item["send"], wanted, got)
