"""A workflow version's task graph for clients: nodes, edges, entries, and Mermaid text."""

from __future__ import annotations

from typing import Final, Literal

from api.validation import template_text
from api.wire import GraphEdge, GraphNode, GraphTransition, GraphView
from engine.graph import build_graph
from engine.language.spec import TaskSpec, WorkflowSpec

NodeKind = Literal["action", "passthrough", "join", "workflow"]
_LABEL_LIMIT: Final = 60
# Mermaid entity codes for the characters that would end or confuse a quoted label.
_ESCAPES: Final = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "\n": " "}


def graph_view(spec: WorkflowSpec, name: str, version: int) -> GraphView:
    """The graph of a compiled workflow version."""
    facts = build_graph(spec)
    entries = list(facts.entries)
    nodes = [
        _node(task, entry=task.name in entries, cycle=task.name in facts.in_cycle)
        for task in spec.tasks.values()
    ]
    edges = [
        GraphEdge(
            from_=task.name,
            to=target,
            transition=transition.index,
            when=transition.when.source if transition.when is not None else None,
        )
        for task in spec.tasks.values()
        for transition in task.next
        for target in transition.targets
        if target in spec.tasks
    ]
    view = GraphView(
        name=name, version=version, nodes=nodes, edges=edges, entries=entries, mermaid=""
    )
    view.mermaid = mermaid(view)
    return view


def _node(task: TaskSpec, *, entry: bool, cycle: bool) -> GraphNode:
    kind: NodeKind
    if task.join is not None:
        kind = "join"
    elif task.workflow is not None:
        kind = "workflow"
    elif task.action is not None:
        kind = "action"
    else:
        kind = "passthrough"
    return GraphNode(
        id=task.name,
        kind=kind,
        join=task.join,
        action=template_text(task.action),
        workflow=template_text(task.workflow),
        entry=entry,
        cycle=cycle,
        next=[
            GraphTransition(
                transition=transition.index,
                when=transition.when.source if transition.when is not None else None,
                do=list(transition.do),
            )
            for transition in task.next
        ],
    )


def mermaid(view: GraphView) -> str:
    """`flowchart TD` text; node ids are n0, n1… (task names may clash with keywords)."""
    ids = {node.id: f"n{index}" for index, node in enumerate(view.nodes)}
    lines = ["flowchart TD"]
    for node in view.nodes:
        lines.append(f"    {ids[node.id]}{_shape(node)}")
    for entry in view.entries:
        lines.append(f"    start((start)) --> {ids[entry]}")
    for edge in view.edges:
        label = f'|"{_escape(clip_label(edge.when))}"|' if edge.when else ""
        lines.append(f"    {ids[edge.from_]} -->{label} {ids[edge.to]}")
    cyclic = [ids[node.id] for node in view.nodes if node.cycle]
    if cyclic:  # tasks that may run again: a dashed outline
        lines.append("    classDef cycle stroke-dasharray: 5 3")
        lines.append(f"    class {','.join(cyclic)} cycle")
    return "\n".join(lines) + "\n"


def _shape(node: GraphNode) -> str:
    label = _escape(node.id)
    if node.kind == "action" and node.action:
        return f'["{label}<br/><small>{_escape(clip_label(node.action))}</small>"]'
    if node.kind == "workflow":
        return (
            f'[["{label}<br/><small>workflow {_escape(clip_label(node.workflow or ""))}</small>"]]'
        )
    if node.kind == "join":
        return f'{{{{"{label}<br/><small>join {node.join}</small>"}}}}'
    return f'(["{label}"])'


def clip_label(text: str | None) -> str:
    """A label cut to what a drawing can hold (the JSON keeps the whole text)."""
    text = text or ""
    return text if len(text) <= _LABEL_LIMIT else text[: _LABEL_LIMIT - 1] + "…"


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(character, character) for character in text)
