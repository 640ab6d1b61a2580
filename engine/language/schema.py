"""The shape of a workflow document: JSON Schema validation with human messages.

Every violation becomes one `Diagnostic` at the offending node. The schema carries an
`errorMessage` (as VS Code's YAML support reads it) on the nodes whose failures are best
said as "must be <expected>"; unknown and missing keys get their own messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from engine.diagnostics import Category, Diagnostic
from engine.language.linear_regex import refused_patterns
from engine.language.wording import Path, clip, nearest, show, subject
from engine.language.yaml_source import SourceMap, YamlDocument

SCHEMA_FILE: Final = "workflow.schema.json"
_MESSAGE_CHARS: Final = 160
# Failures that concern the keys of a mapping rather than its value as a whole.
_KEY_VALIDATORS: Final = frozenset({"additionalProperties", "required"})
_TYPE_NAMES: Final = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


@cache
def workflow_schema() -> dict[str, Any]:
    """The JSON Schema of the workflow format (read once per process)."""
    text = resources.files("engine.language").joinpath(SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    # The bundled schema is checked against the metaschema by tests/language/
    # test_schema_file.py, not at every start: that check costs more than the validation
    # of a small file.
    return Draft202012Validator(workflow_schema())


# The regexes of the workflow schema as jsonschema-rs runs them. It reads `\\s` as
# ECMAScript does (U+FEFF included, U+001C..U+001F not), Python's `re` differently, so
# the expression pattern gets ASCII whitespace on the fast side; a pattern of ASCII
# classes is at least as strict there (ECMAScript's `$` does not match before a final
# newline, Python's does). A match on the fast side is then a match here. A pattern not
# listed stops the fast path from being built: review it before adding it here.
_FAST_PATTERNS: Final = {
    "^\\s*<%[\\s\\S]*%>\\s*$": "^[ \\t\\n\\r]*<%[\\s\\S]*%>[ \\t\\n\\r]*$",
    "^[A-Za-z_][A-Za-z0-9_-]{0,63}$": "^[A-Za-z_][A-Za-z0-9_-]{0,63}$",
}


# Below this size `jsonschema` answers in a few milliseconds, less than importing
# jsonschema-rs costs (16 ms of CPU), which `segue validate` of a small file would pay.
_FAST_FROM_CHARS: Final = 32 * 1024


@cache
def _fast_validator() -> Any:  # jsonschema_rs.Validator or None, imported only when needed
    """The same schema compiled by jsonschema-rs: a yes/no answer ~50x sooner; None when
    the schema has a pattern not reviewed for it (then `jsonschema` answers alone).

    It only ever says "valid" for a document the reference validator also accepts (its
    patterns are chosen to make sure of that; tests/language/test_schema_fast_path.py
    holds the two to it, and fails if the fast path is off), so a "no" goes on to
    `jsonschema`, whose errors are reported.
    """
    import jsonschema_rs

    try:
        schema = _with_fast_patterns(workflow_schema())
    except _Unreviewed:
        return None
    return jsonschema_rs.validator_for(schema)


class _Unreviewed(Exception):
    """The schema has a regex not reviewed for the fast validator."""


def _with_fast_patterns(schema: Any) -> Any:
    """A copy of `schema` with each `pattern` as the fast validator should run it."""
    if isinstance(schema, list):
        return [_with_fast_patterns(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "patternProperties" in schema:
        raise _Unreviewed
    copy = {key: _with_fast_patterns(value) for key, value in schema.items()}
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        if pattern not in _FAST_PATTERNS:
            raise _Unreviewed
        copy["pattern"] = _FAST_PATTERNS[pattern]
    return copy


def _fast_valid(data: Any) -> bool:
    validator = _fast_validator()
    if validator is None:
        return False
    try:
        return bool(validator.is_valid(data))
    except (ValueError, OverflowError, TypeError):  # e.g. an integer past 64 bits
        return False


@cache
def _meta_validator() -> Draft202012Validator:
    return Draft202012Validator(Draft202012Validator.META_SCHEMA)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A node that breaks the schema: `cut` is dropped to read the rest of the document;
    `meant` is the place whose meaning is lost (for an unknown key, the key it resembles)."""

    cut: Path
    meant: Path


@dataclass(frozen=True, slots=True)
class SchemaReport:
    diagnostics: list[Diagnostic]
    unreadable: list[Unreadable]


def validate_schema(document: YamlDocument) -> SchemaReport:
    """Every way the document breaks the workflow schema, the nodes that break it, and
    declared inputs that are not JSON Schemas."""
    source_map = document.source_map
    diagnostics: list[Diagnostic] = []
    unreadable: list[Unreadable] = []
    # Most documents are valid: the fast validator says so, and only an invalid one pays
    # for the reference validator's errors (0.3 s of a 5,000-task file's 1 s before).
    fast = len(source_map.text) >= _FAST_FROM_CHARS and _fast_valid(document.data)
    errors = () if fast else _validator().iter_errors(document.data)
    for error in errors:
        for leaf in _leaves(error):
            diagnostics.extend(_describe(leaf, source_map))
            unreadable.extend(_unreadable(leaf))
    inputs = document.data.get("input")
    if isinstance(inputs, Mapping):
        diagnostics.extend(
            _check_input_schemas(
                {name: schema for name, schema in inputs.items() if isinstance(schema, Mapping)},
                source_map,
            )
        )
    return SchemaReport(diagnostics, unreadable)


