"""Values that may hold `<% %>` expressions, and `when` conditions, compiled once.

Rules (LANGUAGE.md §2): a string that is exactly `<% expr %>` renders to the expression's
typed value; `<% %>` blocks inside other text are interpolated as `$string()` would
render them; other strings are literals; mappings and lists render recursively (values,
not keys). A rendered value is data and is never evaluated again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from engine.expressions.errors import ExpressionError
from engine.expressions.runtime import UNDEFINED, CompiledExpression, Scope, compile_expression

Path = tuple[str | int, ...]

_BLOCK: Final = re.compile(r"<%(.*?)%>", re.DOTALL)
_WHOLE: Final = re.compile(r"^\s*<%(.*?)%>\s*$", re.DOTALL)


def path_text(path: Path) -> str:
    """`('next', 0, 'when')` -> `next[0].when`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


class Template:
    """A compiled value. `render` gives plain JSON data."""

    __slots__ = ()

    def render(self, scope: Scope) -> Any:
        raise NotImplementedError

    def expressions(self) -> Iterator[CompiledExpression]:
        """Every compiled expression inside, for static analysis."""
        return iter(())

    @property
    def is_constant(self) -> bool:
        return False


class Literal(Template):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def render(self, scope: Scope) -> Any:
        return self.value

    @property
    def is_constant(self) -> bool:
        return True


class Evaluated(Template):
    """A string that is exactly one `<% expr %>`: the expression's typed value."""

    __slots__ = ("compiled", "path")

    def __init__(self, compiled: CompiledExpression, path: Path) -> None:
        self.compiled = compiled
        self.path = path

    @property
    def field(self) -> str:
        """Where the value sits, as errors name it (made when an error needs it: a large
        workflow has tens of thousands of templates and few of them ever fail)."""
        return path_text(self.path)

    def render(self, scope: Scope) -> Any:
        try:
            value = self.compiled.evaluate(scope)
        except ExpressionError as error:
            raise error.located(field=self.field) from None
        if value is UNDEFINED:
            raise ExpressionError(
                "evaluated to undefined (a missing variable or path); "
                "write a default explicitly, e.g. `$exists(x) ? x : default`",
                expression=self.compiled.source,
                field=self.field,
            )
        return value

    def expressions(self) -> Iterator[CompiledExpression]:
        yield self.compiled


