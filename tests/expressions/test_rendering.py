"""Rendering rules of LANGUAGE.md §2, as a table: template, context -> value or error."""

from __future__ import annotations

import time
from typing import Any

import pytest

from engine.expressions import (
    UNDEFINED,
    CompileProblem,
    ExpressionError,
    Limits,
    Scope,
    compile_condition,
    compile_template,
)

CTX = {
    "name": "Ada",
    "n": 2,
    "none": None,
    "items": [1, 2, 3],
    "obj": {"k": "v"},
    "template": "<% $ctx.n %>",
}


def scope(**overrides: Any) -> Scope:
    values: dict[str, Any] = {
        "ctx": CTX,
        "run": {"id": "run-1"},
        "now_ms": 1_700_000_000_000,
        "seed": "run-1:1",
    }
    values.update(overrides)
    return Scope(**values)


def render(raw: Any, **overrides: Any) -> Any:
    problems: list[CompileProblem] = []
    template = compile_template(raw, ("input",), problems)
    assert problems == []
    return template.render(scope(**overrides))


RENDERINGS = [
    # (template, expected) — typed values, interpolation, literals, recursion
    ("<% $ctx.n %>", 2),
    ("  <% $ctx.n + 1 %>  ", 3),
    ("<% $ctx.items %>", [1, 2, 3]),
    ("<% $ctx.obj %>", {"k": "v"}),
    ("<% $ctx.none %>", None),
    ("Hello <% $ctx.name %>!", "Hello Ada!"),
    ("<% $ctx.n %> of <% $ctx.items %>", "2 of [1,2,3]"),
    ("n=<% $ctx.none %>", "n=null"),
    ("plain text", "plain text"),
    ("100% sure", "100% sure"),
    ({"a": "<% $ctx.n %>", "b": ["x", "<% $ctx.name %>"]}, {"a": 2, "b": ["x", "Ada"]}),
    ({"<% $ctx.name %>": 1}, {"<% $ctx.name %>": 1}),  # keys are never evaluated
    ("<% $ctx.template %>", "<% $ctx.n %>"),  # evaluated strings are data, never evaluated again
    ("is <% $ctx.template %>", "is <% $ctx.n %>"),
    ("<% $count($ctx.items) %>", 3),
    ("<% $ctx.n / 4 %>", 0.5),
]


@pytest.mark.parametrize(("raw", "expected"), RENDERINGS, ids=[repr(r[0]) for r in RENDERINGS])
def test_rendering(raw: Any, expected: Any) -> None:
    assert render(raw) == expected


ERRORS = [
    ("<% $ctx.missing %>", "undefined"),
    ("x <% $ctx.missing %>", "undefined"),
    ("<% $ctx.name + 1 %>", "number"),
    ('<% $eval("1") %>', "not available"),
    ("<% ($f := function($x){ $f($x) }; $f(1)) %>", "evaluation steps"),
    ("<% $pad('x', 300000) %>", "over the limit"),
]


@pytest.mark.parametrize(("raw", "fragment"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_name_the_field_and_expression(raw: str, fragment: str) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError) as caught:
        render(raw, limits=Limits(max_steps=50_000))
    assert time.monotonic() - started < 5
    assert fragment in caught.value.describe()
    assert caught.value.field == "input"
    assert caught.value.expression in raw


CONDITIONS = [
    ("$succeeded()", "succeeded", True),
    ("<% $succeeded() %>", "failed", False),
    ("$completed()", "failed", True),
    ("$ctx.missing", "succeeded", False),  # undefined counts as false
    ("$ctx.n > 1", "succeeded", True),
    ("$result = null", "succeeded", True),  # a pass-through's null result is a value
]


@pytest.mark.parametrize(("source", "status", "holds"), CONDITIONS)
def test_conditions(source: str, status: str, holds: bool) -> None:
    problems: list[CompileProblem] = []
    condition = compile_condition(source, ("next", 0, "when"), problems)
    assert problems == []
    assert condition.holds(scope(status=status, result=None)) is holds


def test_a_condition_must_be_boolean() -> None:
    condition = compile_condition("$ctx.name", ("next", 0, "when"), [])
    with pytest.raises(ExpressionError, match="boolean"):
        condition.holds(scope(status="succeeded"))


def test_syntax_errors_are_collected_with_their_place() -> None:
    problems: list[CompileProblem] = []
    compile_template({"a": "<% 1 + %>", "b": ["ok", "<% ) %>"]}, ("input",), problems)
    assert [p.path for p in problems] == [("input", "a"), ("input", "b", 1)]


def test_clock_and_randomness_are_deterministic() -> None:
    raw = {
        "now": "<% $now() %>",
        "ms": "<% $millis() %>",
        "r": "<% $random() %>",
        "u": "<% $uuid() %>",
    }
    first = render(raw)
    assert first == render(raw)
    assert first["now"] == "2023-11-14T22:13:20.000Z"
    assert first["ms"] == 1_700_000_000_000
    other = render(raw, seed="run-2:1")
    assert other["r"] != first["r"] and other["u"] != first["u"]


def test_result_null_and_undefined_differ() -> None:
    assert render("<% $result %>", result=None) is None
    with pytest.raises(ExpressionError):
        render("<% $result %>", result=UNDEFINED)
    assert render("<% $exists($error) %>") is False
