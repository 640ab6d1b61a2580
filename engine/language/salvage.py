"""The readable part of a document that breaks the schema, so that one pass reports the
schema errors and the semantic errors of everything else.

Each node that breaks the schema is dropped (a task or a transition is kept as an empty
mapping, so names and list positions stay as written). What the dropped nodes could have
meant is recorded as `Damage`: the semantic checks whose answer it could change are
skipped, because a finding caused by a dropped node would be false.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.language.schema import Unreadable, is_schema_valid
from engine.language.wording import Path

# Lists whose items are names: one bad item makes the whole list unreadable, since
# dropping only the item would shift the positions of the others.
_NAME_LISTS = frozenset({"start", "do"})


@dataclass(slots=True)
class Damage:
    """Which semantic checks the dropped nodes could mislead."""

    graph: bool = False  # edges, entries or joins were lost: skip entry/join/reachability
    context: bool = False  # an assignment may be lost: skip the `$ctx` read warnings
    tasks: set[str] = field(default_factory=set)  # tasks whose own shape checks to skip
    every_task: bool = False

    def skips_task(self, name: str) -> bool:
        return self.every_task or name in self.tasks

    def note(self, meant: Path) -> None:
        """Record what a node at `meant` could have changed."""
        head = meant[0] if meant else None
        if head is None:
            self.graph = self.context = self.every_task = True
        elif head in ("start", "input", "vars"):
            self.context = True
            self.graph |= head == "start"
        elif head == "tasks":
            self._note_task(meant[1:])

    def _note_task(self, rest: Path) -> None:
        if len(rest) < 2:  # the tasks mapping or a task as a whole
            self.graph = self.context = True
            if rest:
                self.tasks.add(str(rest[0]))
            else:
                self.every_task = True
            return
        key = rest[1]
        if key == "next":
            inside = rest[3] if len(rest) > 3 else None
            if inside == "publish":
                self.context = True
            elif inside != "when":
                self.graph = self.context = True
        elif key == "join":
            self.graph = True
        elif key in ("action", "workflow", "with"):
            self.tasks.add(str(rest[0]))


@dataclass(frozen=True, slots=True)
class Salvaged:
    data: dict[str, Any]
    damage: Damage


def salvage(data: dict[str, Any], unreadable: Iterable[Unreadable]) -> Salvaged | None:
    """The document without its unreadable nodes, or None when no tasks can be read."""
    damage = Damage()
    pruner = _Pruner(data)
    for node in unreadable:
        damage.note(node.meant)
        cut = _cut_point(node.cut)
        pruner.cut(cut, _placeholder(cut))
    kept = pruner.root
    tasks = kept.get("tasks")
    # The last check guards the builder, which may assume schema-valid data.
    if not isinstance(tasks, dict) or not tasks or not is_schema_valid(kept):
        return None
    return Salvaged(kept, damage)


def _cut_point(cut: Path) -> Path:
    """Where to cut for an unreadable node: its enclosing name list, if it is in one."""
    for depth, key in enumerate(cut):
        if key in _NAME_LISTS and depth + 1 < len(cut) and isinstance(cut[depth + 1], int):
            return cut[: depth + 1]
    return cut


def _placeholder(cut: Path) -> dict[str, Any] | None:
    """What stands in for a dropped node: a task, a declared input or a transition stays
    as `{}` so that its name still counts as defined and the next transitions keep their
    numbers; anything else is removed."""
    match cut:
        case ("tasks" | "input", str()) | ("tasks", str(), "next", int()):
            return {}
    return None


class _Pruner:
    """Cuts nodes out of a copy of the data. Only the containers on a cut's path are
    copied, each once however many cuts pass through it (thousands of bad tasks cost one
    copy of `tasks`); the parsed data itself is never changed."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.root = dict(data)
        # The copies made so far (held, so that their ids stay theirs).
        self.owned: dict[int, dict[str, Any] | list[Any]] = {id(self.root): self.root}

    def cut(self, path: Path, placeholder: dict[str, Any] | None) -> None:
        """Replace the value at `path` by `placeholder`, or remove it; a path that is gone
        already is left alone. The root stays: a missing top-level key has nothing to cut."""
        if not path:
            return
        node: dict[str, Any] | list[Any] = self.root
        for key in path[:-1]:
            child = _child(node, key)
            if not isinstance(child, dict | list):
                return
            if id(child) not in self.owned:
                child = dict(child) if isinstance(child, dict) else list(child)
                self.owned[id(child)] = child
                node[key] = child  # type: ignore[index]
            node = child
        last = path[-1]
        if _child(node, last) is _MISSING:
            return
        if placeholder is None and isinstance(node, dict):
            del node[last]  # type: ignore[arg-type]
        else:
            node[last] = placeholder  # type: ignore[index]


_MISSING: Any = object()


def _child(node: dict[str, Any] | list[Any], key: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(key, _MISSING) if isinstance(key, str) else _MISSING
    if isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return _MISSING
