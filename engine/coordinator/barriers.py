"""Join barriers (LANGUAGE.md §5), as plain functions over the barriers of one run.

A barrier counts arrivals per distinct source task, at most one per source execution,
and fires once per round: on the N-th distinct source (`join: N`) or on the last source
the graph has (`join: all`). The round's later arrivals are absorbed: they start
nothing, and the coordinator lets their context reach the run's output. A new round
begins only when a source that counted arrives again from a newer execution of it (it
ran again in a cycle). A barrier whose every source arrived after firing is forgotten,
so the state holds only barriers with something still to come.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.coordinator.behaviour import Behaviour
from engine.coordinator.context import Context
from engine.coordinator.state import JoinBarrier

# Arrivals whose source execution is unknown (kept for a rerun by an earlier run): older
# than every execution of this run.
UNKNOWN_EXECUTION = 0


class Arrival(NamedTuple):
    target: str
    route: int
    context: Context
    source: str
    execution: int  # the source execution that arrives


class BarrierOutcome(NamedTuple):
    fired: Context | None = None  # the barrier fired: the join task starts with this
    absorbed: Context | None = None  # a late arrival: its path ends here


def arrive(
    barriers: dict[str, dict[int, JoinBarrier]],
    arrival: Arrival,
    threshold: int,
    sources: int,
    behaviour: Behaviour,
) -> BarrierOutcome:
    """Count one arrival at the barrier of `arrival.target` on its route."""
    if behaviour is Behaviour.ORIGINAL:
        return _arrive_original(barriers, arrival, threshold, sources)
    target, route, context, source, execution = arrival
    by_route = barriers.setdefault(target, {})
    barrier = by_route.get(route)
    if barrier is not None and barrier.fired:
        counted = barrier.arrived.get(source)
        if counted is not None and execution > counted:
            barrier = None  # a source that counted ran again: a new round
    outcome = BarrierOutcome()
    if barrier is None:
        barrier = JoinBarrier(target, route, {source: execution}, context)
        by_route[route] = barrier
    elif barrier.fired:
        barrier.arrived.setdefault(source, execution)
        outcome = BarrierOutcome(absorbed=context)
    else:
        # A new source, or a source that went round a cycle before the barrier fired: it
        # counts once either way, and what it published joins the round's context.
        barrier.arrived[source] = execution
        barrier.context = barrier.context.joined(context)
    if not barrier.fired and len(barrier.arrived) >= threshold:
        barrier.fired = True
        outcome = BarrierOutcome(fired=barrier.context)
    _forget_if_complete(barriers, barrier, sources)
    return outcome


def _arrive_original(
    barriers: dict[str, dict[int, JoinBarrier]],
    arrival: Arrival,
    threshold: int,
    sources: int,
) -> BarrierOutcome:
    """Behaviour 1, kept exactly for runs that started on it: every transition arrives,
    and a counted source arriving after the barrier fired opens a new round."""
    target, route, context, source, execution = arrival
    by_route = barriers.setdefault(target, {})
    barrier = by_route.get(route)
    if barrier is not None and barrier.fired and source in barrier.arrived:
        barrier = None
    outcome = BarrierOutcome()
    if barrier is None:
        barrier = JoinBarrier(target, route, {source: execution}, context)
        by_route[route] = barrier
    elif source in barrier.arrived:
        barrier.context = barrier.context.merged(context)
    else:
        barrier.arrived[source] = execution
        barrier.context = barrier.context.merged(context)
        if barrier.fired:
            outcome = BarrierOutcome(absorbed=context)
    if not barrier.fired and len(barrier.arrived) >= threshold:
        barrier.fired = True
        outcome = BarrierOutcome(fired=barrier.context)
    _forget_if_complete(barriers, barrier, sources)
    return outcome


def _forget_if_complete(
    barriers: dict[str, dict[int, JoinBarrier]], barrier: JoinBarrier, sources: int
) -> None:
    if barrier.fired and len(barrier.arrived) >= sources:
        by_route = barriers[barrier.task]
        del by_route[barrier.route]
        if not by_route:
            del barriers[barrier.task]
