"""A workflow graph (`api.graph.graph_view`, the model `GET /workflows/{name}/graph`
serves) drawn for a terminal, and as Graphviz DOT text."""

from __future__ import annotations

from typing import Final

from api.graph import clip_label
from api.wire import GraphEdge, GraphNode, GraphView

CYCLE_MARK: Final = "↻"  # marks a task on a cycle: it may run more than once in a run


def terminal_text(view: GraphView, source: str | None = None) -> str:
    """Each task in file order with what it runs, then its transitions: `when` and targets.

    `source` names the file the graph was compiled from (else it is the registered
    version). A transition's number is its index in the task's `next` (as in the JSON);
    a task with no transitions ends a path, and `continue` is a transition that names
    nothing. Long expressions are clipped."""
    inbound = _sources_of(view.edges)
    cyclic = [node.id for node in view.nodes if node.cycle]
    where = f"({source})" if source else f"v{view.version}"
    lines = [f"workflow {view.name} {where}: {_count(len(view.nodes), 'task')}"]
    lines.append(f"  start → {', '.join(view.entries) or '(no entry task)'}")
    if cyclic:
        lines.append(f"  {CYCLE_MARK} on a cycle (may run again): {', '.join(cyclic)}")
    order = {node.id: index for index, node in enumerate(view.nodes)}
    on_cycle = set(cyclic)
    for node in view.nodes:
        lines.append("")
        lines.append(f"{node.id}  {_what(node, inbound.get(node.id, 0))}".rstrip())
        if not node.next:
            lines.append("  (ends a path)")
        for transition in node.next:
            targets = ", ".join(
                # A transition back to an earlier task on a cycle: where the cycle turns.
                f"{target} {CYCLE_MARK}"
                if target in on_cycle and order[target] <= order[node.id]
                else target
                for target in transition.do
            )
            when = transition.when
            condition = f"when {clip_label(' '.join(when.split()))}" if when else "always"
            lines.append(f"  [{transition.transition}] {condition} → {targets or 'continue'}")
    return "\n".join(lines) + "\n"


def dot_text(view: GraphView) -> str:
    """A `digraph` for Graphviz: node ids n0, n1… (task names are labels); joins are
    hexagons, child workflows double boxes, tasks on a cycle bold."""
    ids = {node.id: f"n{index}" for index, node in enumerate(view.nodes)}
    inbound = _sources_of(view.edges)
    lines = [
        f"digraph {_quoted(view.name)} {{",
        "  node [shape=box, style=rounded];",
        '  start [shape=circle, label="start"];',
    ]
    for node in view.nodes:
        label = f"{node.id}\n{_what(node, inbound.get(node.id, 0))}".rstrip()
        attributes = [f"label={_quoted(label)}"]
        if node.kind == "join":
            attributes.append("shape=hexagon")
        elif node.kind == "workflow":
            attributes.append("peripheries=2")
        if node.cycle:
            attributes.append('style="rounded,bold"')
        lines.append(f"  {ids[node.id]} [{', '.join(attributes)}];")
    for entry in view.entries:
        lines.append(f"  start -> {ids[entry]};")
    for edge in view.edges:
        label = f" [label={_quoted(clip_label(edge.when))}]" if edge.when else ""
        lines.append(f"  {ids[edge.from_]} -> {ids[edge.to]}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _sources_of(edges: list[GraphEdge]) -> dict[str, int]:
    """Task -> how many distinct tasks lead to it."""
    sources: dict[str, set[str]] = {}
    for edge in edges:
        sources.setdefault(edge.to, set()).add(edge.from_)
    return {task: len(found) for task, found in sources.items()}


def _what(node: GraphNode, sources: int) -> str:
    mark = f" {CYCLE_MARK}" if node.cycle else ""
    if node.kind == "join":
        need = "all" if node.join == "all" else str(node.join)
        return f"join {need} of {_count(sources, 'source')}{mark}"
    if node.kind == "workflow":
        return f"workflow {clip_label(node.workflow)}{mark}"
    if node.kind == "action":
        return f"action {clip_label(node.action)}{mark}"
    return f"(no action){mark}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _quoted(text: str) -> str:
    """A DOT string: backslashes and quotes escaped, line breaks as DOT's `\\n`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'
