"""Checking that what an action hands back (a result, log data) is plain JSON data."""

from __future__ import annotations

import math
from typing import Any, Final

# Values nested deeper than this are refused (and cycles with them).
MAX_RESULT_DEPTH: Final = 200


def to_json_value(value: Any, path: str = "result", depth: int = 0) -> Any:
    """`value` as plain JSON data (tuples become lists); ValueError naming the first bad path."""
    if depth > MAX_RESULT_DEPTH:
        raise ValueError(f"{path}: nested deeper than {MAX_RESULT_DEPTH} levels")
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} is not a JSON number")
        return value
    if isinstance(value, list | tuple):
        return [to_json_value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        converted: dict[str, Any] = {}
        for key, member in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: key {key!r} is not a string")
            converted[key] = to_json_value(member, f"{path}.{key}", depth + 1)
        return converted
    raise ValueError(f"{path}: a value of type {type(value).__name__} is not JSON")
