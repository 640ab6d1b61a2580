"""Which coordinator behaviour a run gets, decided once, replayed the same for ever.

A new run takes the newest behaviour this worker knows, and says so in its history
with a `workflow.patched` marker named after it. A history recorded before that
behaviour existed has no such marker, so replaying it on this worker picks the newest
behaviour whose marker it does have — the original one if none — and the run goes on
exactly as it started. A run continued as new carries its behaviour in the coordinator
snapshot instead (engine/coordinator/snapshot.py), and never asks again.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.coordinator.behaviour import Behaviour


def patch_id(behaviour: Behaviour) -> str:
    """The marker a run started on `behaviour` carries in its history."""
    return f"segue-behaviour-{int(behaviour)}"


def behaviour_of_this_run() -> Behaviour:
    """Call once, at the start of a run's first workflow task, before any command."""
    for behaviour in sorted(Behaviour, reverse=True):
        if behaviour is Behaviour.ORIGINAL or workflow.patched(patch_id(behaviour)):
            return behaviour
    return Behaviour.ORIGINAL
