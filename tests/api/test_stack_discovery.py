"""How the client commands find a stack: SEGUE_API_URL wins; records count only while
their process lives; dead ones are removed when seen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.found_api import find_api
from api.stackstate import StackRecord, live_stacks, publish, user_state_dir


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("SEGUE_DATA_DIR", str(tmp_path / "here"))
    monkeypatch.delenv("SEGUE_API_URL", raising=False)
    return tmp_path


def _record(data_dir: Path, pid: int, api: str) -> StackRecord:
    data_dir.mkdir(parents=True, exist_ok=True)
    record = StackRecord.for_this_process(data_dir)
    record.pid, record.api, record.demo = pid, api, "http://127.0.0.1:1"
    return record


def test_a_live_stack_is_found_from_another_directory(state: Path) -> None:
    publish(_record(state / "elsewhere", os.getpid(), "http://127.0.0.1:9"))
    found = find_api(None)
    assert found is not None and found.url == "http://127.0.0.1:9"
    assert found.demo == "http://127.0.0.1:1"


def test_segue_api_url_wins(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(_record(state / "elsewhere", os.getpid(), "http://127.0.0.1:9"))
    monkeypatch.setenv("SEGUE_API_URL", "http://api.example:8000/")
    found = find_api(None)
    assert found is not None and found.url == "http://api.example:8000"


def test_dead_records_are_removed(state: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = _record(state / "elsewhere", os.getpid(), "http://127.0.0.1:9")
    record.pid = gone.pid  # created at this process's time: a dead or recycled pid
    publish(record)
    (state / "elsewhere" / "api-url").write_text("http://127.0.0.1:9")
    assert live_stacks() == [] and find_api(None) is None
    assert list(user_state_dir().glob("*.json")) == []
