"""The mocks file of `segue simulate` (ARCHITECTURE.md, "CLI"): which result each action
execution, attempt or item gets.

An attempt no entry matches gets what the engine itself would give where it can know:
a workflow-placed action that runs inline (`core.noop`, `core.echo`, `core.fail`) runs
here exactly as in the workflow; anything else (activities, `core.sleep`, the waits,
child workflows) succeeds with `null`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.actions.api import ActionContext, ActionError
from engine.actions.builtin import HOST_FORMS, workflow_actions
from engine.actions.invoke import invoke_inline
from engine.coordinator import ErrorInfo
from engine.graph import build_graph
from engine.language.spec import WorkflowSpec
from engine.language.wording import clip, did_you_mean, nearest

_KEYS = frozenset({"task", "status", "result", "error", "iteration", "item", "times"})
_STATUSES = frozenset({"succeeded", "failed", "running"})


class MockError(ValueError):
    """The mocks file is not a list of valid entries."""


@dataclass(slots=True)
class MockEntry:
    task: str
    status: str = "succeeded"
    result: Any = None
    error: ErrorInfo | None = None
    iteration: int | None = None
    item: int | None = None
    times: int | None = None  # uses left; None = unlimited

    def matches(self, task: str, iteration: int, item: int | None) -> bool:
        return (
            self.task == task
            and (self.iteration is None or self.iteration == iteration)
            and (self.item is None or self.item == item)
            and (self.times is None or self.times > 0)
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # succeeded, failed or running
    result: Any = None
    error: ErrorInfo | None = None


def _error(raw: Any, where: str) -> ErrorInfo | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return ErrorInfo("failed", raw)
    if isinstance(raw, dict) and isinstance(raw.get("message", ""), str):
        return ErrorInfo(
            str(raw.get("type", "failed")),
            str(raw.get("message", "mocked failure")),
            raw.get("details"),
        )
    raise MockError(f"{where}: error must be a string or {{type, message, details}}")


def _count(raw: Any, name: str, where: str, minimum: int) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
        raise MockError(f"{where}: {name} must be an integer >= {minimum}, got {raw!r}")
    return raw


def parse_mocks(data: Any) -> list[MockEntry]:
    """Validate the loaded mocks document (a list of entries)."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise MockError("the mocks file must hold a list of entries")
    entries: list[MockEntry] = []
    for index, raw in enumerate(data):
        where = f"mock entry {index + 1}"
        if not isinstance(raw, dict):
            raise MockError(f"{where}: must be a mapping")
        unknown = set(raw) - _KEYS
        if unknown:
            raise MockError(f"{where}: unknown keys {sorted(unknown)}")
        task = raw.get("task")
        if not isinstance(task, str) or not task:
            raise MockError(f"{where}: task must be a task name")
        status = raw.get("status", "succeeded")
        if status not in _STATUSES:
            raise MockError(f"{where}: status must be one of {sorted(_STATUSES)}")
        entries.append(
            MockEntry(
                task=task,
                status=status,
                result=raw.get("result"),
                error=_error(raw.get("error"), where),
                iteration=_count(raw.get("iteration"), "iteration", where, 1),
                item=_count(raw.get("item"), "item", where, 0),
                times=_count(raw.get("times"), "times", where, 1),
            )
        )
    return entries


class MockBook:
    """Answers each dispatched attempt from the entries, first match in file order."""

    def __init__(self, entries: list[MockEntry]) -> None:
        self.entries = entries

    def next_wave(self) -> None:
        """The simulator starts a wave of completions (engine/simulator/arrivals.py
        notes which attempts complete together)."""

    def outcome(
        self, task: str, iteration: int, item: int | None, action: str, input: Any
    ) -> Outcome:
        for entry in self.entries:
            if entry.matches(task, iteration, item):
                if entry.times is not None:
                    entry.times -= 1
                error = entry.error
                if entry.status == "failed" and error is None:
                    error = ErrorInfo("failed", "mocked failure")
                return Outcome(entry.status, entry.result, error)
        return _unmocked(task, iteration, item, action, input)


def computed_here(action: str) -> bool:
    """Whether an unmocked attempt of this action is computed exactly as the workflow
    computes it (an inline workflow action), rather than given `null`."""
    return action in workflow_actions() and action not in HOST_FORMS


def _unmocked(task: str, iteration: int, item: int | None, action: str, input: Any) -> Outcome:
    definition = workflow_actions().get(action)
    if definition is None or not computed_here(action):
        return Outcome("succeeded", None)
    context = ActionContext(
        run_id="simulation", workflow="", task=task, iteration=iteration, item=item
    )
    try:
        return Outcome("succeeded", invoke_inline(definition, input, context))
    except ActionError as error:
        return Outcome("failed", None, ErrorInfo(error.type, error.message, error.details))


def unknown_mock_tasks(entries: list[MockEntry], spec: WorkflowSpec) -> list[str]:
    """A warning for each entry that names no task of the workflow (it can never match)."""
    return [
        f"mock entry {number}: the workflow has no task named {clip(entry.task)!r}"
        f"{did_you_mean(nearest(entry.task, spec.tasks))}; the entry is never used"
        for number, entry in enumerate(entries, start=1)
        if entry.task not in spec.tasks
    ]


def unmocked_tasks(entries: list[MockEntry], spec: WorkflowSpec) -> list[str]:
    """Tasks that could run and dispatch an action or a child workflow, but no entry names.
    Pass-through tasks dispatch nothing and need no mock."""
    mocked = {entry.task for entry in entries}
    reachable = build_graph(spec).reachable
    return [
        name
        for name, task in spec.tasks.items()
        if name in reachable and not task.is_pass_through and name not in mocked
    ]
