"""JSON Schema `pattern` and `patternProperties` on RE2, a linear-time regex engine.

Python's `re` backtracks: `^(a+)+$` against 26 characters took 7.8 s of CPU in the API
(issue 11, case 7), and the same validation runs again inside the workflow. RE2 answers
in time linear in the input whatever the pattern; a pattern it cannot compile (a
back-reference, a look-around) is refused when the workflow is registered.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported to the author, not to stderr


class PatternRefused(ValueError):
    """A schema regex RE2 cannot run in linear time."""


@functools.lru_cache(maxsize=1024)
def linear_pattern(pattern: str) -> Any:
    """The compiled RE2 pattern, or `PatternRefused` saying why."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternRefused(f"{pattern!r} cannot run in linear time: {reason}") from None


def refused_patterns(schema: Any) -> Iterator[str]:
    """Why each regex of a JSON Schema is refused (none for a schema that can run)."""
    pending = [schema]
    while pending:  # iterative: schemas come from users
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, Mapping):
            continue
        patterns = [node.get("pattern")]
        if isinstance(node.get("patternProperties"), Mapping):
            patterns += list(node["patternProperties"])
        for pattern in patterns:
            if isinstance(pattern, str):
                try:
                    linear_pattern(pattern)
                except PatternRefused as refused:
                    yield str(refused)
        pending.extend(node.values())


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not linear_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, properties: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in properties.items():
        compiled = linear_pattern(pattern)
        for key, value in instance.items():
            if compiled.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


LinearValidator: Any = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _pattern, "patternProperties": _pattern_properties}
)
"""Draft 2020-12 with its regexes on RE2."""
