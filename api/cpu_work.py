"""The request work `api.cpu_pool` runs in its worker processes: checking a workflow
file for registration, and validating a run input against its workflow's schema.

Arguments and results cross a process boundary, so they are plain data: action names
rather than the catalog, registered workflow names rather than the store, diagnostics
and the content hash rather than the compiled spec.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from api import validation
from engine.actions.catalog import suggest_action
from engine.coordinator.program import InputProblem, WorkflowProgram
from engine.diagnostics import Diagnostic
from engine.language.loader import load_workflow


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


def check_for_registration(
    body: bytes, name: str, actions: ActionNameSet, registered: frozenset[str]
) -> RegistrationCheck:
    """All findings at once, as `segue validate` makes them (see api.validation)."""
    result = validation.check_for_registration(body, name, actions, registered)
    content_hash = result.spec.content_hash if result.spec is not None else None
    return RegistrationCheck(content_hash, result.errors, result.warnings)


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
