"""The request work `api.cpu_pool` runs in its worker processes: checking a workflow
file for registration, and validating a run input against its workflow's schema.

Arguments and results cross a process boundary, so they are plain data: action names
rather than the catalog, registered workflow names rather than the store, diagnostics
and the content hash rather than the compiled spec (which registration gets in its
compact form: engine/language/compact.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

from api import validation
from api.sketch import sketch, tasks_of
from api.wire import GraphView
from engine.action_names import suggest_action
from engine.coordinator.program import InputProblem, WorkflowProgram
from engine.diagnostics import Category, Diagnostic
from engine.language.compact import form_of
from engine.language.loader import load_workflow
from engine.language.schedules import schedule_to_json
from engine.language.spec import WorkflowSpec


@dataclass(frozen=True, slots=True)
class ActionNameSet:
    """The installed action names, as the deployment checks need them."""

    names: tuple[str, ...]
    in_workflow: frozenset[str] = frozenset()  # carried out by the workflow itself

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        return suggest_action(name, list(self.names), limit)

    def runs_in_workflow(self, name: str) -> bool:
        return name in self.in_workflow


@dataclass(frozen=True, slots=True)
class RegistrationCheck:
    """What registration needs of a check: the findings, and the hash when valid."""

    content_hash: str | None
    errors: list[Diagnostic]
    warnings: list[Diagnostic]
    # The declared schedules (engine/language/schedules.py `schedule_to_json`), by name.
    schedules: dict[str, dict[str, Any]] | None = None
    # For `POST /workflows/validate` (api/sketch.py): the file's task graph as written, and
    # the task each error and warning falls in.
    graph: GraphView | None = None
    error_tasks: tuple[str | None, ...] = ()
    warning_tasks: tuple[str | None, ...] = ()
    # The compiled spec's compact form, stored beside the YAML for workers to load.
    compiled: bytes | None = None


def check_for_registration(
    body: bytes,
    name: str,
    actions: ActionNameSet,
    registered: frozenset[str],
    compiled: bool = True,
) -> RegistrationCheck:
    """All findings at once, as `segue validate` makes them (see api.validation), and
    each schedule's input checked against the input schema (a schedule that could only
    start runs that fail on their input is refused here, not found out at its first run)."""
    result = validation.check_for_registration(body, name, actions, registered)
    if result.spec is None:
        return RegistrationCheck(None, result.errors, result.warnings)
    errors = list(_schedule_input_problems(result.spec))
    if errors:
        return RegistrationCheck(None, errors, result.warnings)
    schedules = {spec.name: schedule_to_json(spec) for spec in result.spec.schedules}
    return RegistrationCheck(
        result.spec.content_hash,
        [],
        result.warnings,
        schedules,
        compiled=form_of(result.spec) if compiled else None,
    )


def check_for_validation(
    body: bytes, name: str, actions: ActionNameSet, registered: frozenset[str]
) -> RegistrationCheck:
    """The registration checks, with the sketch of the file's graph and each finding's
    task, so a page can mark the tasks a finding is about."""
    checked = check_for_registration(body, name, actions, registered, compiled=False)
    found = sketch(body, name)
    return replace(
        checked,
        graph=found.graph if found else None,
        error_tasks=tuple(tasks_of(found, checked.errors)),
        warning_tasks=tuple(tasks_of(found, checked.warnings)),
    )


def _schedule_input_problems(spec: WorkflowSpec) -> list[Diagnostic]:
    if not spec.schedules:
        return []
    program = WorkflowProgram(spec)
    return [
        Diagnostic(
            None,
            Category.SCHEDULE,
            f"schedules.{schedule.name}.input{problem.path if problem.path != '/' else ''}: "
            f"{problem.reason} (the input schema of this workflow)",
        )
        for schedule in spec.schedules
        for problem in program.prepare_input(schedule.input)[1]
    ]


def prepare_input(
    name: str, yaml: str, content_hash: str, given: Any
) -> tuple[dict[str, Any], list[InputProblem]]:
    """The run input with defaults applied, and every violation of its schema."""
    return _program(name, yaml, content_hash).prepare_input(given)


@functools.lru_cache(maxsize=64)
def _program(name: str, yaml: str, content_hash: str) -> WorkflowProgram:
    # Keyed by the hash too: one name has many versions, each compiled once per process.
    return WorkflowProgram(load_workflow(yaml, f"{name}.yaml", name=name))


def warm_up() -> None:
    """Nothing: importing this module in a worker process is the point."""
