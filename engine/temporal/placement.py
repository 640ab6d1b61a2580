"""Where the interpreter carries out a dispatched action, read from the action's declared
`Placement` (engine/actions): in the workflow, or as an activity.

Workflow-placed actions either run their handler inline here (`core.noop`, `core.echo`,
`core.fail`: the same `invoke_inline` that `segue simulate` uses) or have a durable form
the interpreter provides (`core.sleep` is a timer, the waits wait for a signal).
"""

from __future__ import annotations

from typing import Final

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.actions.api import ActionContext, ActionError, Placement
    from engine.actions.builtin import WAITS, workflow_actions
    from engine.actions.invoke import invoke_inline
    from engine.coordinator import ActionFailed, ActionSucceeded, DispatchAction, ErrorInfo, Event
    from engine.coordinator.behaviour import Behaviour

# What behaviour 1 ran in the workflow, everywhere and outside with-items; anything else
# placed in the workflow ran as an activity then.
_PREVIOUSLY_IN_WORKFLOW: Final = frozenset({"core.noop", "core.echo", "core.sleep"})
_PREVIOUSLY_OUTSIDE_ITEMS: Final = WAITS


def placement_of(command: DispatchAction, behaviour: Behaviour) -> Placement:
    """Where this dispatch runs: its action's declared placement, except in a run that
    started on behaviour 1, before that placement was honoured."""
    if command.action not in workflow_actions():
        return Placement.ACTIVITY
    if command.action in _PREVIOUSLY_IN_WORKFLOW or (
        command.item is None and command.action in _PREVIOUSLY_OUTSIDE_ITEMS
    ):
        return Placement.WORKFLOW
    return Placement.ACTIVITY if behaviour is Behaviour.ORIGINAL else Placement.WORKFLOW


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
