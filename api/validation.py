"""Checking a workflow for registration: the language's own checks, plus the ones that
depend on this deployment (installed actions, registered workflows), shared with
`segue validate` through `engine.language.deployment`."""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from typing import Any, Final

from api.wire import DiagnosticView
from engine.diagnostics import Diagnostic
from engine.expressions.template import Literal, Template
from engine.language.deployment import ActionNames, ChildWorkflows, Deployment
from engine.language.loader import LoadResult, check_workflow

# Workflow names follow the rule of task names (LANGUAGE.md §1), with a length cap.
WORKFLOW_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")


def check_for_registration(
    body: bytes, name: str, catalog: ActionNames, registered: Container[str]
) -> LoadResult:
    """All findings at once: the loader's, unknown literal action names (errors) and
    unregistered child workflows (warnings): the checks `segue validate` makes too.
    Pure CPU work: the API runs it in `api.cpu_pool` (api/cpu_work.py)."""
    deployment = Deployment(catalog, ChildWorkflows(registered, "is not registered (yet)"))
    return check_workflow(body, f"{name}.yaml", name, deployment=deployment)


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


def diagnostic_views(
    diagnostics: Iterable[Diagnostic], tasks: Iterable[str | None] = ()
) -> list[DiagnosticView]:
    """The findings as the API shows them; `tasks`: the task each falls in, if known."""
    found = list(tasks)
    return [
        DiagnosticView(
            task=found[index] if index < len(found) else None,
            file=d.position.file if d.position else None,
            line=d.position.line if d.position else None,
            column=d.position.column if d.position else None,
            category=str(d.category),
            message=d.message,
            severity=str(d.severity),
        )
        for index, d in enumerate(diagnostics)
    ]
