"""What a `TRANSITION` trace event holds (docs/api.md "Trace events"): why an edge of
the run graph was taken or not, from the coordinator's notice. On behaviour 3, names
only; from behaviour 4 on, the values too, masked then clipped on their way to the store
(engine/temporal/shown_values.py)."""

from __future__ import annotations

from typing import Any

from engine.coordinator import TransitionEvaluated
from engine.coordinator.transition_notices import describe


def transition_fields(notice: TransitionEvaluated) -> dict[str, Any]:
    """The trace record's node, message and data for one evaluated transition."""
    ref = notice.execution
    data: dict[str, Any] = {
        "execution": ref.id,
        "iteration": ref.iteration,
        "route": ref.route,
        "attempt": notice.attempt,
        "transition": notice.transition,
        "taken": notice.taken,
        "published": list(notice.published),
        "targets": list(notice.targets),
        "commands": list(notice.commands),
    }
    if notice.values is not None:
        data["values"] = notice.values
    if notice.when is not None:
        data["when"] = notice.when  # absent: the transition has no `when`
    return {"node_id": ref.task, "message": describe(notice), "data": data}
