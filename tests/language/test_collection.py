"""A load pauses the cyclic garbage collector and gives it back as it found it, however
loads nest or overlap across threads (engine/language/collection.py)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from engine.language.collection import collector_paused
from engine.language.loader import check_workflow


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_nested_pauses_give_the_collector_back_once() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_a_failing_load_gives_the_collector_back() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_overlapping_loads_in_threads_leave_it_on_only_when_all_are_done() -> None:
    inside = threading.Barrier(8)
    leave = threading.Event()
    seen_off: list[bool] = []

    def load() -> None:
        with collector_paused():
            inside.wait()
            leave.wait()
            seen_off.append(not gc.isenabled())

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    leave.set()
    for thread in threads:
        thread.join()
    assert seen_off == [True] * 8
    assert gc.isenabled()


def test_check_workflow_runs_with_the_collector_paused_and_restores_it() -> None:
    result = check_workflow("version: 1\ntasks:\n  a: {action: core.noop}\n", "a.yaml")
    assert result.spec is not None
    assert gc.isenabled()
