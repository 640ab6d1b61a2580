"""A direct Python evaluator for the small JSONata subset that most conditions and
publishes use (`$succeeded() and $ctx.checks < 5`, `$ctx.checks + 1`, `$result.status`).

jsonata-python walks its AST with several frame look-ups per node, about 30 to 60 µs for
such expressions; translating them once into closures makes them about 20x cheaper.
Exactness comes first: a node outside the subset is refused when the workflow loads
(the expression stays on jsonata-python), and at run time any value the subset does
not model the same way as JSONata (arrays in paths, operands that would raise a type
error, non-finite numbers) raises `NotNative`, and that evaluation is redone by
jsonata-python. A differential test holds the two to the same answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

from jsonata.utils import Utils

from engine.expressions.runtime import TERMINAL_STATUSES, UNDEFINED, Scope

Native = Callable[[Scope], Any]


class NotNative(Exception):
    """This evaluation needs the full JSONata engine."""


_NOT_NATIVE: Final = NotNative()

# Attributes a supported node may carry (anything else, e.g. predicates, stages, groups,
# focus or tuple bindings, changes path semantics).
_PLAIN_ATTRIBUTES: Final = frozenset(
    {
        "_outer_instance",
        "id",
        "type",
        "value",
        "position",
        "steps",
        "lhs",
        "rhs",
        "procedure",
        "arguments",
        "expression",
        "expressions",
        "condition",
        "then",
        "_else",
    }
)

_VARIABLES: Final[dict[str, Callable[[Scope], Any]]] = {
    "ctx": lambda scope: scope.ctx,
    "result": lambda scope: scope.result,
    "error": lambda scope: scope.error,
    "item": lambda scope: scope.item,
    "index": lambda scope: scope.index,
    "task": lambda scope: UNDEFINED if scope.task is None else scope.task,
    "run": lambda scope: scope.run,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _truthy(value: Any) -> bool:
    """JSONata's effective boolean value (undefined counts as false)."""
    if value is UNDEFINED or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return bool(value)
    if _is_number(value):
        return float(value) != 0
    if isinstance(value, dict):
        return bool(value)
    raise _NOT_NATIVE


def _deep_equal(left: Any, right: Any) -> bool:
    if isinstance(left, list) or isinstance(right, list):
        raise _NOT_NATIVE
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(
            _deep_equal(left[key], right[key]) for key in left
        )
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    return bool(left == right)


def _number_result(value: float) -> Any:
    if not math.isfinite(value):
        raise _NOT_NATIVE
    converted = Utils.convert_number(value)
    if isinstance(converted, float) and converted.is_integer() and abs(converted) < 2**53:
        return int(converted)
    return converted


def _symbol_plain(node: Any) -> bool:
    for name, value in vars(node).items():
        if name not in _PLAIN_ATTRIBUTES and value not in (None, False, [], 0):
            return False
    return True


def translate(node: Any) -> Native | None:
    """A closure equivalent to the AST node, or None when it is outside the subset."""
    if node is None or not _symbol_plain(node):
        return None
    kind = node.type
    if kind in ("number", "string"):
        constant = node.value
        return lambda scope: constant
    if kind == "value":
        constant = node.value
        if constant is not None and not isinstance(constant, bool):
            return None
        return lambda scope: constant
    if kind == "variable":
        return _variable(node.value, ())
    if kind == "path":
        return _path(node)
    if kind == "function":
        return _function(node)
    if kind == "binary":
        return _binary(node)
    if kind == "unary" and node.value == "-":
        return _negate(node)
    if kind == "condition":
        return _condition(node)
    if kind == "block" and len(node.expressions or []) == 1:
        return translate(node.expressions[0])  # parentheses around one expression
    return None


def _variable(name: str, steps: tuple[str, ...]) -> Native | None:
    read = _VARIABLES.get(name)
    if read is None:
        return None
    if not steps:
        return read

    def walk(scope: Scope) -> Any:
        value = read(scope)
        if isinstance(value, list):
            raise _NOT_NATIVE
        for step in steps:
            if isinstance(value, dict):
                value = value.get(step, UNDEFINED)
                if isinstance(value, list):
                    raise _NOT_NATIVE
            else:
                return UNDEFINED
        return value

    return walk


def _path(node: Any) -> Native | None:
    steps = node.steps or []
    if not steps or steps[0].type != "variable" or not all(_symbol_plain(s) for s in steps):
        return None
    if any(step.type != "name" or not isinstance(step.value, str) for step in steps[1:]):
        return None
    return _variable(steps[0].value, tuple(step.value for step in steps[1:]))