def _as_string(value: Any) -> str:
    """What `$string()` gives for a value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Interpolated(Template):
    """Text with `<% %>` blocks: each block rendered as a string."""

    __slots__ = ("parts", "path")

    def __init__(self, parts: tuple[str | Evaluated, ...], path: Path) -> None:
        self.parts = parts
        self.path = path

    @property
    def field(self) -> str:
        return path_text(self.path)

    def render(self, scope: Scope) -> Any:
        return "".join(
            part if isinstance(part, str) else _as_string(part.render(scope)) for part in self.parts
        )

    def expressions(self) -> Iterator[CompiledExpression]:
        for part in self.parts:
            if not isinstance(part, str):
                yield part.compiled


class MappingTemplate(Template):
    __slots__ = ("items",)

    def __init__(self, items: tuple[tuple[str, Template], ...]) -> None:
        self.items = items

    def render(self, scope: Scope) -> Any:
        return {key: value.render(scope) for key, value in self.items}

    def expressions(self) -> Iterator[CompiledExpression]:
        for _, value in self.items:
            yield from value.expressions()


class ListTemplate(Template):
    __slots__ = ("items",)

    def __init__(self, items: tuple[Template, ...]) -> None:
        self.items = items

    def render(self, scope: Scope) -> Any:
        return [value.render(scope) for value in self.items]

    def expressions(self) -> Iterator[CompiledExpression]:
        for value in self.items:
            yield from value.expressions()


@dataclass(frozen=True, slots=True)
class CompileProblem:
    """An expression that does not compile, with where it sits in the document."""

    path: Path
    error: ExpressionError


def compile_template(raw: Any, path: Path, problems: list[CompileProblem]) -> Template:
    """Compile a value; expressions that fail to compile are appended to `problems`."""
    if isinstance(raw, str):
        if "<%" not in raw:
            return Literal(raw)
        whole = _WHOLE.match(raw)
        if whole and "<%" not in whole.group(1):
            compiled = _compile(whole.group(1).strip(), path, problems)
            return Evaluated(compiled, path) if compiled else Literal(raw)
        parts: list[str | Evaluated] = []
        cursor = 0
        for block in _BLOCK.finditer(raw):
            if block.start() > cursor:
                parts.append(raw[cursor : block.start()])
            compiled = _compile(block.group(1).strip(), path, problems)
            if compiled:
                parts.append(Evaluated(compiled, path))
            cursor = block.end()
        if cursor < len(raw):
            parts.append(raw[cursor:])
        return Interpolated(tuple(parts), path)
    # Loops rather than generators and `all(...)`: a large workflow compiles tens of
    # thousands of values here, and only a `Literal` is constant.
    if isinstance(raw, dict):
        items: list[tuple[str, Template]] = []
        constant = True
        for key, value in raw.items():
            name = str(key)
            item = compile_template(value, (*path, name), problems)
            items.append((name, item))
            constant = constant and type(item) is Literal
        return Literal(raw) if constant else MappingTemplate(tuple(items))
    if isinstance(raw, list):
        values: list[Template] = []
        constant = True
        for index, value in enumerate(raw):
            item = compile_template(value, (*path, index), problems)
            values.append(item)
            constant = constant and type(item) is Literal
        return Literal(raw) if constant else ListTemplate(tuple(values))
    return Literal(raw)


def _compile(source: str, path: Path, problems: list[CompileProblem]) -> CompiledExpression | None:
    if not source:
        problems.append(
            CompileProblem(path, ExpressionError("empty expression", expression=source))
        )
        return None
    try:
        return compile_expression(source)
    except ExpressionError as error:
        problems.append(CompileProblem(path, error.located(field=path_text(path))))
        return None


# Conditions that authors write on almost every transition; answered without JSONata.
_STATUS_CONDITIONS: Final = {
    "$succeeded()": frozenset({"succeeded"}),
    "$failed()": frozenset({"failed"}),
    "$completed()": frozenset({"succeeded", "failed", "canceled"}),
    "true": frozenset({"succeeded", "failed", "canceled"}),
    "false": frozenset(),
}


class Condition:
    """A `when`: the whole string is JSONata and must give a boolean (undefined = false)."""

    __slots__ = ("_compiled", "_statuses", "path", "source")

    def __init__(
        self,
        source: str,
        path: Path,
        compiled: CompiledExpression | None,
        statuses: frozenset[str] | None,
    ) -> None:
        self.source = source
        self.path = path
        self._compiled = compiled
        self._statuses = statuses

    @property
    def field(self) -> str:
        return path_text(self.path)

    def holds(self, scope: Scope) -> bool:
        if self._statuses is not None:
            return scope.status in self._statuses
        assert self._compiled is not None
        try:
            value = self._compiled.evaluate(scope)
        except ExpressionError as error:
            raise error.located(field=self.field) from None
        if value is UNDEFINED:
            return False
        if not isinstance(value, bool):
            raise ExpressionError(
                f"a condition must give a boolean, got {_as_string(value)[:80]}",
                expression=self.source,
                field=self.field,
            )
        return value

    def expressions(self) -> Iterator[CompiledExpression]:
        if self._compiled is not None:
            yield self._compiled


def strip_delimiters(source: str) -> str:
    whole = _WHOLE.match(source)
    return whole.group(1).strip() if whole else source.strip()


def compile_condition(raw: str, path: Path, problems: list[CompileProblem]) -> Condition:
    """Compile a `when` (or `retry.when`) string."""
    source = strip_delimiters(raw)
    statuses = _STATUS_CONDITIONS.get(source)
    if statuses is not None:
        return Condition(source, path, None, statuses)
    compiled = _compile(source, path, problems)
    # A condition that failed to compile never holds; validation has reported it.
    return Condition(source, path, compiled, None if compiled else frozenset())
