"""Mutated workflows never crash the loader: a spec, or at least one positioned error."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.diagnostics import Severity
from engine.graph import build_graph
from engine.language.loader import check_workflow

CONFORMANCE = Path("/work/shared/conformance")
SEEDS = [
    p.read_text("utf-8")
    for p in sorted(CONFORMANCE.glob("*.yaml"))
    if not p.name.endswith(".cases.yaml")
]

# Fragments that matter to YAML, to the schema and to expressions.
TOKENS = [
    ": ",
    "- ",
    "-",
    ":",
    ",",
    "[",
    "]",
    "{",
    "}",
    "\n",
    "  ",
    "\t",
    "#",
    "'",
    '"',
    "|",
    ">",
    "&a ",
    "*a",
    "&b [*b]",
    "<<: *a\n",
    "!!python/object/apply:os.system ['x'] ",
    "!tag ",
    "!!str ",
    "!!int ",
    "!!binary ",
    "!!timestamp ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "? ",
    "<%",
    "%>",
    "<% $ctx.",
    "$ctx.x",
    "$ctx.`a b`",
    "$result",
    "(",
    ")",
    "\x00",
    "\ufeff",
    "é",
    "\u2028",
    "\\",
    "~",
    "null",
    "true",
    "yes",
    "on",
    ".nan",
    ".inf",
    "0x1F",
    "1:30",
    "2024-01-01",
    "do: ",
    "when: ",
    "join: ",
    "with: ",
    "next: ",
    "publish: ",
    "start: ",
    "tasks: ",
    "noop",
    "retry",
    "continue",
    "fail",
    "all",
    "0",
    "-1",
    "1e400",
    "=",
]
VALUES = [
    "1",
    "-1",
    "0",
    "1.5",
    "true",
    "false",
    "null",
    "~",
    "[]",
    "{}",
    "''",
    "'s'",
    "[a, b]",
    "{a: 1}",
    "<% $ctx.x %>",
    "'<% 1 +'",
    "$succeeded()",
    ".nan",
    "2024-01-01",
    "&a [*a]",
    "*a",
    "!custom x",
    "all",
    "any",
    "'a, b'",
    "[noop, fail]",
    "yes",
]


@st.composite
def mutated_workflow(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        text = draw(_mutation(text))
    return text


def _mutation(text: str) -> st.SearchStrategy[str]:
    size = len(text)
    lines = text.split("\n")
    position = st.integers(0, size)
    line = st.integers(0, len(lines) - 1)

    def delete(start: int, length: int) -> str:
        return text[:start] + text[start + length :]

    def insert(at: int, fragment: str) -> str:
        return text[:at] + fragment + text[at:]

    def replace_char(at: int, char: str) -> str:
        return text[:at] + char + text[at + 1 :]

    def swap(first: int, second: int) -> str:
        copy = list(lines)
        copy[first], copy[second] = copy[second], copy[first]
        return "\n".join(copy)

    def duplicate(index: int) -> str:
        return "\n".join(lines[: index + 1] + lines[index:])

    def indent(index: int, change: int) -> str:
        copy = list(lines)
        stripped = copy[index].lstrip(" ")
        width = max(0, len(copy[index]) - len(stripped) + change)
        copy[index] = " " * width + stripped
        return "\n".join(copy)

    def replace_value(index: int, value: str) -> str:
        copy = list(lines)
        key, colon, _ = copy[index].partition(": ")
        copy[index] = f"{key}: {value}" if colon else f"{copy[index]} {value}"
        return "\n".join(copy)

    def nest(at: int, depth: int) -> str:
        return text[:at] + "[" * depth + "1" + "]" * depth + text[at:]

    def alias(index: int) -> str:
        return "x-anchor: &a {k: [1, 2]}\n" + replace_value(index, "*a")

    return st.one_of(
        st.builds(delete, position, st.integers(1, 20)),
        st.builds(insert, position, st.sampled_from(TOKENS) | st.text(max_size=5)),
        st.builds(replace_char, position, st.characters()),
        st.builds(swap, line, line),
        st.builds(duplicate, line),
        st.builds(indent, line, st.integers(-4, 4)),
        st.builds(replace_value, line, st.sampled_from(VALUES)),
        st.builds(nest, position, st.integers(1, 80)),
        st.builds(alias, line),
    )


def _assert_sound(data: str | bytes) -> None:
    result = check_workflow(data, "fuzz.yaml")
    errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    if result.spec is None:
        assert errors, "no spec and no error"
    else:
        assert not errors
        build_graph(result.spec)
    # One pass: in position order, each finding once.
    places = [
        (d.position.line, d.position.column) if d.position else (0, 0) for d in result.diagnostics
    ]
    assert places == sorted(places)
    assert len(set(result.diagnostics)) == len(result.diagnostics)
    for diagnostic in result.diagnostics:
        assert diagnostic.message
        if diagnostic.position is not None:
            assert diagnostic.position.file == "fuzz.yaml"
            assert diagnostic.position.line >= 1
            assert diagnostic.position.column >= 1
        diagnostic.format()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_workflow())
def test_mutated_text_never_crashes(text: str) -> None:
    _assert_sound(text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.integers(0, 10_000), st.binary(min_size=1, max_size=8))
def test_corrupted_bytes_never_crash(text: str, at: int, garbage: bytes) -> None:
    data = text.encode()
    at %= len(data)
    _assert_sound(data[:at] + garbage + data[at:])


def test_every_seed_is_valid() -> None:
    for text in SEEDS:
        assert check_workflow(text, "seed.yaml").spec is not None
