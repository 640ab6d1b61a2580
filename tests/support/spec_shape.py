"""A compiled spec's structure, for comparing two specs field by field."""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.expressions.runtime import CompiledExpression


def strict_shape(value: Any) -> Any:
    """A value's structure with each leaf's type: `1`, `1.0` and `True` differ, as do a
    tuple and a list; compiled expressions by their text (they compare by identity)."""
    if isinstance(value, CompiledExpression):
        return ("expression", value.source, sorted(value.secret_names))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return (
            type(value).__name__,
            [(f.name, strict_shape(getattr(value, f.name))) for f in fields],
        )
    if isinstance(value, dict):
        return ("dict", [(strict_shape(key), strict_shape(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [strict_shape(item) for item in value])
    if isinstance(value, frozenset):
        return ("frozenset", sorted(value))
    slots = [name for cls in type(value).__mro__ for name in getattr(cls, "__slots__", ())]
    if slots:
        return (
            type(value).__name__,
            [(name, strict_shape(getattr(value, name))) for name in slots],
        )
    if isinstance(value, float) and value != value:
        return ("float", "nan")
    return (type(value).__name__, value)
