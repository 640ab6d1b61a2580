"""How validation messages name places and show values: short, and never a whole document."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final

from engine.expressions import path_text

# A place in a document: mapping keys and list indexes from the top.
Path = tuple[str | int, ...]

SHOWN_CHARS: Final = 40


def subject(path: Path) -> str:
    """How a message names the node at `path`: `task 'check': next[0].when`, `timeout`."""
    if not path:
        return "the workflow"
    if path[0] == "tasks" and len(path) >= 2:
        task = f"task {clip(str(path[1]))!r}"
        return f"{task}: {path_text(path[2:])}" if len(path) > 2 else task
    return path_text(path)


def clip(text: str, limit: int = SHOWN_CHARS) -> str:
    """The text, cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def listing(names: Iterable[str], most: int = 5) -> str:
    """`a, b, c` — or the first `most` names and how many more."""
    shown = [clip(name) for name in names]
    if len(shown) <= most:
        return ", ".join(shown)
    return f"{', '.join(shown[:most])} and {len(shown) - most} more"


def nearest(
    name: str, candidates: Iterable[str], *, limit: int = 1, cutoff: float = 0.6
) -> list[str]:
    """The known names closest to a misspelt `name`, closest first (for "did you mean")."""
    import difflib  # only when a name is unknown: not on every start of `segue validate`

    return difflib.get_close_matches(name, [c for c in candidates if c != name], limit, cutoff)


def did_you_mean(names: Sequence[str]) -> str:
    """` (did you mean 'a'?)` for the suggestions, or nothing when there are none."""
    if not names:
        return ""
    return f" (did you mean {' or '.join(repr(clip(name)) for name in names)}?)"


class Suggester:
    """`did_you_mean` over a budget of name comparisons: a hostile file with thousands of
    misspellings among thousands of names gets its first suggestions, not minutes of work."""

    def __init__(self, budget: int = 50_000) -> None:
        self.left = budget

    def __call__(self, name: str, candidates: Collection[str]) -> str:
        if len(candidates) > self.left:
            return ""
        self.left -= len(candidates)
        return did_you_mean(nearest(name, candidates))


def show(value: Any) -> str:
    """A short rendering of an offending value; never the whole of a large one."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return clip(str(value))
    if isinstance(value, str):
        return repr(clip(value))
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, Mapping):
        return "a mapping" if value else "an empty mapping"
    return type(value).__name__
