"""YAML events -> a small node tree, with limits that hold while parsing.

PyYAML parses (libyaml when present: the pure-Python parser needs about 30 µs per
event, half a minute for a hostile 1 MiB file); composing is ours, so that the node
count and nesting depth are bounded before anything large is built, and so that alias
expansion is measured, not performed, before conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

import yaml
from yaml.error import MarkedYAMLError
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from engine.diagnostics import Category, Diagnostic, Position
from engine.language.wording import clip

# Values a document may hold, aliases expanded (a 10,000-task workflow holds about 70,000).
MAX_NODES: Final = 200_000
MAX_DEPTH: Final = 64

YAML_TAG: Final = "tag:yaml.org,2002:"
STR_TAG: Final = YAML_TAG + "str"
SEQ_TAG: Final = YAML_TAG + "seq"
MAP_TAG: Final = YAML_TAG + "map"
# Implicit types that are not JSON (timestamps) or not plain keys (`<<` merge, `=` value).
_DROPPED_RESOLVERS: Final = frozenset(YAML_TAG + name for name in ("timestamp", "merge", "value"))


class Rejected(Exception):
    """A problem that stops loading; carries its diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Mark(Protocol):
    """A place in the text, as both PyYAML parsers report it (0-based)."""

    line: int
    column: int
    index: int


class _Events(Protocol):
    """The event interface shared by PyYAML's Python and libyaml parsers."""

    def check_event(self, *choices: Any) -> bool: ...
    def peek_event(self) -> Any: ...
    def get_event(self) -> Any: ...
    def dispose(self) -> None: ...


class Node:
    """A composed YAML node: its tag and where it starts (positions are made on demand).

    The start is kept as two integers rather than the parser's mark object: a large
    document holds ~100,000 nodes, and each retained mark is one more object for the
    garbage collector to walk on every full collection (most of the load's time before).
    """

    __slots__ = ("_column", "_file", "_line", "tag")

    def __init__(self, tag: str, file: str, start: _Mark | None) -> None:
        self.tag = tag
        self._file = file
        self._line = -1 if start is None else start.line
        self._column = -1 if start is None else start.column

    @property
    def position(self) -> Position:
        if self._line < 0:
            return Position(self._file, 1, 1)
        return Position(self._file, self._line + 1, self._column + 1)


class Scalar(Node):
    __slots__ = ("_span", "value")

    def __init__(self, tag: str, file: str, start: _Mark | None, end: _Mark | None, value: str):
        super().__init__(tag, file, start)
        # The character range of the scalar when it sits on one line.
        self._span = (
            None
            if start is None or end is None or start.line != end.line
            else (start.index, end.index)
        )
        self.value = value

    @property
    def span(self) -> tuple[int, int] | None:
        """The character range of the scalar when it sits on one line."""
        return self._span


class Sequence(Node):
    __slots__ = ("items",)

    def __init__(self, tag: str, file: str, start: _Mark | None) -> None:
        super().__init__(tag, file, start)
        self.items: list[Node] = []


class Mapping(Node):
    __slots__ = ("pairs",)

    def __init__(self, tag: str, file: str, start: _Mark | None) -> None:
        super().__init__(tag, file, start)
        self.pairs: list[tuple[Node, Node]] = []


