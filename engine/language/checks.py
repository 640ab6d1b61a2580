"""Semantic checks of a built workflow: names, references, graph shape and `$ctx` reads."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Final

from engine.diagnostics import Category, Diagnostic, Position, Severity
from engine.expressions import Condition, Template
from engine.expressions.template import ListTemplate, Literal, MappingTemplate
from engine.graph import WorkflowGraph, build_graph
from engine.language.salvage import Damage
from engine.language.spec import (
    ENGINE_COMMANDS,
    RESERVED_NAMES,
    RetrySpec,
    TaskSpec,
    WorkflowSpec,
)
from engine.language.wording import Path, Suggester, clip, listing, subject
from engine.language.yaml_source import SourceMap

TASK_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# `$ctx.name` or `` $ctx.`odd name` `` (JSONata allows spaces around the dot).
_CTX_READ: Final = re.compile(r"\$ctx\s*\.\s*(?:([A-Za-z_][A-Za-z0-9_]*)|`([^`]+)`)")
# A read that tests for the variable itself is how authors write defaults (LANGUAGE.md §2).
_GUARD_AFTER: Final = re.compile(r"\s*\?")
_GUARD_BEFORE: Final = re.compile(r"\$exists\(\s*$")


def check_spec(
    spec: WorkflowSpec,
    source_map: SourceMap,
    damage: Damage | None = None,
    *,
    context_reads: bool = True,
) -> list[Diagnostic]:
    """Every semantic problem of a workflow, each at its place in the file. With `damage`
    (the spec was built from the readable part of a document that breaks the schema), the
    checks that the unreadable parts could mislead are left out. Without `context_reads`,
    the `$ctx` read check (warnings only, a third of the checks' time) is left out."""
    damage = damage or Damage()
    reads = not damage.context and context_reads
    graph = build_graph(spec)
    checker = _Checker(spec, graph, source_map)
    return [
        *checker.names(),
        *checker.references(),
        *checker.task_shapes(damage),
        *(() if damage.graph else checker.graph_shape()),
        *(_ContextReads(spec, source_map).warnings() if reads else ()),
    ]


class _Checker:
    def __init__(self, spec: WorkflowSpec, graph: WorkflowGraph, source_map: SourceMap) -> None:
        self.spec = spec
        self.graph = graph
        self.source_map = source_map
        self.suggest = Suggester()

    def error(self, path: Path, category: Category, message: str) -> Diagnostic:
        return Diagnostic(self.source_map.position(path), category, message)

    def key_error(self, path: Path, category: Category, message: str) -> Diagnostic:
        return Diagnostic(self.source_map.key_position(path), category, message)

    def names(self) -> Iterator[Diagnostic]:
        for name in self.spec.tasks:
            shown = clip(name)
            if name in RESERVED_NAMES:
                yield self.key_error(
                    ("tasks", name),
                    Category.NAME,
                    f"task name {shown!r} is reserved: continue, fail, noop and retry are "
                    "engine commands in `do`",
                )
            elif not TASK_NAME.fullmatch(name):
                yield self.key_error(
                    ("tasks", name),
                    Category.NAME,
                    f"invalid task name {shown!r}: a name starts with a letter or _ and holds "
                    "only letters, digits, _ and -",
                )

    def references(self) -> Iterator[Diagnostic]:
        candidates = [*self.spec.tasks, *sorted(ENGINE_COMMANDS)]
        for name, task in self.spec.tasks.items():
            for transition in task.next:
                do_path: Path = ("tasks", name, "next", transition.index, "do")
                for index, target in enumerate(transition.do):
                    if target in ENGINE_COMMANDS or target in self.spec.tasks:
                        continue
                    yield Diagnostic(
                        self.target_position(do_path, index, target),
                        Category.REFERENCE,
                        f"{subject(do_path)}: "
                        + (
                            f"no task named {clip(target)!r}{self.suggest(target, candidates)}"
                            if target
                            else "an empty name (a stray comma?)"
                        ),
                    )
        listed: set[str] = set()
        for index, entry in enumerate(self.spec.start or ()):
            if entry in listed:
                # Reported once, here: the first mention already says whether it exists.
                yield self.error(
                    ("start", index),
                    Category.GRAPH,
                    f"start: task {clip(entry)!r} is listed more than once; each entry task "
                    "starts once",
                )
            elif entry not in self.spec.tasks:
                yield self.error(
                    ("start", index),
                    Category.REFERENCE,
                    f"start: no task named {clip(entry)!r}{self.suggest(entry, self.spec.tasks)}",
                )
            listed.add(entry)

    def target_position(self, do_path: Path, index: int, target: str) -> Position:
        """The name's own node in the list form, else its place in the comma string."""
        item = self.source_map.value_position((*do_path, index))
        return item or self.source_map.fragment_position(do_path, target, 1)

    def task_shapes(self, damage: Damage) -> Iterator[Diagnostic]:
        for name, task in self.spec.tasks.items():
            if damage.skips_task(name):
                continue
            path: Path = ("tasks", name)
            if task.with_items is not None and task.is_pass_through:
                yield self.key_error(
                    (*path, "with"),
                    Category.SCHEMA,
                    f"task {clip(name)!r}: `with` needs an `action` or a `workflow` to run "
                    "once per item",
                )
            if task.run is not None and task.action is None:
                runs = "a child workflow" if task.workflow is not None else "no action"
                yield self.key_error(
                    (*path, "run"),
                    Category.SCHEMA,
                    f"task {clip(name)!r}: `run` says where an action runs, and this task "
                    f"runs {runs}",
                )
            if task.action is not None and task.workflow is not None:
                yield self.key_error(
                    (*path, "workflow"),
                    Category.SCHEMA,
                    f"task {clip(name)!r} has both `action` and `workflow`; a task runs one or "
                    "the other",
                )

    def graph_shape(self) -> Iterator[Diagnostic]:
        graph = self.graph
        if not graph.entries:
            if self.spec.start is None:
                yield self.key_error(
                    ("tasks",),
                    Category.GRAPH,
                    "no task without inbound transitions; name the entry tasks with `start:`",
                )
            return  # undefined `start` entries are reported as references
        for name, task in self.spec.tasks.items():
            if task.join is not None:
                yield from self.join(name, task)
            if name not in graph.reachable:
                # A warning, as Orquesta accepts such files: the task simply never runs.
                hint = " (add it to `start:`?)" if not graph.inbound_sources[name] else ""
                yield Diagnostic(
                    self.source_map.key_position(("tasks", name)),
                    Category.GRAPH,
                    f"task {clip(name)!r} is unreachable: no path leads to it from the entry "
                    f"tasks ({listing(graph.entries)}), so it never runs{hint}",
                    Severity.WARNING,
                )

    def join(self, name: str, task: TaskSpec) -> Iterator[Diagnostic]:
        sources = sorted(self.graph.inbound_sources[name])
        path: Path = ("tasks", name, "join")
        if len(sources) < 2:
            found = f"only {clip(sources[0])!r} leads here" if sources else "no task leads here"
            yield self.error(
                path,
                Category.GRAPH,
                f"task {clip(name)!r}: join needs at least two distinct source tasks, but {found}",
            )
        elif isinstance(task.join, int) and task.join > len(sources):
            yield self.error(
                path,
                Category.GRAPH,
                f"task {clip(name)!r}: join: {task.join} can never fire: only {len(sources)} "
                f"distinct tasks lead here ({listing(sources)})",
            )
        elif name in self.graph.reachable:
            runnable = [source for source in sources if source in self.graph.reachable]
            if self.graph.join_threshold[name] > len(runnable):
                # Reached but never complete: the run would end in `unreachable_join`.
                never = [source for source in sources if source not in self.graph.reachable]
                yield self.error(
                    path,
                    Category.GRAPH,
                    f"task {clip(name)!r}: join: {task.join} can never fire: "
                    f"{listing(never)} {'is' if len(never) == 1 else 'are'} unreachable, and "
                    f"only {len(runnable)} of its source tasks can run ({listing(runnable)})",
                )


class _ContextReads:
    """Warns about `$ctx.name` reads that no path assigns (a may-assign dataflow)."""

    def __init__(self, spec: WorkflowSpec, source_map: SourceMap) -> None:
        self.spec = spec
        self.source_map = source_map
        self.seen: set[tuple[Path, str]] = set()
        self.suggest = Suggester()

    def warnings(self) -> Iterator[Diagnostic]:
        spec = self.spec
        inputs = frozenset(spec.input_schema)
        assigned = set(inputs)
        for key, template in spec.vars:
            yield from self.reads(
                _template_sites(template, ("vars", key)),
                assigned,
                "which is neither an input nor an earlier var",
            )
            assigned.add(key)
        incoming = _incoming_names(spec, frozenset(assigned))
        everywhere: set[str] = set(assigned)
        merged: frozenset[str] | None = None  # tasks mostly share one set: merge it once
        for name, task in spec.tasks.items():
            readable = incoming[name]
            reason = _Unassigned(name)
            yield from self.reads(self.task_sites(name, task), readable, reason)
            if readable is not merged:
                everywhere |= readable
                merged = readable
            for transition in task.next:
                published = readable
                for key, template in transition.publish:
                    path = ("tasks", name, "next", transition.index, "publish", key)
                    yield from self.reads(_template_sites(template, path), published, reason)
                    if key not in published:
                        published = published | {key}
                if published is not readable:
                    everywhere |= published
        last_reason = "which is not an input or var and is published by no transition"
        if spec.output is not None:
            yield from self.reads(
                _template_sites(spec.output, ("output",)), everywhere, last_reason
            )
        yield from self.reads(_retry_sites(spec.retry, ("retry",)), everywhere, last_reason)

    def task_sites(self, name: str, task: TaskSpec) -> list[tuple[Path, str]]:
        path: Path = ("tasks", name)
        sites: list[tuple[Path, str]] = []
        for key, template in (
            ("action", task.action),
            ("workflow", task.workflow),
            ("input", task.input),
            ("timeout", task.timeout),
            ("delay", task.delay),
        ):
            _collect_sites(template, (*path, key), sites)
        if task.with_items is not None:
            # The shorthand `with: <expr>` has no `items` node of its own.
            items_path: Path = (*path, "with", "items")
            if not self.source_map.has_value(items_path):
                items_path = (*path, "with")
            _collect_sites(task.with_items.items, items_path, sites)
            _collect_sites(task.with_items.concurrency, (*path, "with", "concurrency"), sites)
        sites.extend(_retry_sites(task.retry, (*path, "retry")))
        for transition in task.next:
            if transition.when is not None:
                when_path: Path = (*path, "next", transition.index, "when")
                sites.extend(_condition_sites(transition.when, when_path))
        return sites

    def reads(
        self,
        sites: Iterable[tuple[Path, str]],
        readable: set[str] | frozenset[str],
        reason: str | _Unassigned,
    ) -> Iterator[Diagnostic]:
        for path, source in sites:
            for name, text in _unguarded_reads(source):
                if name in readable or (path, name) in self.seen:
                    continue
                self.seen.add((path, name))
                yield Diagnostic(
                    self.source_map.fragment_position(path, text, 1),
                    Category.CONTEXT,
                    f"{subject(path)} reads $ctx.{clip(name)}"
                    f"{self.suggest(name, sorted(readable))}, {reason}",
                    Severity.WARNING,
                )


class _Unassigned:
    """Why a task's read is warned about: said only for the few reads that are (a large
    workflow has thousands of tasks, and the sentence names each)."""

    __slots__ = ("task",)

    def __init__(self, task: str) -> None:
        self.task = task

    def __str__(self) -> str:
        return (
            f"but no path to task {clip(self.task)!r} assigns it; declare it in `input` or "
            "`vars`, or publish it on the way"
        )


@lru_cache(maxsize=4096)
def _unguarded_reads(source: str) -> tuple[tuple[str, str], ...]:
    """The `$ctx` names an expression reads without testing them first, each with the
    text that reads it (memoised: a workflow repeats its expressions)."""
    matches = [(match.group(1) or match.group(2), match) for match in _CTX_READ.finditer(source)]
    guarded = {name for name, match in matches if _guarded(source, match)}
    return tuple((name, match.group()) for name, match in matches if name not in guarded)


def _guarded(source: str, match: re.Match[str]) -> bool:
    """`$exists($ctx.x)` and `$ctx.x ? … : …` test the variable before use."""
    return bool(
        _GUARD_AFTER.match(source, match.end()) or _GUARD_BEFORE.search(source, 0, match.start())
    )


def _incoming_names(spec: WorkflowSpec, initial: frozenset[str]) -> dict[str, frozenset[str]]:
    """For each task, the names some path to it may have assigned (to a fixed point).

    The sets are immutable and shared: a transition that publishes nothing new passes
    its task's own set on, so a long chain holds a few sets, not one copy per task.
    """
    incoming: dict[str, frozenset[str]] = dict.fromkeys(spec.tasks, initial)
    pending = deque(spec.tasks)
    queued = set(spec.tasks)
    while pending:
        name = pending.popleft()
        queued.discard(name)
        for transition in spec.tasks[name].next:
            flowing = incoming[name]
            for key, _ in transition.publish:
                if key not in flowing:
                    flowing = flowing | {key}
            for target in transition.targets:
                known = incoming.get(target)
                if known is None or known is flowing or flowing <= known:
                    continue
                incoming[target] = flowing if known <= flowing else known | flowing
                if target not in queued:
                    queued.add(target)
                    pending.append(target)
    return incoming


def _template_sites(template: Template | None, path: Path) -> list[tuple[Path, str]]:
    """(document path, expression source) of every expression in a compiled value."""
    sites: list[tuple[Path, str]] = []
    _collect_sites(template, path, sites)
    return sites


def _collect_sites(template: Template | None, path: Path, sites: list[tuple[Path, str]]) -> None:
    # A list, not nested generators: thousands of tasks each have a few values, and most
    # are literals with nothing to read.
    if template is None or type(template) is Literal:
        return
    if isinstance(template, MappingTemplate):
        for key, value in template.items:
            _collect_sites(value, (*path, key), sites)
    elif isinstance(template, ListTemplate):
        for index, value in enumerate(template.items):
            _collect_sites(value, (*path, index), sites)
    else:
        for compiled in template.expressions():
            sites.append((path, compiled.source))


def _condition_sites(condition: Condition | None, path: Path) -> Iterator[tuple[Path, str]]:
    if condition is not None:
        for compiled in condition.expressions():
            yield path, compiled.source


def _retry_sites(retry: RetrySpec | None, path: Path) -> Iterator[tuple[Path, str]]:
    if retry is None:
        return
    for key, template in (
        ("count", retry.count),
        ("delay", retry.delay),
        ("backoff", retry.backoff),
        ("max_delay", retry.max_delay),
    ):
        yield from _template_sites(template, (*path, key))
    yield from _condition_sites(retry.when, (*path, "when"))