def is_schema_valid(data: Any) -> bool:
    """Whether `data` fits the workflow schema (no messages: a yes or no)."""
    return bool(_validator().is_valid(data))


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The errors to report for one error: an `anyOf` whose only branch of the right type
    failed on keys or deeper values is reported by that branch's own errors."""
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        yield error
        return
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [
        subs
        for subs in branches.values()
        if not any(sub.validator == "type" and not sub.relative_path for sub in subs)
    ]
    if len(fitting) == 1 and all(
        sub.relative_path or sub.validator in _KEY_VALIDATORS for sub in fitting[0]
    ):
        for sub in fitting[0]:
            yield from _leaves(sub)
        return
    yield error


def _describe(error: ValidationError, source_map: SourceMap) -> Iterator[Diagnostic]:
    path: Path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties":
        for key, allowed in _unknown_keys(error):
            yield Diagnostic(
                source_map.key_position((*path, key)),
                Category.SCHEMA,
                _unknown_key_message(path, key, allowed),
            )
        return
    if error.validator == "required" and isinstance(error.instance, Mapping):
        required: Any = error.validator_value
        for key in required:
            if key not in error.instance:
                message = (
                    f"missing required top-level key {key!r}"
                    if not path
                    else f"{subject(path)}: missing required key {key!r}"
                )
                yield Diagnostic(source_map.position(path), Category.SCHEMA, message)
        return
    expected = schema.get("errorMessage") or _expected(error)
    yield Diagnostic(
        source_map.position(path),
        Category.SCHEMA,
        f"{subject(path)} must be {expected}, got {show(error.instance)}",
    )


def _unreadable(error: ValidationError) -> Iterator[Unreadable]:
    """The nodes an error makes unreadable (see `Unreadable`)."""
    path: Path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        for key, allowed in _unknown_keys(error):
            close = _closest_key(key, allowed)
            yield Unreadable((*path, key), (*path, close) if close else path)
    else:  # a missing required key leaves its mapping unusable, like a wrong value
        yield Unreadable(path, path)


def _unknown_keys(error: ValidationError) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Each key an `additionalProperties` error is about, with the keys allowed there."""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    allowed = tuple(sorted(schema.get("properties", {})))
    if isinstance(error.instance, Mapping):
        for key in error.instance:
            if key not in allowed:
                yield str(key), allowed


@lru_cache(maxsize=256)  # the same misspelling tends to repeat across tasks
def _closest_key(key: str, allowed: tuple[str, ...]) -> str | None:
    close = nearest(key, allowed)
    return close[0] if close else None


def _unknown_key_message(path: Path, key: str, allowed: tuple[str, ...]) -> str:
    where = "unknown top-level key" if not path else f"{subject(path)}: unknown key"
    close = _closest_key(key, allowed)
    if key == "<<":
        hint = "YAML merge keys are not supported: write the keys out"
    elif close:
        hint = f"did you mean {close!r}?"
    else:
        hint = f"expected one of: {', '.join(allowed)}"
    return f"{where} {clip(key)!r} ({hint})"


def _expected(error: ValidationError) -> str:
    """What the schema wanted, for failures whose schema node has no `errorMessage`."""
    value: Any = error.validator_value
    match error.validator:
        case "type":
            names = value if isinstance(value, list) else [value]
            return " or ".join(_TYPE_NAMES.get(str(name), str(name)) for name in names)
        case "const":
            return json.dumps(value)
        case "enum":
            return "one of " + ", ".join(json.dumps(item) for item in value)
        case "minimum":
            return f">= {value}"
        case "exclusiveMinimum":
            return f"> {value}"
        case "minLength":
            return "a non-empty string"
        case "minItems":
            return f"a list of at least {value} item(s)"
        case "minProperties":
            return f"a mapping of at least {value} key(s)"
        case "pattern":
            return f"a string matching {value}"
        case _:
            return f"valid ({clip(error.message, _MESSAGE_CHARS)})"


def _check_input_schemas(inputs: Mapping[str, Any], source_map: SourceMap) -> Iterator[Diagnostic]:
    """Each declared input must hold a valid JSON Schema: run inputs are checked against it."""
    for name, schema in inputs.items():
        error = best_match(_meta_validator().iter_errors(schema))
        if error is not None:
            path: Path = ("input", name, *error.absolute_path)
            yield Diagnostic(
                source_map.position(path),
                Category.SCHEMA,
                f"input {clip(name)!r} is not a valid JSON Schema: "
                f"{clip(error.message, _MESSAGE_CHARS)}",
            )
            continue
        if "secret" in schema and not isinstance(schema["secret"], bool):
            # Segue's own keyword (JSON Schema ignores it): a typo must not leave a
            # secret shown in clear.
            yield Diagnostic(
                source_map.position(("input", name, "secret")),
                Category.SCHEMA,
                f"input {clip(name)!r}: secret must be true or false, "
                f"got {clip(repr(schema['secret']), _MESSAGE_CHARS)}",
            )
        for reason in refused_patterns(schema):
            yield Diagnostic(
                source_map.position(("input", name)),
                Category.SCHEMA,
                f"input {clip(name)!r}: {clip(reason, _MESSAGE_CHARS)}",
            )
