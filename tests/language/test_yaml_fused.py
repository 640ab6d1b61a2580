"""The composer converts while it composes: the same values and problems as converting
the composed tree afterwards (the converter that documents with aliases still take)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.diagnostics import Diagnostic
from engine.language.yaml_compose import Rejected, compose_document
from engine.language.yaml_nodes import MAP_TAG, STR_TAG, Mapping, Node, Scalar, children
from engine.language.yaml_source import _Converter

CONFORMANCE = Path("/work/shared/conformance")
SEEDS = [
    p.read_text("utf-8")
    for p in sorted(CONFORMANCE.glob("*.yaml"))
    if not p.name.endswith(".cases.yaml")
]

# What conversion refuses or skips, alone and inside what it does not look into.
CASES = {
    "plain values": "a: 1\nb: 1.5\nc: true\nd: ~\ne: text\nf: '1'\ng: [1, x]\n",
    "duplicate key, its bad value skipped": "a: 1\nb: 2\na: !!int x\n",
    "duplicate of a duplicate": "a: 1\na: 2\na: 3\n",
    "non-string key, its bad value skipped": "1: !!int x\n",
    "non-string key that does not read": "!!int x: 1\n",
    "key with a tag not allowed": "!custom k: 1\n",
    "list as a key, bad values inside it": "? [!!int x, 2]\n: 1\n",
    "mapping as a key": "? {a: !!float y}\n: 1\n",
    "mapping tagged as a list, bad values inside": "a: !!seq {b: !!int x, b: 2}\n",
    "list tagged as a mapping": "a: !!map [!!int x]\n",
    "tag not allowed on a list": "a: !custom [1, !!int x]\n",
    "scalar with an explicit tag that does not fit": "a: !!int 1.5\nb: !!bool maybe\n",
    "not a finite number": "a: .nan\nb: -.inf\n",
    "binary and timestamp tags": "a: !!binary aGk=\nb: !!timestamp 2024-01-01\n",
    "implicit timestamps stay strings": "a: 2024-01-01\nb: 1:30\n",
    "problems after a skipped value": "a: 1\na: !!int x\nb: !!int y\n",
    "nested wrong tags": "a: !!seq {b: !!map [c], c: !custom d}\nb: !!int z\n",
    "top-level list": "- a\n- !!int x\n",
    "scalar document": "just text\n",
    "empty values": "a:\nb: []\nc: {}\n",
}


def _both(text: str) -> tuple[Any, list[Diagnostic], Any, list[Diagnostic]]:
    composed = compose_document(text, "f.yaml")
    converter = _Converter("f.yaml")
    value = converter.convert(composed.root)
    fused = None if composed.root is None else composed.root.data
    return fused, composed.problems, value, converter.problems


def _same_keys(text: str) -> None:
    """Each mapping's keys, as the composer read them, are the string keys of its pairs
    (the first of duplicates), and none for a mapping conversion does not look into."""
    composed = compose_document(text, "f.yaml")
    for node in _nodes(composed.root):
        if not isinstance(node, Mapping):
            continue
        expected: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.pairs:
            if isinstance(key_node, Scalar) and key_node.tag == STR_TAG:
                expected.setdefault(key_node.value, (key_node, value_node))
        assert node.keys == (expected if node.tag == MAP_TAG else None)


def _nodes(node: Node | None) -> list[Node]:
    found, stack = [], [] if node is None else [node]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children(current))
    return found


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_composing_converts_as_the_converter_does(text: str) -> None:
    fused, fused_problems, value, problems = _both(text)
    assert fused == value
    assert fused_problems == problems
    _same_keys(text)


def test_every_conformance_workflow_converts_alike() -> None:
    assert SEEDS
    for text in SEEDS:
        fused, fused_problems, value, problems = _both(text)
        assert (fused, fused_problems) == (value, problems)
        _same_keys(text)


_FRAGMENTS = [
    ": ", "- ", ",", "[", "]", "{", "}", "\n", "  ", "? ", "!!int ", "!!str ", "!!map ",
    "!!seq ", "!custom ", "1", "true", ".nan", "~", "x", "'q'", "a: 1\n", "a: 1\n",
]  # fmt: skip


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from([*SEEDS, *CASES.values()]))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(_FRAGMENTS)) + text[at:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_mutated_documents_convert_alike(text: str) -> None:
    try:
        fused, fused_problems, value, problems = _both(text)
    except Rejected:
        return  # not YAML, or past a limit: nothing is converted either way
    assert fused == value
    assert fused_problems == problems
    _same_keys(text)
