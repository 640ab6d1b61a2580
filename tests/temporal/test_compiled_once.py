"""A worker process compiles each workflow version once, whatever the run."""

from __future__ import annotations

import time

import pytest

from benchmarks.compile import chain
from engine.expressions.runtime import compile_expression
from engine.expressions.template import Literal
from engine.temporal import compiled
from engine.temporal.compiled import compiled_spec
from engine.temporal.types import InterpreterInput


def _input(run_id: str, yaml: str, version: str = "v1") -> InterpreterInput:
    return InterpreterInput(run_id=run_id, workflow="chain", version=version, yaml=yaml, input={})


def test_runs_of_one_version_share_its_compiled_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "_SPECS", {})
    text = chain(5000)
    compile_expression.cache_clear()
    began = time.process_time()
    first = compiled_spec(_input("run-1", text))
    compiling = time.process_time() - began
    began = time.process_time()
    again = compiled_spec(_input("run-2", text))
    # The second run of the version reads the spec the first one compiled.
    assert again is first
    assert time.process_time() - began < compiling / 10
    assert len(first.tasks) == 5000


def test_another_version_or_text_compiles_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "_SPECS", {})
    text = chain(3)
    first = compiled_spec(_input("run-1", text))
    assert compiled_spec(_input("run-2", text, version="v2")) is not first
    changed = compiled_spec(_input("run-3", text.replace("core.echo", "core.noop")))
    assert changed is not first
    action = changed.tasks["t0"].action
    assert isinstance(action, Literal) and action.value == "core.noop"
