"""Hostile files are refused quickly, with a finding and never an exception."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from engine.diagnostics import Category, Severity
from engine.language.loader import check_workflow
from engine.language.yaml_compose import MAX_DEPTH, MAX_NODES


def _billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _alias_chain() -> str:
    """Each anchor wraps the previous one: deep only once expanded."""
    lines = ["x0: &x0 [1]"] + [f"x{i}: &x{i} [*x{i - 1}]" for i in range(1, 200)]
    return "version: 1\nvars:\n" + "\n".join("  " + line for line in lines) + "\ntasks: {a: {}}\n"


def _garbage() -> bytes:
    return random.Random(7).randbytes(200_000)


HOSTILE: dict[str, tuple[Callable[[], str | bytes], Category, str]] = {
    "billion laughs": (_billion_laughs, Category.YAML, f"more than {MAX_NODES} values"),
    "100k-deep flow nesting": (lambda: "[" * 100_000, Category.YAML, f"deeper than {MAX_DEPTH}"),
    "deep block nesting": (
        lambda: "".join(" " * i + "a:\n" for i in range(500)),
        Category.YAML,
        f"deeper than {MAX_DEPTH}",
    ),
    "deep through aliases": (_alias_chain, Category.YAML, f"deeper than {MAX_DEPTH}"),
    "2 MiB file": (lambda: "a: " + "x" * (2 * 1024 * 1024), Category.FILE, "larger than"),
    "1 MiB of tiny values": (
        lambda: "[" + ",".join(["0"] * 500_000) + "]",
        Category.YAML,
        f"more than {MAX_NODES} values",
    ),
    "os.system": (
        lambda: "version: 1\ntasks: !!python/object/apply:os.system ['echo pwned']\n",
        Category.YAML,
        "tag not allowed: !!python/object/apply:os.system",
    ),
    "python name": (
        lambda: "version: !!python/name:os.system 1\ntasks: {a: {}}\n",
        Category.YAML,
        "tag not allowed",
    ),
    "binary garbage": (_garbage, Category.FILE, "not valid UTF-8"),
    "NUL bytes": (lambda: b"version: 1\x00\x00\n", Category.YAML, "U+0000"),
    "UTF-16": (lambda: "version: 1\n".encode("utf-16"), Category.FILE, "not valid UTF-8"),
    "recursive alias": (lambda: "version: 1\nvars: &v {x: *v}\n", Category.YAML, "contains it"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_is_refused_quickly(name: str) -> None:
    make, category, fragment = HOSTILE[name]
    data = make()
    # CPU time of this process: other work on a shared machine does not count against it.
    started = time.process_time()
    result = check_workflow(data, "hostile.yaml")
    elapsed = time.process_time() - started
    assert elapsed < 5.0, f"{name} took {elapsed:.2f} s of CPU"
    assert result.spec is None
    errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    assert errors, result.diagnostics
    assert any(d.category is category and fragment in d.message for d in errors), [
        d.format() for d in errors
    ]


def test_os_system_is_never_called(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    def refuse(command: str) -> int:
        raise AssertionError(f"os.system({command!r}) was called")

    monkeypatch.setattr(os, "system", refuse)
    check_workflow("!!python/object/apply:os.system ['true']\n", "x.yaml")
