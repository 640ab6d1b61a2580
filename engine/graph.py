"""Graph facts of a workflow version, computed once and read on every event.

The coordinator never walks the graph at run time: inbound sources, join thresholds,
split tasks, cycle membership and entry tasks are all looked up here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.language.spec import ENGINE_COMMANDS, WorkflowSpec


@dataclass(frozen=True, slots=True)
class WorkflowGraph:
    edges: Mapping[str, tuple[str, ...]]  # task -> targets over all transitions (with repeats)
    inbound_sources: Mapping[str, frozenset[str]]  # task -> distinct tasks that lead to it
    inbound_edges: Mapping[str, int]  # task -> number of transition targets naming it
    entries: tuple[str, ...]
    in_cycle: frozenset[str]
    reachable: frozenset[str]
    join_threshold: Mapping[str, int]  # join task -> distinct sources needed to fire
    splits: frozenset[str]  # tasks that start a new route on every arrival
    repeatable: frozenset[str]  # tasks that may start more than once in a run

    def is_join(self, task: str) -> bool:
        return task in self.join_threshold


def build_graph(spec: WorkflowSpec) -> WorkflowGraph:
    """Compute the graph facts of a workflow (tolerates undefined targets: they are skipped)."""
    names = list(spec.tasks)
    edges: dict[str, tuple[str, ...]] = {}
    inbound: dict[str, set[str]] = {name: set() for name in names}
    inbound_edges: dict[str, int] = dict.fromkeys(names, 0)
    for name, task in spec.tasks.items():
        targets = tuple(
            target
            for transition in task.next
            for target in transition.do
            if target not in ENGINE_COMMANDS and target in spec.tasks
        )
        edges[name] = targets
        for target in targets:
            inbound[target].add(name)
            inbound_edges[target] += 1

    if spec.start is not None:
        entries = tuple(name for name in spec.start if name in spec.tasks)
    else:
        entries = tuple(name for name in names if not inbound[name])

    in_cycle = _tasks_in_cycles(names, edges)
    join_threshold: dict[str, int] = {}
    for name, task in spec.tasks.items():
        if task.join == "all":
            join_threshold[name] = len(inbound[name])
        elif isinstance(task.join, int):
            join_threshold[name] = task.join
    splits = frozenset(
        name
        for name in names
        if name not in join_threshold and inbound_edges[name] > 1 and name not in in_cycle
    )
    # A task can start more than once only if it sits in a cycle, can be reached by more
    # than one arrival, or lies downstream of such a task; every other task starts at
    # most once, so the coordinator keeps no iteration counter for it.
    seeds = set(in_cycle) | {name for name in names if inbound_edges[name] > 1}
    seeds |= {name for name in entries if inbound_edges[name] > 0}
    return WorkflowGraph(
        edges=edges,
        inbound_sources={name: frozenset(sources) for name, sources in inbound.items()},
        inbound_edges=inbound_edges,
        entries=entries,
        in_cycle=in_cycle,
        reachable=frozenset(_reach(entries, edges)),
        join_threshold=join_threshold,
        splits=splits,
        repeatable=frozenset(_reach(seeds, edges)),
    )


def _reach(starts: Iterable[str], edges: Mapping[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(edges.get(name, ()))
    return seen


def _tasks_in_cycles(names: list[str], edges: Mapping[str, tuple[str, ...]]) -> frozenset[str]:
    """Tasks in a strongly connected component with a cycle (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: set[str] = set()
    counter = 0
    for root in names:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges.get(node, ())
            if child < len(targets):
                work.append((node, child + 1))
                target = targets[child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    result.update(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return frozenset(result)
