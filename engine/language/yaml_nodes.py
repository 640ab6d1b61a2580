"""Composed YAML nodes, the tag a plain scalar's text implies, and what a scalar's tag
makes of its text.

The composer (`yaml_compose`) builds these nodes and, in the same pass, the plain value
of each one (`Node.data`); `yaml_source` keeps the tree to answer positions.
"""

from __future__ import annotations

import math
from typing import Any, Final

import msgspec
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from engine.diagnostics import Position
from engine.language.wording import clip

YAML_TAG: Final = "tag:yaml.org,2002:"
STR_TAG: Final = YAML_TAG + "str"
SEQ_TAG: Final = YAML_TAG + "seq"
MAP_TAG: Final = YAML_TAG + "map"
SCALAR_TAGS: Final = frozenset(YAML_TAG + name for name in ("str", "int", "float", "bool", "null"))
# Implicit types that are not JSON (timestamps) or not plain keys (`<<` merge, `=` value).
_DROPPED_RESOLVERS: Final = frozenset(YAML_TAG + name for name in ("timestamp", "merge", "value"))


class JsonResolver(Resolver):
    """PyYAML's implicit typing (YAML 1.1) without the types that are not JSON."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED_RESOLVERS]
        for first, resolvers in Resolver.yaml_implicit_resolvers.items()
    }


class Node(msgspec.Struct):
    """A composed YAML node: its tag, where it starts, and its plain value.

    The start is kept as two integers rather than the parser's mark object, and a
    `Position` is made only when asked for: a large document holds ~100,000 nodes, and
    only the tasks, their transitions and the findings ever need a position. `data` is
    the node's plain value as conversion makes it (None for a node conversion refuses).
    Nodes are msgspec Structs because their constructor runs in C: a Python `__init__`
    was a tenth of composing a large file.
    """

    tag: str
    _file: str
    _line: int  # 0-based; -1 when the parser gave no place
    _column: int
    data: Any

    @property
    def position(self) -> Position:
        if self._line < 0:
            return Position(self._file, 1, 1)
        return Position(self._file, self._line + 1, self._column + 1)


class Scalar(Node, gc=False):  # holds only strings and plain values: never in a cycle
    # Character offsets; start -1 when the scalar spans lines.
    _start: int
    _end: int
    value: str

    @property
    def span(self) -> tuple[int, int] | None:
        """The character range of the scalar when it sits on one line."""
        return None if self._start < 0 else (self._start, self._end)


class Sequence(Node):
    items: list[Node]


class Mapping(Node):
    pairs: list[tuple[Node, Node]]
    # Its keys as conversion reads them (strings, the first of duplicates) -> (key node,
    # value node): what a position is looked up through. None when conversion does not
    # look inside (a mapping with another tag).
    keys: dict[str, tuple[Node, Node]] | None


def children(node: Node) -> list[Node]:
    """The nodes directly inside a node (keys and values of a mapping)."""
    if isinstance(node, Sequence):
        return node.items
    if isinstance(node, Mapping):
        return [part for pair in node.pairs for part in pair]
    return []


class ScalarReader:
    """The value of a scalar whose tag is not `str`, or why it has none.

    Memoised per (tag, text): documents repeat their numbers and booleans, and the
    values are immutable.
    """

    def __init__(self) -> None:
        constructor = SafeConstructor()
        self._construct = {
            YAML_TAG + "null": constructor.construct_yaml_null,
            YAML_TAG + "bool": constructor.construct_yaml_bool,
            YAML_TAG + "int": constructor.construct_yaml_int,
            YAML_TAG + "float": constructor.construct_yaml_float,
        }
        self._known: dict[tuple[str, str], tuple[Any, str | None]] = {}

    def read(self, tag: str, text: str) -> tuple[Any, str | None]:
        """(value, None), or (None, the problem) for a tag or text that gives no value."""
        known = self._known.get((tag, text))
        if known is None:
            known = self._known[(tag, text)] = self._read(tag, text)
        return known

    def _read(self, tag: str, text: str) -> tuple[Any, str | None]:
        if tag == STR_TAG:
            return text, None
        if tag not in SCALAR_TAGS:
            return None, tag_message(tag, "scalar")
        try:
            value: Any = self._construct[tag](ScalarNode(tag, text))
        except (ValueError, KeyError, IndexError):  # an explicit tag on text that does not fit
            return None, f"{clip(text)!r} is not a valid {short_tag(tag)} value"
        if isinstance(value, float) and not math.isfinite(value):
            return None, f"{clip(text)!r} is not a finite number (JSON has no NaN or infinity)"
        return value, None


def short_tag(tag: str) -> str:
    return clip("!!" + tag.removeprefix(YAML_TAG) if tag.startswith(YAML_TAG) else tag, 80)


def tag_message(tag: str, kind: str) -> str:
    if tag in SCALAR_TAGS or tag in (SEQ_TAG, MAP_TAG):
        return f"tag {short_tag(tag)} does not fit a {kind}"
    return (
        f"tag not allowed: {short_tag(tag)} (a workflow holds only plain values: "
        "strings, numbers, booleans, null, lists and mappings)"
    )


def describe(value: Any) -> str:
    """A scalar value as a finding names it: `boolean true`, `integer 3`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    return f"{kind(value)} {clip(repr(value))}"


def kind(value: Any) -> str:
    """A value's JSON type, as people say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "mapping"
