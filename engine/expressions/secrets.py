"""`$secret('name')`: a deployment's named secret, by a name fixed in the workflow text.

The names must be literal strings so that a run knows, before any expression runs, which
secrets it needs: the Temporal binding resolves exactly those once, in an activity, and
the values then come from the run's history on every replay (docs/security.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from jsonata import Jsonata

from engine.expressions.errors import ExpressionError

# Letters, digits and `_`, starting with a letter: a name that is also the tail of an
# environment variable (`SEGUE_SECRET_<NAME>`) and a plain file name.
SECRET_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_USAGE: Final = "$secret() takes one secret name in quotes, e.g. $secret('api_token')"


def secret_names(ast: Any, source: str) -> frozenset[str]:
    """The names of every `$secret(...)` call in a parsed expression; an `ExpressionError`
    when one is called with anything but one literal, well-formed name."""
    names: set[str] = set()
    for node in _nodes(ast):
        procedure = getattr(node, "procedure", None)
        if node.type != "function" or getattr(procedure, "type", None) != "variable":
            continue
        if getattr(procedure, "value", None) != "secret":
            continue
        arguments = node.arguments or []
        if len(arguments) != 1 or arguments[0].type != "string":
            raise ExpressionError(_USAGE, expression=source)
        name = arguments[0].value
        if not isinstance(name, str) or not SECRET_NAME.fullmatch(name):
            raise ExpressionError(
                f"secret name {str(name)[:70]!r} is not letters, digits and _ starting with "
                "a letter (at most 64)",
                expression=source,
            )
        names.add(name)
    # `$secret` handed around as a value (`$f := $secret`) would escape the literal rule.
    for node in _nodes(ast):
        if node.type == "variable" and node.value == "secret" and not _called(node, ast):
            raise ExpressionError(_USAGE, expression=source)
    return frozenset(names)


def _called(variable: Any, ast: Any) -> bool:
    return any(
        node.type == "function" and getattr(node, "procedure", None) is variable
        for node in _nodes(ast)
    )


def _nodes(root: Any) -> Iterator[Any]:
    """Every AST node under `root` (attributes holding nodes or lists of them)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not hasattr(node, "type"):
            continue
        seen.add(id(node))
        yield node
        for value in vars(node).values():
            if hasattr(value, "type"):
                stack.append(value)
            elif isinstance(value, list):
                stack.extend(item for item in value if hasattr(item, "type"))


class SecretUnknown(Exception):
    """An expression asked for a secret the run did not resolve."""


def secret_function(secrets: Mapping[str, str] | None) -> Any:
    """The `$secret` JSONata function over a run's resolved secrets."""

    def secret(name: str) -> str:
        if secrets is None or name not in secrets:
            raise SecretUnknown(f"secret {str(name)[:70]!r} is not provided to this run")
        return secrets[name]

    return Jsonata.JLambda(secret)
