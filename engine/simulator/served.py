"""Which tasks `segue simulate --temporal` must serve from the mocks book by an activity.

The simulate harness (engine/temporal/simulation.py) runs the production workflow
unchanged and serves mocked outcomes through its own implementation of the action
activity. That stands in for every action the workflow hands to an activity, but not for
what the workflow carries out itself: `core.noop`, `core.echo` and `core.fail` run
inline, the waits wait for an answer nobody sends in a simulation, and a `workflow:`
task starts a child run. Such a task, when the simulator would serve it (a mock entry
names it; a wait or a child run always), gets the action SERVED_ACTION in the workflow
document the harness starts, so that its outcome comes from the book as in `segue
simulate`. Concurrency limits are left out, as `segue simulate` ignores them. Every
other task runs exactly as written: inline actions inline, `core.sleep`
as a durable timer (the harness's server skips the time), activities as activities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from engine.actions.builtin import WAITS, workflow_actions
from engine.expressions.template import Literal
from engine.language.spec import WorkflowSpec
from engine.simulator.mocks import MockEntry

# An action no catalog has: placed as an activity, which the harness serves.
SERVED_ACTION: Final = "simulate.served"


@dataclass(frozen=True)
class ServedDocument:
    """The workflow document to start, and the action each rewritten task had."""

    yaml: str
    originals: dict[str, str] = field(default_factory=dict)  # task -> its own action


def served_document(text: str, spec: WorkflowSpec, entries: list[MockEntry]) -> ServedDocument:
    """`text` with the tasks the workflow would carry out itself, but the simulator serves,
    turned into SERVED_ACTION tasks (`text` itself when there are none)."""
    mocked = {entry.task for entry in entries}
    originals: dict[str, str] = {}
    for name, task in spec.tasks.items():
        if task.workflow is not None:
            originals[name] = f"workflow:{name}"
            continue
        action = task.action.value if isinstance(task.action, Literal) else None
        if not isinstance(action, str) or action not in workflow_actions():
            continue  # an activity already, or a name computed at run time
        if action in WAITS or name in mocked:
            originals[name] = action
    limited = bool(spec.limits) or any(task.limits for task in spec.tasks.values())
    if not originals and not limited:
        return ServedDocument(text)
    document: Any = yaml.safe_load(text)
    tasks = document["tasks"]
    # `segue simulate` ignores concurrency limits (docs/language.md §10b), and a simulated
    # run holds no slot of the deployment's: the harness's document declares none.
    document.pop("concurrency_limits", None)
    for body in tasks.values():
        if isinstance(body, dict):
            body.pop("concurrency_limits", None)
    for name in originals:
        body = tasks[name]
        body.pop("workflow", None)
        body["action"] = SERVED_ACTION
    return ServedDocument(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), originals)
