"""Safe YAML loading that remembers where every value came from.

The text is checked (size, UTF-8, characters), composed within limits
(`yaml_compose`), then converted to plain JSON-compatible data while a `SourceMap`
records the position of every value and key. Every problem becomes a `Diagnostic`,
never an exception.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Final

from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.reader import Reader

from engine.diagnostics import Category, Diagnostic, Position
from engine.language.wording import Path, clip
from engine.language.yaml_compose import (
    MAP_TAG,
    SEQ_TAG,
    STR_TAG,
    YAML_TAG,
    Mapping,
    Node,
    Rejected,
    Scalar,
    Sequence,
    compose,
    rejected,
)

MAX_BYTES: Final = 1024 * 1024

_SCALAR_TAGS: Final = frozenset(YAML_TAG + name for name in ("str", "int", "float", "bool", "null"))
_NON_PRINTABLE: Final[re.Pattern[str]] = Reader.NON_PRINTABLE


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Where each value of a parsed document sits in its file.

    It keeps the composed tree and finds a path's node when a position is asked for,
    indexing a mapping's keys the first time a path goes through it: a 5,000-task file
    has ~100,000 values and keys, and only the tasks, their transitions and the
    findings ever need a position. A path goes where conversion went: string keys
    (the first of duplicates), list indexes, nothing inside a node of the wrong tag.
    """

    file: str
    text: str
    root: Node | None = None
    # id(node) -> its children by key or index: (value node, key node or None)
    _children: dict[int, dict[Any, tuple[Node, Node | None]]] = field(default_factory=dict)

    def has_value(self, path: Path) -> bool:
        """Whether the document has a value at `path`."""
        return self._find(path) is not None

    def value_position(self, path: Path) -> Position | None:
        """The position of the value at `path` itself, if it has one."""
        found = self._find(path)
        return None if found is None else found[0].position

    def position(self, path: Path) -> Position:
        """The position of a value, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self._find(path[:end])
            if found is not None:
                return found[0].position
        return Position(self.file, 1, 1)

    def key_position(self, path: Path) -> Position:
        """The position of the key of a mapping entry (the value's if it has no key)."""
        found = self._find(path)
        if found is not None and found[1] is not None:
            return found[1].position
        return self.position(path)

    def _find(self, path: Path) -> tuple[Node, Node | None] | None:
        """The node at `path` and the key node it is the value of."""
        if self.root is None:
            return None
        found: tuple[Node, Node | None] = (self.root, None)
        for part in path:
            entry = self._children_of(found[0]).get(part)
            if entry is None:
                return None
            found = entry
        return found

    def _children_of(self, node: Node) -> dict[Any, tuple[Node, Node | None]]:
        children = self._children.get(id(node))
        if children is None:
            children = {}
            if isinstance(node, Mapping) and node.tag == MAP_TAG:
                for key_node, value_node in node.pairs:
                    if isinstance(key_node, Scalar) and key_node.tag == STR_TAG:
                        children.setdefault(key_node.value, (value_node, key_node))
            elif isinstance(node, Sequence) and node.tag == SEQ_TAG:
                children = {index: (item, None) for index, item in enumerate(node.items)}
            self._children[id(node)] = children
        return children

    def fragment_position(self, path: Path, fragment: str, offset: int | None) -> Position:
        """The position of character `offset` (1-based) of `fragment` inside a scalar.

        Only when the scalar is on one line and holds the fragment verbatim exactly once
        (escapes and folding would shift columns); otherwise the scalar's own position.
        """
        start = self.position(path)
        found = self._find(path)
        span = found[0].span if found is not None and isinstance(found[0], Scalar) else None
        if offset is None or span is None or not fragment:
            return start
        raw = self.text[span[0] : span[1]]
        index = raw.find(fragment)
        if index < 0 or raw.find(fragment, index + 1) >= 0:
            return start
        within = min(max(offset, 1), len(fragment)) - 1
        return Position(self.file, start.line, start.column + index + within)


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A parsed workflow file: plain data plus where each part came from."""

    data: dict[str, Any]
    source_map: SourceMap


def parse_yaml(data: bytes | str, source: str) -> tuple[YamlDocument | None, list[Diagnostic]]:
    """Parse one YAML document into plain JSON-compatible data with a position map."""
    try:
        text = _decode(data, source)
        root = compose(text, source)
    except Rejected as stop:
        return None, [stop.diagnostic]
    converter = _Converter(source, text, root)
    value = converter.convert(root)
    problems = converter.problems
    if not isinstance(value, dict):
        what = "empty" if value is None else f"a {_kind(value)}"
        problems.append(
            Diagnostic(
                converter.source_map.position(()),
                Category.YAML,
                f"a workflow must be a mapping, but the file is {what}",
            )
        )
    if problems or not isinstance(value, dict):
        return None, problems
    return YamlDocument(value, converter.source_map), []


def _decode(data: bytes | str, source: str) -> str:
    """The text of the file, if it is small enough, UTF-8 and free of forbidden characters."""
    # A str needs no encoding to be known too large: each character is at least one byte.
    too_large = len(data) > MAX_BYTES or (
        isinstance(data, str) and len(data.encode("utf-8", "surrogatepass")) > MAX_BYTES
    )
    if too_large:
        raise rejected(
            Position(source, 1, 1),
            f"the file is larger than {MAX_BYTES} bytes (1 MiB), the limit for a workflow",
            Category.FILE,
        )
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            line_start = data.rfind(b"\n", 0, error.start) + 1
            raise rejected(
                Position(
                    source,
                    data.count(b"\n", 0, error.start) + 1,
                    len(data[line_start : error.start].decode("utf-8", "replace")) + 1,
                ),
                f"not valid UTF-8: byte 0x{data[error.start]:02x} cannot be decoded "
                "(workflow files must be UTF-8)",
                Category.FILE,
            ) from None
    else:
        text = data
    # libyaml does not count a byte-order mark in its character offsets; drop it first.
    text = text.removeprefix("\ufeff")
    bad = _NON_PRINTABLE.search(text)
    if bad is not None:
        char = bad.group()
        surrogate = "\ud800" <= char <= "\udfff"
        raise rejected(
            _text_position(source, text, bad.start()),
            f"character U+{ord(char):04X} "
            f"({'a lone surrogate' if surrogate else 'a control character'}) "
            "is not allowed in a YAML file",
            Category.FILE if surrogate else Category.YAML,
        )
    return text


def _text_position(source: str, text: str, index: int) -> Position:
    line_start = text.rfind("\n", 0, index) + 1
    return Position(source, text.count("\n", 0, index) + 1, index - line_start + 1)


class _Converter:
    """Node tree -> plain data, collecting non-fatal problems."""

    def __init__(self, source: str, text: str, root: Node | None) -> None:
        self.source_map = SourceMap(source, text, root)
        self.problems: list[Diagnostic] = []
        self.constructor = SafeConstructor()

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(Diagnostic(node.position, Category.YAML, message))

    def convert(self, node: Node | None) -> Any:
        if node is None:
            return None
        if isinstance(node, Scalar):
            return self.scalar(node)
        if isinstance(node, Sequence):
            if node.tag != SEQ_TAG:
                self.problem(node, _tag_message(node.tag, "list"))
                return None
            return [self.convert(item) for item in node.items]
        if isinstance(node, Mapping):
            return self.mapping(node)
        return None

    def mapping(self, node: Mapping) -> dict[str, Any] | None:
        if node.tag != MAP_TAG:
            self.problem(node, _tag_message(node.tag, "mapping"))
            return None
        result: dict[str, Any] = {}
        first_keys: dict[str, Node] = {}
        for key_node, value_node in node.pairs:
            key = (
                key_node.value
                if isinstance(key_node, Scalar) and key_node.tag == STR_TAG
                else self.key(key_node)
            )
            if key is None:
                continue
            if key in result:
                first = first_keys[key].position
                self.problem(
                    key_node,
                    f"duplicate key {clip(key)!r} (first defined at line {first.line}, "
                    f"column {first.column})",
                )
                continue
            first_keys[key] = key_node
            result[key] = self.convert(value_node)
        return result

    def key(self, node: Node) -> str | None:
        if not isinstance(node, Scalar):
            kind = "list" if isinstance(node, Sequence) else "mapping"
            self.problem(node, f"mapping keys must be strings, got a {kind}")
            return None
        if node.tag == STR_TAG:
            return node.value
        problems = len(self.problems)
        value = self.scalar(node)
        if len(self.problems) == problems:  # a non-string scalar: say what YAML made of it
            self.problem(
                node,
                f"mapping keys must be strings, but YAML reads {clip(node.value)!r} as "
                f"{_describe(value)}; quote it: '{clip(node.value)}'",
            )
        return None

    def scalar(self, node: Scalar) -> Any:
        tag = node.tag
        if tag == STR_TAG:
            return node.value
        if tag not in _SCALAR_TAGS:
            self.problem(node, _tag_message(tag, "scalar"))
            return None
        construct = {
            YAML_TAG + "null": self.constructor.construct_yaml_null,
            YAML_TAG + "bool": self.constructor.construct_yaml_bool,
            YAML_TAG + "int": self.constructor.construct_yaml_int,
            YAML_TAG + "float": self.constructor.construct_yaml_float,
        }[tag]
        try:
            value: Any = construct(ScalarNode(tag, node.value))
        except (ValueError, KeyError, IndexError):  # an explicit tag on text that does not fit
            self.problem(node, f"{clip(node.value)!r} is not a valid {_short_tag(tag)} value")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(
                node, f"{clip(node.value)!r} is not a finite number (JSON has no NaN or infinity)"
            )
            return None
        return value


def _short_tag(tag: str) -> str:
    return clip("!!" + tag.removeprefix(YAML_TAG) if tag.startswith(YAML_TAG) else tag, 80)


def _tag_message(tag: str, kind: str) -> str:
    if tag in _SCALAR_TAGS or tag in (SEQ_TAG, MAP_TAG):
        return f"tag {_short_tag(tag)} does not fit a {kind}"
    return (
        f"tag not allowed: {_short_tag(tag)} (a workflow holds only plain values: "
        "strings, numbers, booleans, null, lists and mappings)"
    )


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    return f"{_kind(value)} {clip(repr(value))}"


def _kind(value: Any) -> str:
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
