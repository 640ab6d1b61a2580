"""Notices that explain a finished execution's transitions (behaviour 3 on): for each
entry of its `next`, what its `when` said, whether it was taken, what names it
published and where it led. The Temporal binding writes them as `TRANSITION` trace
events; the run console lights edges and answers "why" from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.coordinator.base import Machine
from engine.coordinator.behaviour import Behaviour
from engine.coordinator.commands import TransitionEvaluated
from engine.coordinator.state import Execution
from engine.language.spec import TransitionSpec


def announce_transitions(
    m: Machine,
    execution: Execution,
    evaluated: Sequence[TransitionSpec],
    held: Sequence[TransitionSpec],
    followed: Sequence[TransitionSpec],
    published: Mapping[int, dict[str, Any]] | None = None,
) -> None:
    """One notice per evaluated transition, in `next` order. `held`: those whose `when`
    held (or that have none); `followed`: those taken now - all of `held`, unless a
    `retry` among them runs the execution again (then only the retrying ones publish).
    `published`: by transition index, the values each taken one published (behaviour 4:
    the notices carry them; a transition whose publish failed has none)."""
    if m.state.behaviour < Behaviour.OBSERVED:
        return  # a run started earlier keeps its trace, sequence numbers included
    ref = execution.ref
    names = m.program.transition_names
    for transition in evaluated:
        taken = _among(transition, followed)
        named = names[ref.task, transition.index]
        m.out.append(
            TransitionEvaluated(
                ref,
                execution.attempt,
                transition.index,
                None if transition.when is None else _among(transition, held),
                taken,
                named.published if taken else (),
                named.targets,
                named.commands,
                _values(m, transition, taken, published),
            )
        )


def _values(
    m: Machine,
    transition: TransitionSpec,
    taken: bool,
    published: Mapping[int, dict[str, Any]] | None,
) -> dict[str, Any] | None:
    """What a taken transition published, on behaviour 4 (before it: names only)."""
    if m.state.behaviour < Behaviour.EXPLAINED or not taken or published is None:
        return None
    return published.get(transition.index)


def _among(transition: TransitionSpec, transitions: Sequence[TransitionSpec]) -> bool:
    """By identity: specs compare field by field, expressions included."""
    return any(candidate is transition for candidate in transitions)


def describe(notice: TransitionEvaluated) -> str:
    """One line a person reads (the trace's message, `segue simulate --transitions`):
    `check next[1] taken (when true) -> wait`."""
    leads = ", ".join((*notice.targets, *notice.commands)) or "the end of its path"
    verdict = "taken" if notice.taken else "not taken"
    when = "" if notice.when is None else f" (when {str(notice.when).lower()})"
    return f"{notice.execution.task} next[{notice.transition}] {verdict}{when} -> {leads}"
