"""Hostile files are refused quickly, with a finding and never an exception."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from yaml.error import Mark, MarkedYAMLError

from engine.diagnostics import Category, Position, Severity
from engine.language.loader import check_workflow
from engine.language.yaml_compose import MAX_DEPTH, MAX_NODES, Rejected, compose


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


def _misspellings() -> str:
    """Thousands of misspelt targets among thousands of tasks, each task with a bad key too:
    every name could be compared with every other for a "did you mean"."""
    tasks = "".join(f"  task{i}: {{next: [{{do: tsak{i}}}], colour: {i}}}\n" for i in range(3000))
    return "version: 1\ntasks:\n" + tasks


HOSTILE: dict[str, tuple[Callable[[], str | bytes], Category, str]] = {
    "3,000 misspelt targets and unknown keys": (
        _misspellings,
        Category.REFERENCE,
        "no task named 'tsak2999'",
    ),
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


# Whichever parser stops deep nesting first (libyaml 0.2.6 stops flow nesting at 1,000
# levels itself; PyYAML's pure-Python parser and older libyaml never do), the user gets
# Segue's own error, at the value that first nests past MAX_DEPTH (64): the document's
# root is level 1.
DEEP_NESTING: dict[str, tuple[str, Position]] = {
    # the 65th `[`
    "flow sequences, far past every parser's limit": ("[" * 100_000, Position("deep.yaml", 1, 65)),
    # the key `a` inside the 64th `{`
    "flow mappings": ("{a: " * 3_000, Position("deep.yaml", 1, 254)),
    # root, vars, then the 63rd `[`
    "flow inside a block mapping": (
        "version: 1\nvars:\n  x: " + "[" * 5_000,
        Position("deep.yaml", 3, 68),
    ),
    # root, then the 64th `[`; well-formed, and deep by one level
    "one level too deep": ("a: " + "[" * 64 + "]" * 64, Position("deep.yaml", 1, 67)),
}
PARSERS = {"libyaml": True, "pure Python": False}


@pytest.mark.parametrize("parser", list(PARSERS))
@pytest.mark.parametrize("name", list(DEEP_NESTING))
def test_deep_nesting_reads_the_same_whichever_parser_stops_it(
    name: str, parser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if PARSERS[parser] and not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml here")
    monkeypatch.setattr(yaml, "__with_libyaml__", PARSERS[parser])
    text, position = DEEP_NESTING[name]
    assert [
        (d.category, d.message, d.position) for d in check_workflow(text, "deep.yaml").diagnostics
    ] == [(Category.YAML, f"the document nests deeper than {MAX_DEPTH} levels", position)]


class _ParserWithDepthLimit:
    """PyYAML's parser as libyaml 0.2.6 behaves on deep flow nesting: a text of more than 1,000
    characters fails with its nesting error at column 1,001."""

    def __init__(self, text: str) -> None:
        self.parser = yaml.SafeLoader(text)
        self.limited = len(text) > 1_000

    def check_event(self, *choices: Any) -> bool:
        self._stop_if_limited()
        return bool(self.parser.check_event(*choices))

    def peek_event(self) -> Any:
        self._stop_if_limited()
        return self.parser.peek_event()

    def get_event(self) -> Any:
        self._stop_if_limited()
        return self.parser.get_event()

    def dispose(self) -> None:
        self.parser.dispose()

    def _stop_if_limited(self) -> None:
        if self.limited:
            mark = Mark("deep.yaml", 1_000, 0, 1_000, None, None)
            raise MarkedYAMLError(
                "while increasing flow level", mark, "exceeded maximum nesting depth", mark
            )


def test_a_parser_that_stops_first_is_reported_in_segues_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mapping itself, whichever libyaml this machine has."""
    monkeypatch.setattr(yaml, "__with_libyaml__", True)
    monkeypatch.setattr(yaml, "CSafeLoader", _ParserWithDepthLimit, raising=False)
    with pytest.raises(Rejected) as refused:
        compose("[" * 2_000, "deep.yaml")
    diagnostic = refused.value.diagnostic
    assert (diagnostic.message, diagnostic.position) == (
        f"the document nests deeper than {MAX_DEPTH} levels",
        Position("deep.yaml", 1, MAX_DEPTH + 1),
    )
