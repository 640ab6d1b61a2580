"""YAML events -> a small node tree, with limits that hold while parsing.

PyYAML parses (libyaml when present: the pure-Python parser needs about 30 µs per
event, half a minute for a hostile 1 MiB file); composing is ours, so that the node
count and nesting depth are bounded before anything large is built, and so that alias
expansion is measured, not performed, before conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NoReturn, Protocol

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

from engine.diagnostics import Category, Diagnostic, Position
from engine.language.wording import clip
from engine.language.yaml_nodes import (
    MAP_TAG,
    SEQ_TAG,
    STR_TAG,
    JsonResolver,
    Mapping,
    Node,
    Scalar,
    ScalarReader,
    Sequence,
    children,
    describe,
    tag_message,
)

# Values a document may hold, aliases expanded (a 10,000-task workflow holds about 70,000).
MAX_NODES: Final = 200_000
MAX_DEPTH: Final = 64


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


def rejected(
    position: Position | None, message: str, category: Category = Category.YAML
) -> Rejected:
    """The exception that stops loading with one diagnostic."""
    return Rejected(Diagnostic(position, category, message))


@dataclass(frozen=True, slots=True)
class Composed:
    """A composed document: its tree, and for a tree without aliases its plain value and
    the problems conversion found, both made while composing (`Node.data`)."""

    root: Node | None
    aliased: bool  # a shared node: the value must be made by expanding the tree
    problems: list[Diagnostic]


def compose(text: str, source: str) -> Node | None:
    """Parse text into one node tree (None if empty) within the node, depth and alias limits."""
    return compose_document(text, source).root


def compose_document(text: str, source: str) -> Composed:
    """Parse text into a node tree and its plain value, within the node, depth and alias
    limits; raises `Rejected` for what stops loading."""
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
    return Composed(root, composer.aliased, composer.problems)


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
    """PyYAML's composer, with limits; anchors may be redefined (the latest wins, as in YAML).

    It also converts, in the same pass, each node to its plain value (`Node.data`),
    reading mappings' keys as it goes (`Mapping.keys`): one walk over the events
    instead of a second one over the tree (a third of a large file's load before).
    What it converts, and the problems it reports, are exactly what `yaml_source`'s
    converter gives for the same tree (tests/language/test_yaml_fused.py holds the two
    to it); a document with an alias is converted by that converter instead, since
    expanding an alias copies.
    """

    def __init__(self, events: _Events, source: str) -> None:
        self.events = events
        self.source = source
        self.resolve: Callable[..., str] = JsonResolver().resolve
        self.anchors: dict[str, Node] = {}
        self.count = 0
        self.aliased = False  # without aliases the tree is a tree: counted and bounded here
        self.plain_tags: dict[str, str] = {}
        self.scalars = ScalarReader()
        self.problems: list[Diagnostic] = []

    def document(self) -> Node | None:
        self.events.get_event()  # stream start
        if self.events.check_event(StreamEndEvent):
            return None
        self.events.get_event()  # document start
        root = self.build(self.events.get_event(), 1)
        self.events.get_event()  # document end
        if self.events.check_event(DocumentStartEvent):
            raise rejected(
                self.position(self.events.peek_event()),
                "the file holds more than one YAML document (`---`); a workflow file holds one",
            )
        return root

    def build(self, event: Any, depth: int) -> Node:
        """The node that starts with `event` (its children read from the parser)."""
        kind = type(event)
        if kind is ScalarEvent:  # most nodes: inline, as a call per scalar shows in the total
            self.count += 1
            if self.count > MAX_NODES or depth > MAX_DEPTH:
                self.refuse(event)
            tag, text, start, end = event.tag, event.value, event.start_mark, event.end_mark
            if tag is None or tag == "!":
                # Quoted scalars are strings; only plain ones go through implicit typing.
                if event.implicit[0]:
                    tag = self.plain_tags.get(text) or self.plain_tag(text)
                else:
                    tag = STR_TAG
            line = start.line
            node = Scalar(
                tag,
                self.source,
                line,
                start.column,
                text,  # a string's value; other tags are read below
                start.index if line == end.line else -1,
                end.index,
                text,
            )
            if tag != STR_TAG:
                node.data, problem = self.scalars.read(tag, text)
                if problem is not None:
                    self.problem(node, problem)
            if event.anchor is not None:
                self.anchors[event.anchor] = node
            return node
        if kind is AliasEvent:
            anchor = event.anchor or ""
            if anchor not in self.anchors:
                raise rejected(
                    self.position(event), f"alias *{clip(anchor)} names no anchor before it"
                )
            self.aliased = True
            return self.anchors[anchor]
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            self.refuse(event)
        if kind is SequenceStartEvent:
            return self.sequence(event, event.start_mark, depth)
        if kind is MappingStartEvent:
            return self.mapping(event, event.start_mark, depth)
        # the parser guarantees a node event here
        raise rejected(self.position(event), f"unexpected {type(event).__name__}")

    def refuse(self, event: Any) -> NoReturn:
        """Stop at the node past the count limit, else past the depth limit."""
        over = f"the document has more than {MAX_NODES} values"
        raise rejected(self.position(event), over if self.count > MAX_NODES else _too_deep())

    def sequence(self, event: Any, start: _Mark, depth: int) -> Sequence:
        tag = _explicit(event.tag) or SEQ_TAG
        node = Sequence(tag, self.source, start.line, start.column, None, [])
        self.remember(event.anchor, node)
        items, build, get_event = node.items, self.build, self.events.get_event
        problems = len(self.problems)
        # One parser call per item: the end event is read as the next item would be.
        item = get_event()
        while type(item) is not SequenceEndEvent:
            items.append(build(item, depth + 1))
            item = get_event()
        if node.tag == SEQ_TAG:
            node.data = [item.data for item in items]
        else:  # conversion does not look inside
            del self.problems[problems:]
            self.problem(node, tag_message(node.tag, "list"))
        return node

    def mapping(self, event: Any, start: _Mark, depth: int) -> Mapping:
        tag = _explicit(event.tag) or MAP_TAG
        node = Mapping(tag, self.source, start.line, start.column, None, [], None)
        self.remember(event.anchor, node)
        pairs, build, get_event = node.pairs, self.build, self.events.get_event
        problems = self.problems
        before = len(problems)
        value: dict[str, Any] = {}
        keys: dict[str, tuple[Node, Node]] = {}
        event = get_event()
        while type(event) is not MappingEndEvent:
            before_key = len(problems)
            key_node = build(event, depth + 1)
            if type(key_node) is Scalar and key_node.tag == STR_TAG:  # most keys
                key: str | None = key_node.value
            else:
                key = self.key(key_node, before_key)
            before_value = len(problems)
            pair = (key_node, build(get_event(), depth + 1))
            pairs.append(pair)
            if key is None or key in keys:  # conversion skips the value
                del problems[before_value:]
                if key is not None:
                    first = keys[key][0].position
                    self.problem(
                        key_node,
                        f"duplicate key {clip(key)!r} (first defined at line {first.line}, "
                        f"column {first.column})",
                    )
            else:
                keys[key] = pair
                value[key] = pair[1].data
            event = get_event()
        if node.tag == MAP_TAG:
            node.data = value
            node.keys = keys
        else:  # conversion does not look inside
            del problems[before:]
            self.problem(node, tag_message(node.tag, "mapping"))
        return node

    def key(self, node: Node, before: int) -> str | None:
        """A key that is not a string, as conversion reads it: None, with its problem."""
        if isinstance(node, Scalar) and node.tag == STR_TAG:
            return node.value
        if not isinstance(node, Scalar):
            del self.problems[before:]  # conversion does not look inside a key
            kind = "list" if isinstance(node, Sequence) else "mapping"
            self.problem(node, f"mapping keys must be strings, got a {kind}")
        elif len(self.problems) == before:  # a non-string scalar: say what YAML made of it
            self.problem(
                node,
                f"mapping keys must be strings, but YAML reads {clip(node.value)!r} as "
                f"{describe(node.data)}; quote it: '{clip(node.value)}'",
            )
        return None

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(Diagnostic(node.position, Category.YAML, message))

    def plain_tag(self, value: str) -> str:
        """The implicit type of a plain scalar (memoised: keys and values repeat a lot)."""
        tag = self.plain_tags[value] = self.resolve(ScalarNode, value, (True, False))
        return tag

    def position(self, event: Any) -> Position:
        return _position(self.source, event.start_mark)

    def remember(self, anchor: str | None, node: Node) -> None:
        if anchor is not None:
            self.anchors[anchor] = node


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