class _JsonResolver(Resolver):
    """PyYAML's implicit typing (YAML 1.1) without the types that are not JSON."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED_RESOLVERS]
        for first, resolvers in Resolver.yaml_implicit_resolvers.items()
    }


def rejected(
    position: Position | None, message: str, category: Category = Category.YAML
) -> Rejected:
    """The exception that stops loading with one diagnostic."""
    return Rejected(Diagnostic(position, category, message))


def compose(text: str, source: str) -> Node | None:
    """Parse text into one node tree (None if empty) within the node, depth and alias limits."""
    events: _Events = yaml.CSafeLoader(text) if yaml.__with_libyaml__ else yaml.SafeLoader(text)
    composer = _Composer(events, source)
    try:
        root = composer.document()
    except MarkedYAMLError as error:
        if _is_parser_depth_limit(error):
            raise rejected(_depth_position(source, text, error), _too_deep()) from None
        raise Rejected(_syntax_diagnostic(source, text, error)) from None
    except yaml.YAMLError as error:  # reader errors: the loader's character check comes first
        raise rejected(Position(source, 1, 1), f"not well-formed YAML: {error}") from None
    except RecursionError:
        raise rejected(Position(source, 1, 1), _too_deep()) from None
    finally:
        events.dispose()
    # Shared nodes are the only way past the composer's own count and depth checks.
    if root is not None and composer.aliased:
        _AliasBudget().measure(root, 1)
    return root


def _explicit(tag: str | None) -> str | None:
    """A tag written in the document (`!` alone asks for the default)."""
    return None if tag is None or tag == "!" else tag


def _too_deep() -> str:
    return f"the document nests deeper than {MAX_DEPTH} levels"


def _is_parser_depth_limit(error: MarkedYAMLError) -> bool:
    """libyaml 0.2.6 (PyYAML 6.0.4 wheels) stops flow nesting past 1,000 levels itself.

    Its scanner reads a whole flow collection ahead of the events it yields, so on a
    deep enough one its own limit fires before our composer counts level MAX_DEPTH + 1.
    """
    return "maximum nesting depth" in (error.problem or "")


def _depth_position(source: str, text: str, error: MarkedYAMLError) -> Position | None:
    """Where the document first nests past MAX_DEPTH, whichever parser noticed first.

    The text before the parser's mark nests less deeply than the parser's own limit, so
    composing just that prefix lets our composer find its own, earlier place: the user
    sees the same error, at the same position, with or without the parser's limit.
    """
    mark = error.problem_mark or error.context_mark
    if mark is None:
        return Position(source, 1, 1)
    lines = text.split("\n")
    prefix = "\n".join([*lines[: mark.line], lines[mark.line][: mark.column]])
    events: _Events = yaml.CSafeLoader(prefix) if yaml.__with_libyaml__ else yaml.SafeLoader(prefix)
    try:
        _Composer(events, source).document()
    except Rejected as found:
        if found.diagnostic.message == _too_deep():
            return found.diagnostic.position
    except (yaml.YAMLError, RecursionError):
        pass
    finally:
        events.dispose()
    return _position(source, mark)


def _position(source: str, mark: _Mark | None) -> Position:
    if mark is None:
        return Position(source, 1, 1)
    return Position(source, mark.line + 1, mark.column + 1)


def _syntax_diagnostic(source: str, text: str, error: MarkedYAMLError) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    message = error.problem or error.context or "not well-formed YAML"
    if mark is not None and text[mark.index : mark.index + 1] == "\t":
        message += " (a tab: YAML indents with spaces only)"
    if error.problem and error.context and error.context_mark is not None:
        message += (
            f" ({error.context}, which started at line {error.context_mark.line + 1},"
            f" column {error.context_mark.column + 1})"
        )
    return Diagnostic(_position(source, mark), Category.YAML, f"not well-formed YAML: {message}")


class _Composer:
    """PyYAML's composer, with limits; anchors may be redefined (the latest wins, as in YAML)."""

    def __init__(self, events: _Events, source: str) -> None:
        self.events = events
        self.source = source
        self.resolve: Callable[..., str] = _JsonResolver().resolve
        self.anchors: dict[str, Node] = {}
        self.count = 0
        self.aliased = False  # without aliases the tree is a tree: counted and bounded here
        self.plain_tags: dict[str, str] = {}

    def document(self) -> Node | None:
        self.events.get_event()  # stream start
        if self.events.check_event(StreamEndEvent):
            return None
        self.events.get_event()  # document start
        root = self.node(1)
        self.events.get_event()  # document end
        if self.events.check_event(DocumentStartEvent):
            raise rejected(
                self.position(self.events.peek_event()),
                "the file holds more than one YAML document (`---`); a workflow file holds one",
            )
        return root

    def node(self, depth: int) -> Node:
        return self.build(self.events.get_event(), depth)

    def build(self, event: Any, depth: int) -> Node:
        """The node that starts with `event` (its children read from the parser)."""
        if isinstance(event, AliasEvent):
            anchor = event.anchor or ""
            if anchor not in self.anchors:
                raise rejected(
                    self.position(event), f"alias *{clip(anchor)} names no anchor before it"
                )
            self.aliased = True
            return self.anchors[anchor]
        self.count += 1
        if self.count > MAX_NODES:
            raise rejected(self.position(event), f"the document has more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise rejected(self.position(event), _too_deep())
        node: Node
        get_event = self.events.get_event
        if isinstance(event, ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                # Quoted scalars are strings; only plain ones go through implicit typing.
                tag = self.plain_tag(event.value) if event.implicit[0] else STR_TAG
            node = Scalar(tag, self.source, event.start_mark, event.end_mark, event.value)
            if event.anchor is not None:
                self.anchors[event.anchor] = node
        elif isinstance(event, SequenceStartEvent):
            sequence = node = Sequence(
                _explicit(event.tag) or SEQ_TAG, self.source, event.start_mark
            )
            self.remember(event.anchor, sequence)
            items = sequence.items
            # One parser call per item: the end event is read as the next item would be.
            item = get_event()
            while not isinstance(item, SequenceEndEvent):
                items.append(self.build(item, depth + 1))
                item = get_event()
        elif isinstance(event, MappingStartEvent):
            mapping = node = Mapping(_explicit(event.tag) or MAP_TAG, self.source, event.start_mark)
            self.remember(event.anchor, mapping)
            pairs = mapping.pairs
            key = get_event()
            while not isinstance(key, MappingEndEvent):
                pairs.append((self.build(key, depth + 1), self.build(get_event(), depth + 1)))
                key = get_event()
        else:  # the parser guarantees a node event here
            raise rejected(self.position(event), f"unexpected {type(event).__name__}")
        return node

    def plain_tag(self, value: str) -> str:
        """The implicit type of a plain scalar (memoised: keys and values repeat a lot)."""
        tag = self.plain_tags.get(value)
        if tag is None:
            tag = self.plain_tags[value] = self.resolve(ScalarNode, value, (True, False))
        return tag

    def position(self, event: Any) -> Position:
        return _position(self.source, event.start_mark)

    def remember(self, anchor: str | None, node: Node) -> None:
        if anchor is not None:
            self.anchors[anchor] = node


def children(node: Node) -> list[Node]:
    """The nodes directly inside a node (keys and values of a mapping)."""
    if isinstance(node, Sequence):
        return node.items
    if isinstance(node, Mapping):
        return [part for pair in node.pairs for part in pair]
    return []


class _AliasBudget:
    """Rejects a tree whose alias expansion is too big, too deep or cyclic, before anything
    is copied: sizes and heights are memoised per node, so a "billion laughs" document
    costs one visit per distinct node."""

    def __init__(self) -> None:
        self.measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, height)
        self.open: set[int] = set()

    def measure(self, node: Node, depth: int) -> tuple[int, int]:
        """(values in the expansion of node, its nesting height); raises past the limits."""
        known = self.measured.get(id(node))
        if known is None:
            if id(node) in self.open:
                raise rejected(node.position, "an alias refers to a value that contains it")
            if depth > MAX_DEPTH:
                raise rejected(node.position, _too_deep())
            self.open.add(id(node))
            size, height = 1, 1
            for child in children(node):
                child_size, child_height = self.measure(child, depth + 1)
                size += child_size
                height = max(height, child_height + 1)
                if size > MAX_NODES:
                    raise rejected(
                        node.position,
                        f"the document expands to more than {MAX_NODES} values through aliases",
                    )
            self.open.discard(id(node))
            known = self.measured[id(node)] = (size, height)
        if depth + known[1] - 1 > MAX_DEPTH:
            raise rejected(node.position, _too_deep())
        return known