def _function(node: Any) -> Native | None:
    procedure = node.procedure
    if procedure is None or procedure.type != "variable" or not _symbol_plain(procedure):
        return None
    name = procedure.value
    arguments = node.arguments or []
    if name in ("succeeded", "failed", "completed"):
        if arguments:
            return None
        if name == "succeeded":
            return lambda scope: scope.status == "succeeded"
        if name == "failed":
            return lambda scope: scope.status == "failed"
        return lambda scope: scope.status in TERMINAL_STATUSES
    if len(arguments) != 1:
        return None
    argument = translate(arguments[0])
    if argument is None:
        return None
    if name == "not":

        def negation(scope: Scope) -> Any:
            value = argument(scope)
            return UNDEFINED if value is UNDEFINED else not _truthy(value)

        return negation
    if name == "exists":
        return lambda scope: argument(scope) is not UNDEFINED
    if name == "boolean":

        def boolean(scope: Scope) -> Any:
            value = argument(scope)
            return UNDEFINED if value is UNDEFINED else _truthy(value)

        return boolean
    return None


def _binary(node: Any) -> Native | None:
    operator = node.value
    left = translate(node.lhs)
    right = translate(node.rhs)
    if left is None or right is None:
        return None
    if operator == "and":
        return lambda scope: _truthy(left(scope)) and _truthy(right(scope))
    if operator == "or":
        return lambda scope: _truthy(left(scope)) or _truthy(right(scope))
    if operator in ("=", "!="):
        expected = operator == "="

        def equality(scope: Scope) -> Any:
            a, b = left(scope), right(scope)
            if a is UNDEFINED or b is UNDEFINED:
                return False
            return _deep_equal(a, b) is expected

        return equality
    if operator in ("<", "<=", ">", ">="):
        return _comparison(operator, left, right)
    if operator in ("+", "-", "*", "/"):
        return _arithmetic(operator, left, right)
    if operator == "&":

        def concat(scope: Scope) -> Any:
            a, b = left(scope), right(scope)
            a = "" if a is UNDEFINED else a
            b = "" if b is UNDEFINED else b
            if not isinstance(a, str) or not isinstance(b, str):
                raise _NOT_NATIVE
            return a + b

        return concat
    return None


def _comparison(operator: str, left: Native, right: Native) -> Native:
    def compare(scope: Scope) -> Any:
        a, b = left(scope), right(scope)
        if a is UNDEFINED or b is UNDEFINED:
            for value in (a, b):
                if value is not UNDEFINED and not (isinstance(value, str) or _is_number(value)):
                    raise _NOT_NATIVE
            return UNDEFINED
        if not ((isinstance(a, str) and isinstance(b, str)) or (_is_number(a) and _is_number(b))):
            raise _NOT_NATIVE
        if operator == "<":
            return a < b
        if operator == "<=":
            return a <= b
        if operator == ">":
            return a > b
        return a >= b

    return compare


def _arithmetic(operator: str, left: Native, right: Native) -> Native:
    def calculate(scope: Scope) -> Any:
        a, b = left(scope), right(scope)
        if (a is not UNDEFINED and not _is_number(a)) or (b is not UNDEFINED and not _is_number(b)):
            raise _NOT_NATIVE
        if a is UNDEFINED or b is UNDEFINED:
            return UNDEFINED
        x, y = float(a), float(b)
        if operator == "+":
            return _number_result(x + y)
        if operator == "-":
            return _number_result(x - y)
        if operator == "*":
            return _number_result(x * y)
        if y == 0:
            raise _NOT_NATIVE
        return _number_result(x / y)

    return calculate


def _negate(node: Any) -> Native | None:
    operand = translate(node.expression)
    if operand is None:
        return None

    def negate(scope: Scope) -> Any:
        value = operand(scope)
        if value is UNDEFINED:
            return UNDEFINED
        if not _is_number(value):
            raise _NOT_NATIVE
        return _number_result(-float(value))

    return negate


def _condition(node: Any) -> Native | None:
    test = translate(node.condition)
    then = translate(node.then)
    otherwise = translate(node._else) if node._else is not None else (lambda scope: UNDEFINED)
    if test is None or then is None or otherwise is None:
        return None
    return lambda scope: then(scope) if _truthy(test(scope)) else otherwise(scope)
