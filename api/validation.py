"""Checking a workflow for registration: the language's own checks, plus the ones that
depend on this deployment (the installed actions)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from api.wire import DiagnosticView
from engine.actions.catalog import ActionCatalog
from engine.diagnostics import Category, Diagnostic, Severity
from engine.expressions.template import Literal, Template
from engine.language.loader import LoadResult, check_workflow
from engine.language.spec import WorkflowSpec
from engine.language.yaml_source import parse_yaml

# Workflow names follow the rule of task names (LANGUAGE.md §1), with a length cap.
WORKFLOW_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")


def check_for_registration(body: bytes, name: str, catalog: ActionCatalog) -> LoadResult:
    """All findings at once: the loader's, and unknown literal action names (at the
    position of their `action` key). Pure CPU work: run it off the event loop."""
    source = f"{name}.yaml"
    result = check_workflow(body, source, name)
    diagnostics = [*result.diagnostics, *unknown_actions(body, source, catalog)]
    diagnostics.sort(key=_place)
    has_errors = any(d.severity is Severity.ERROR for d in diagnostics)
    return LoadResult(None if has_errors else result.spec, diagnostics)


def unknown_actions(body: bytes, source: str, catalog: ActionCatalog) -> list[Diagnostic]:
    """A finding for each task whose `action` is a literal name the catalog lacks."""
    document, _ = parse_yaml(body, source)
    if document is None:
        return []  # the loader reports why
    tasks = document.data.get("tasks")
    if not isinstance(tasks, dict):
        return []
    found: list[Diagnostic] = []
    for task, raw in tasks.items():
        action = raw.get("action") if isinstance(raw, dict) else None
        if not isinstance(action, str) or "<%" in action or action in catalog:
            continue  # expressions are resolved at run time
        suggestions = catalog.suggest(action)
        hint = f"; did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        found.append(
            Diagnostic(
                document.source_map.key_position(("tasks", task, "action")),
                Category.REFERENCE,
                f"task {task!r}: unknown action {action!r} (not installed here){hint}",
            )
        )
    return found


def child_workflow_names(spec: WorkflowSpec) -> dict[str, Diagnostic]:
    """Literal `workflow:` names of the spec -> a warning to show if it is not registered."""
    names: dict[str, Diagnostic] = {}
    for task in spec.tasks.values():
        literal = _literal(task.workflow)
        if isinstance(literal, str) and literal != spec.name:
            names.setdefault(
                literal,
                Diagnostic(
                    task.position,
                    Category.REFERENCE,
                    f"task {task.name!r}: workflow {literal!r} is not registered (yet)",
                    Severity.WARNING,
                ),
            )
    return names


def template_text(template: Template | None) -> str | None:
    """A literal name as is, a computed one as its expression text (`<% … %>`)."""
    if template is None:
        return None
    literal = _literal(template)
    if literal is not None:
        return str(literal)
    sources = [expression.source for expression in template.expressions()]
    return f"<% {sources[0]} %>" if sources else None


def _literal(template: Template | None) -> Any:
    return template.value if isinstance(template, Literal) else None


def diagnostic_views(diagnostics: Iterable[Diagnostic]) -> list[DiagnosticView]:
    return [
        DiagnosticView(
            file=d.position.file if d.position else None,
            line=d.position.line if d.position else None,
            column=d.position.column if d.position else None,
            category=str(d.category),
            message=d.message,
            severity=str(d.severity),
        )
        for d in diagnostics
    ]


def _place(diagnostic: Diagnostic) -> tuple[int, int]:
    position = diagnostic.position
    return (position.line, position.column) if position else (0, 0)
