"""The example plugin package, loaded through the entry points its pyproject declares."""

from __future__ import annotations

import asyncio
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from engine.actions import ActionCatalog, ActionError, invoke
from tests.actions.conftest import Recorder

PACKAGE = Path(__file__).parents[2] / "examples" / "segue-example-actions"


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch) -> ActionCatalog:
    monkeypatch.syspath_prepend(str(PACKAGE))
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    declared = project["entry-points"]["segue.actions"]
    entry_points = [
        EntryPoint(name=name, value=value, group="segue.actions")
        for name, value in declared.items()
    ]
    return ActionCatalog.from_environment(entry_points=entry_points)


def test_pack_registers_both_actions(catalog: ActionCatalog) -> None:
    assert catalog.problems == []
    greet, count = catalog.get("example.greet"), catalog.get("example.count")
    assert greet is not None and not greet.is_async
    assert count is not None and count.is_async and count.heartbeat_timeout == 30
    assert catalog.retry_defaults()["example.greet"] == {"count": 2, "delay": 1}


def test_greet(catalog: ActionCatalog, recorder: Recorder) -> None:
    result = asyncio.run(invoke(catalog, "example.greet", {"name": "Ada"}, recorder.context()))
    assert result == {"message": "Hello, Ada!", "task": "step"}
    with pytest.raises(ActionError) as caught:
        asyncio.run(invoke(catalog, "example.greet", {}, recorder.context()))
    assert caught.value.type == "invalid_input"


def test_count_heartbeats_and_reports_progress(catalog: ActionCatalog, recorder: Recorder) -> None:
    result = asyncio.run(invoke(catalog, "example.count", {"n": 3}, recorder.context()))
    assert result == {"counted": 3}
    assert recorder.heartbeats == [{"step": 1}, {"step": 2}, {"step": 3}]
    assert recorder.progress[-1] == (3, 3, "counted 3 of 3")


def test_count_stops_when_cancelled(catalog: ActionCatalog, recorder: Recorder) -> None:
    recorder.cancelled = True
    with pytest.raises(ActionError) as caught:
        asyncio.run(invoke(catalog, "example.count", {"n": 3}, recorder.context()))
    assert caught.value.type == "canceled"
