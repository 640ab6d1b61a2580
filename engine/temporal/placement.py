"""Where the interpreter carries out a dispatched action, read from the action's declared
`Placement` (engine/actions): in the workflow, as a local activity, or as an activity.

Workflow-placed actions either run their handler inline here (`core.noop`, `core.echo`,
`core.fail`: the same `invoke_inline` that `segue simulate` uses) or have a durable form
the interpreter provides (`core.sleep` is a timer, the waits wait for a signal).

Local activities (behaviour OBSERVED, 3): an action the run's start input lists as local
(`InterpreterInput.local_actions`, from the starter's catalog) runs as one when its
task's `timeout` is at most LOCAL_ACTIVITY_MAX_SECONDS (other work keeps what an
activity gives); a task's `run: local|activity` decides instead. Runs that
started on an older behaviour schedule ordinary activities as they always did.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Final

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.actions.api import ActionContext, ActionError, Placement
    from engine.actions.builtin import WAITS, workflow_actions
    from engine.actions.invoke import invoke_inline
    from engine.coordinator import ActionFailed, ActionSucceeded, DispatchAction, ErrorInfo, Event
    from engine.coordinator.behaviour import Behaviour
    from engine.language.spec import TaskRun

# A declared local action runs as one only when its task's `timeout` says its attempts
# end within this (Temporal's workflow task timeout); otherwise as an activity. While a
# local attempt runs, the run takes in no other event (its timeout, a cancel, an
# answer) until the attempt ends, and a lost worker means the attempt starts again:
# that suits only short work.
LOCAL_ACTIVITY_MAX_SECONDS: Final = 10.0

# What behaviour 1 ran in the workflow, everywhere and outside with-items; anything else
# placed in the workflow ran as an activity then.
_PREVIOUSLY_IN_WORKFLOW: Final = frozenset({"core.noop", "core.echo", "core.sleep"})
_PREVIOUSLY_OUTSIDE_ITEMS: Final = WAITS


def placement_of(
    command: DispatchAction,
    behaviour: Behaviour,
    local_actions: Container[str] = frozenset(),
    task_run: TaskRun | None = None,
) -> Placement:
    """Where this dispatch runs: its action's declared placement (and its task's `run`),
    except in a run that started before that placement was honoured."""
    if command.action not in workflow_actions():
        if behaviour < Behaviour.OBSERVED:
            return Placement.ACTIVITY
        if task_run is not None:
            return Placement.LOCAL_ACTIVITY if task_run == "local" else Placement.ACTIVITY
        limit = command.timeout_seconds
        short = limit is not None and limit <= LOCAL_ACTIVITY_MAX_SECONDS
        return (
            Placement.LOCAL_ACTIVITY
            if command.action in local_actions and short
            else (Placement.ACTIVITY)
        )
    if command.action in _PREVIOUSLY_IN_WORKFLOW or (
        command.item is None and command.action in _PREVIOUSLY_OUTSIDE_ITEMS
    ):
        return Placement.WORKFLOW
    return Placement.ACTIVITY if behaviour is Behaviour.ORIGINAL else Placement.WORKFLOW


def unmovable(command: DispatchAction, task_run: TaskRun | None) -> ErrorInfo | None:
    """Why a task's `run` cannot apply to this dispatch (an action carried out by the
    workflow itself), or None. Validation refuses a literal name; this catches a name
    computed at run time."""
    if task_run is None or command.action not in workflow_actions():
        return None
    return ErrorInfo(
        "invalid_placement",
        f"{command.action} runs in the workflow; `run: {task_run}` cannot move it",
    )


def run_inline(command: DispatchAction, run_id: str, workflow_name: str, now_ms: int) -> Event:
    """Carry out a workflow-placed action that has no durable form: its outcome at once."""
    definition = workflow_actions()[command.action]
    ref = command.execution
    context = ActionContext(
        run_id=run_id,
        workflow=workflow_name,
        task=ref.task,
        iteration=ref.iteration,
        route=ref.route,
        attempt=command.attempt,
        item=command.item,
    )
    try:
        result = invoke_inline(definition, command.input, context)
    except ActionError as error:
        info = ErrorInfo(error.type, error.message, error.details)
        return ActionFailed(now_ms, ref.id, command.attempt, info, None, command.item)
    return ActionSucceeded(now_ms, ref.id, command.attempt, result, command.item)
