"""Run data made fit for PostgreSQL, without recursion and with a depth bound.

The trace sink stores whatever a run produced: its input, action results, its output.
Such a value can be nested far deeper than Python's recursion limit (an action result,
an expression's output), and a recursive walk would raise `RecursionError` on every
retry of the trace write, holding the run back for ever (issue 11, case 1). So the walk
here keeps its own stack, and cuts what lies deeper than `MAX_STORED_DEPTH`: a trace is
for people, and 64 levels is the API's own bound on request bodies.
"""

from __future__ import annotations

from typing import Any, Final

MAX_STORED_DEPTH: Final = 64
CUT_MARKER: Final = f"… (nested deeper than {MAX_STORED_DEPTH} levels: not stored)"


def storable(value: Any, max_depth: int = MAX_STORED_DEPTH) -> Any:
    """A copy of `value` with every U+0000 written as the text `\\u0000` (PostgreSQL
    refuses NUL in text and jsonb) and every container deeper than `max_depth` replaced
    by `CUT_MARKER`. Iterative: any depth of input is safe."""
    root: list[Any] = [None]
    # Each entry: a value to copy, the container and key its copy goes to, its depth.
    stack: list[tuple[Any, Any, Any, int]] = [(value, root, 0, 0)]
    while stack:
        source, target, key, depth = stack.pop()
        if isinstance(source, str):
            target[key] = _text(source)
        elif not isinstance(source, (dict, list)):
            target[key] = source
        elif depth >= max_depth:
            target[key] = CUT_MARKER
        elif isinstance(source, dict):
            copy: dict[Any, Any] = {}
            target[key] = copy
            for name, item in source.items():
                stored_name = _text(name) if isinstance(name, str) else name
                copy[stored_name] = None  # keeps the key order of the source
                stack.append((item, copy, stored_name, depth + 1))
        else:
            items: list[Any] = [None] * len(source)
            target[key] = items
            stack.extend((item, items, index, depth + 1) for index, item in enumerate(source))
    return root[0]


def _text(text: str) -> str:
    return text.replace("\x00", "\\u0000") if "\x00" in text else text
