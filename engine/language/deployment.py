"""The checks that depend on where a workflow will run: the installed actions and the
workflows a `workflow:` task can start. `segue validate` and `POST /workflows` run these
same checks; each says what it knows and what it cannot check (as notes)."""

from __future__ import annotations

from collections.abc import Container, Iterator
from dataclasses import dataclass
from typing import Protocol

from engine.diagnostics import Category, Diagnostic, Severity
from engine.expressions.template import Literal, Template
from engine.language.spec import TaskSpec, WorkflowSpec
from engine.language.wording import clip, listing
from engine.language.yaml_source import SourceMap


class ActionNames(Protocol):
    """What the checks need of an action catalog (`engine.actions.ActionCatalog` is one)."""

    def __contains__(self, name: object) -> bool: ...

    def suggest(self, name: str, limit: int = 3) -> list[str]: ...

    def runs_in_workflow(self, name: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class ChildWorkflows:
    """The workflows a `workflow:` task can start, as far as they are known here."""

    names: Container[str]
    missing: str  # how a finding says that a name is not among them
    note: str | None = None  # what this lookup cannot know, said whenever it is used


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where a workflow is checked for: its actions, and its child workflows if known."""

    actions: ActionNames
    workflows: ChildWorkflows | None = None  # None: only a server knows them

    def check(
        self, spec: WorkflowSpec, source_map: SourceMap
    ) -> tuple[list[Diagnostic], list[str]]:
        """Findings about literal action and workflow names, and notes on what is unchecked.
        Names computed by an expression are known only at run time."""
        findings = list(self._unknown_actions(spec, source_map))
        children: dict[str, TaskSpec] = {}
        for task in spec.tasks.values():
            child = _literal(task.workflow)
            if child is not None and child != spec.name:  # a workflow may start itself
                children.setdefault(child, task)
        notes: list[str] = []
        if children and self.workflows is None:
            notes.append(
                f"child workflows not checked ({listing(sorted(children))}): the registered "
                "workflows are known only to a server"
            )
        elif children and self.workflows is not None:
            for name, task in children.items():
                if name not in self.workflows.names:
                    findings.append(
                        Diagnostic(
                            source_map.key_position(("tasks", task.name, "workflow")),
                            Category.REFERENCE,
                            f"task {clip(task.name)!r}: workflow {clip(name)!r} "
                            f"{self.workflows.missing}",
                            Severity.WARNING,
                        )
                    )
            if self.workflows.note:
                notes.append(self.workflows.note)
        return findings, notes

    def _unknown_actions(self, spec: WorkflowSpec, source_map: SourceMap) -> Iterator[Diagnostic]:
        for task in spec.tasks.values():
            action = _literal(task.action)
            if action is None:
                continue
            if action in self.actions:
                if task.run is not None and self.actions.runs_in_workflow(action):
                    yield Diagnostic(
                        source_map.key_position(("tasks", task.name, "run")),
                        Category.SCHEMA,
                        f"task {clip(task.name)!r}: {clip(action)} runs in the workflow itself; "
                        f"`run: {task.run}` cannot move it (leave `run` out)",
                    )
                continue
            suggestions = self.actions.suggest(action)
            hint = f"; did you mean {', '.join(map(repr, suggestions))}?" if suggestions else ""
            yield Diagnostic(
                source_map.key_position(("tasks", task.name, "action")),
                Category.REFERENCE,
                f"task {clip(task.name)!r}: unknown action {clip(action)!r} (not installed "
                f"here){hint}",
            )


def _literal(template: Template | None) -> str | None:
    """A name written as is; None for an expression (or no name)."""
    if isinstance(template, Literal) and isinstance(template.value, str):
        return template.value
    return None
