"""The task graph of a workflow file that may not be valid, for `POST /workflows/validate`:
the console draws it and marks the tasks its findings fall in.

A file with errors has no compiled spec (engine/language/loader.py keeps none), so this
reads the parsed YAML directly: every mapping under `tasks` is a node, every `do` name
that is a task is an edge, whatever else is wrong. A finding belongs to the task whose
entry holds its line. Pure CPU work, run with the checks in `api.cpu_pool`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from api.wire import GraphEdge, GraphNode, GraphView
from engine.diagnostics import Diagnostic
from engine.language.build import split_targets
from engine.language.limits import MAX_TASKS
from engine.language.yaml_source import YamlDocument, parse_yaml

# Past registration's task limit the file is refused as a whole: no sketch, the finding says why.
MAX_SKETCH_TASKS: Final = MAX_TASKS
_NAME_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class Sketch:
    graph: GraphView
    starts: tuple[int, ...]  # each task's first line, ascending
    names: tuple[str, ...]  # the task of each start
    end: int | None  # the first line after the `tasks` mapping (None: to the end)

    def task_at(self, line: int | None) -> str | None:
        """The task whose entry holds `line`, if any."""
        if line is None or (self.end is not None and line >= self.end):
            return None
        index = bisect_right(self.starts, line) - 1
        return self.names[index] if index >= 0 else None


def sketch(body: bytes, name: str) -> Sketch | None:
    """The graph of the file's `tasks` as written; None when there is no such mapping."""
    document, _ = parse_yaml(body, f"{name}.yaml")
    if document is None:
        return None
    tasks = document.data.get("tasks")
    if not isinstance(tasks, dict) or not tasks or len(tasks) > MAX_SKETCH_TASKS:
        return None
    names = [task for task in tasks if isinstance(task, str)]
    known = set(names)
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    inbound: set[str] = set()
    for task in names:
        raw = tasks[task] if isinstance(tasks[task], dict) else {}
        nodes.append(_node(task, raw))
        transitions = raw.get("next")
        for index, transition in enumerate(transitions if isinstance(transitions, list) else []):
            if not isinstance(transition, dict):
                continue
            do = transition.get("do")
            names_only = isinstance(do, list) and all(isinstance(d, str) for d in do)
            if not (isinstance(do, str) or names_only):
                continue
            when = transition.get("when")
            for target in split_targets(do):
                if target in known:
                    inbound.add(target)
                    edges.append(
                        GraphEdge(
                            from_=task,
                            to=target,
                            transition=index,
                            when=str(when)[:_NAME_CHARS] if when is not None else None,
                        )
                    )
    start = document.data.get("start")
    entries = (
        [entry for entry in start if isinstance(entry, str) and entry in known]
        if isinstance(start, list)
        else [task for task in names if task not in inbound]
    )
    graph = GraphView(name=name, version=0, nodes=nodes, edges=edges, entries=entries, mermaid="")
    lines = sorted((document.source_map.key_position(("tasks", task)).line, task) for task in names)
    return Sketch(
        graph,
        tuple(line for line, _ in lines),
        tuple(task for _, task in lines),
        _end_of_tasks(document),
    )


def _node(task: str, raw: dict[str, Any]) -> GraphNode:
    def text(value: Any) -> str | None:
        return None if value is None else str(value)[:_NAME_CHARS]

    if raw.get("join") is not None:
        join = raw["join"]
        counted = isinstance(join, int) and not isinstance(join, bool)
        return GraphNode(id=task, kind="join", join=join if join == "all" or counted else None)
    if raw.get("workflow") is not None:
        return GraphNode(id=task, kind="workflow", workflow=text(raw["workflow"]))
    if raw.get("action") is not None:
        return GraphNode(id=task, kind="action", action=text(raw["action"]))
    return GraphNode(id=task, kind="passthrough")


def _end_of_tasks(document: YamlDocument) -> int | None:
    """The line of the first top-level key after `tasks` (the mapping ends before it)."""
    here = document.source_map.key_position(("tasks",)).line
    later = [
        line
        for key in document.data
        if isinstance(key, str) and (line := document.source_map.key_position((key,)).line) > here
    ]
    return min(later) if later else None


def tasks_of(found: Sketch | None, diagnostics: Iterable[Diagnostic]) -> list[str | None]:
    """The task each finding falls in (None: outside every task, or no sketch)."""
    return [
        found.task_at(d.position.line if d.position else None) if found else None
        for d in diagnostics
    ]
