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
    kept: Any = data
    for node in unreadable:
        damage.note(node.meant)
        cut = _cut_point(node.cut)
        kept = _without(kept, cut, _placeholder(cut))
    tasks = kept.get("tasks") if isinstance(kept, dict) else None
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


def _without(node: Any, path: Path, placeholder: dict[str, Any] | None) -> Any:
    """A copy of `node` with the value at `path` replaced or removed (only the containers
    on the path are copied; the parsed data is never changed). A path that is gone
    already is left alone."""
    if not path:
        return node  # the root stays: a missing top-level key has nothing to cut
    key, rest = path[0], path[1:]
    if isinstance(node, dict) and isinstance(key, str) and key in node:
        copy = dict(node)
        if rest:
            copy[key] = _without(node[key], rest, placeholder)
        elif placeholder is not None:
            copy[key] = placeholder
        else:
            del copy[key]
        return copy
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        items = list(node)
        items[key] = _without(node[key], rest, placeholder) if rest else placeholder
        return items
    return node
