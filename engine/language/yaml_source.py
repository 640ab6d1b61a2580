"""Safe YAML loading that remembers where every value came from.

The text is checked (size, UTF-8, characters), then composed within limits and
converted to plain JSON-compatible data in the same pass (`yaml_compose`), while a
`SourceMap` keeps what answers the position of every value and key. Every problem
becomes a `Diagnostic`, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from yaml.reader import Reader

from engine.diagnostics import Category, Diagnostic, Position
from engine.language.wording import Path, clip
from engine.language.yaml_compose import Rejected, compose_document, rejected
from engine.language.yaml_nodes import (
    MAP_TAG,
    SEQ_TAG,
    STR_TAG,
    Mapping,
    Node,
    Scalar,
    ScalarReader,
    Sequence,
    describe,
    kind,
    tag_message,
)

MAX_BYTES: Final = 1024 * 1024

_NON_PRINTABLE: Final[re.Pattern[str]] = Reader.NON_PRINTABLE


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Where each value of a parsed document sits in its file.

    It keeps the composed tree and finds a path's node when a position is asked for,
    through the keys the composer read for each mapping: a 5,000-task file has
    ~100,000 values and keys, and only the tasks, their transitions and the findings
    ever need a position. A path goes where conversion went: string keys (the first of
    duplicates), list indexes, nothing inside a node of the wrong tag.
    """

    file: str
    text: str
    root: Node | None = None

    def has_value(self, path: Path) -> bool:
        """Whether the document has a value at `path`."""
        return self._find(path) is not None

    def value_position(self, path: Path) -> Position | None:
        """The position of the value at `path` itself, if it has one."""
        found = self._find(path)
        return None if found is None else found[1].position

    def position(self, path: Path) -> Position:
        """The position of a value, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            found = self._find(path[:end])
            if found is not None:
                return found[1].position
        return Position(self.file, 1, 1)

    def key_position(self, path: Path) -> Position:
        """The position of the key of a mapping entry (the value's if it has no key)."""
        found = self._find(path)
        if found is not None and found[0] is not None:
            return found[0].position
        return self.position(path)

    def _find(self, path: Path) -> tuple[Node | None, Node] | None:
        """The key node (if any) whose value is the node at `path`, and that node."""
        node = self.root
        if node is None:
            return None
        key_node: Node | None = None
        for part in path:
            if type(node) is Mapping:
                keys = node.keys
                entry = keys.get(part) if keys is not None and isinstance(part, str) else None
                if entry is None:
                    return None
                key_node, node = entry
            elif type(node) is Sequence and node.tag == SEQ_TAG and isinstance(part, int):
                if not 0 <= part < len(node.items):
                    return None
                key_node, node = None, node.items[part]
            else:
                return None
        return key_node, node

    def fragment_position(self, path: Path, fragment: str, offset: int | None) -> Position:
        """The position of character `offset` (1-based) of `fragment` inside a scalar.

        Only when the scalar is on one line and holds the fragment verbatim exactly once
        (escapes and folding would shift columns); otherwise the scalar's own position.
        """
        start = self.position(path)
        found = self._find(path)
        span = found[1].span if found is not None and isinstance(found[1], Scalar) else None
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
        composed = compose_document(text, source)
    except Rejected as stop:
        return None, [stop.diagnostic]
    root = composed.root
    source_map = SourceMap(source, text, root)
    if composed.aliased:  # expanding an alias copies: the tree is converted on its own
        converter = _Converter(source)
        value = converter.convert(root)
        problems = converter.problems
    else:
        value = None if root is None else root.data
        problems = composed.problems
    if not isinstance(value, dict):
        what = "empty" if value is None else f"a {kind(value)}"
        problems.append(
            Diagnostic(
                source_map.position(()),
                Category.YAML,
                f"a workflow must be a mapping, but the file is {what}",
            )
        )
    if problems or not isinstance(value, dict):
        return None, problems
    return YamlDocument(value, source_map), []


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
    """Node tree -> plain data, collecting non-fatal problems: for a document with
    aliases, whose shared nodes each become a copy (the composer converts the rest)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Diagnostic] = []
        self.scalars = ScalarReader()

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(Diagnostic(node.position, Category.YAML, message))

    def convert(self, node: Node | None) -> Any:
        if node is None:
            return None
        if isinstance(node, Scalar):
            return self.scalar(node)
        if isinstance(node, Sequence):
            if node.tag != SEQ_TAG:
                self.problem(node, tag_message(node.tag, "list"))
                return None
            return [self.convert(item) for item in node.items]
        if isinstance(node, Mapping):
            return self.mapping(node)
        return None

    def mapping(self, node: Mapping) -> dict[str, Any] | None:
        if node.tag != MAP_TAG:
            self.problem(node, tag_message(node.tag, "mapping"))
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
            what = "list" if isinstance(node, Sequence) else "mapping"
            self.problem(node, f"mapping keys must be strings, got a {what}")
            return None
        if node.tag == STR_TAG:
            return node.value
        problems = len(self.problems)
        value = self.scalar(node)
        if len(self.problems) == problems:  # a non-string scalar: say what YAML made of it
            self.problem(
                node,
                f"mapping keys must be strings, but YAML reads {clip(node.value)!r} as "
                f"{describe(value)}; quote it: '{clip(node.value)}'",
            )
        return None

    def scalar(self, node: Scalar) -> Any:
        value, problem = self.scalars.read(node.tag, node.value)
        if problem is not None:
            self.problem(node, problem)
        return value
