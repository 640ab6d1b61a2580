"""Rerun from the failed tasks: where a failed run stopped, as plain data.

When a run fails, the coordinator keeps, beside its errors, every path the failure
stopped: the executions that failed (or took `fail`, or broke on an expression, or were
cut by the run's timeout) with the context they started with, and the arrivals that
fail-fast turned away. With the join barriers still waiting and the context the finished
paths left for the output, that is a `RerunPoint`. A new run started from it (its
`RunStarted.rerun`) starts exactly those paths again, so what succeeded is not repeated
and a join still counts the arrivals it already had.

Iteration counters start afresh in the new run: a monitoring loop that hit its cap gets
its full `max_iterations` again, which is what rerunning it is for.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Any

import msgspec

from engine.coordinator.context import Context, ContextTable


@dataclass(slots=True)
class RerunEntry:
    """One stopped path, kept in the live state while the run fails.

    `source` set: an arrival turned away before reaching its target (replayed as that
    arrival, so joins and splits treat it as they would have). `source` None: a task
    execution (or a ready arrival) to start again as it was. `execution` names the
    execution it came from, so one execution is kept once.
    """

    task: str
    route: int
    context: Context
    source: str | None = None
    execution: int | None = None


class RerunTask(msgspec.Struct, frozen=True, omit_defaults=True):
    task: str
    route: int
    context: int  # index into RerunPoint.contexts
    source: str | None = None


class RerunBarrier(msgspec.Struct, frozen=True, omit_defaults=True):
    task: str
    route: int
    arrived: list[str]
    context: int
    fired: bool = False


class RerunPoint(msgspec.Struct, frozen=True, omit_defaults=True):
    """Everything a rerun needs, JSON-ready (stored with the failed run's projection)."""

    tasks: list[RerunTask]
    contexts: list[list[Any]]  # Context.row() each; shared contexts written once
    initial: int
    output_context: int | None = None
    barriers: list[RerunBarrier] = []
    stamp: int = 0
    next_route: int = 1
    latest_status: dict[str, str] = {}

    def context(self, index: int) -> Context:
        return Context.from_row(self.contexts[index])

    def unknown_tasks(self, known: Container[str]) -> list[str]:
        """Tasks named here that the workflow does not have (a point from another version)."""
        named = {t.task for t in self.tasks} | {b.task for b in self.barriers}
        named |= {t.source for t in self.tasks if t.source is not None}
        return sorted(name for name in named if name not in known)


def build_rerun_point(
    entries: list[RerunEntry],
    initial: Context,
    output_context: Context | None,
    barriers: list[tuple[str, int, list[str], Context, bool]],
    stamp: int,
    next_route: int,
    latest_status: dict[str, str],
) -> RerunPoint:
    table = ContextTable()
    initial_ref = table.ref(initial)
    return RerunPoint(
        tasks=[
            RerunTask(entry.task, entry.route, table.ref(entry.context), entry.source)
            for entry in entries
        ],
        contexts=table.rows,
        initial=initial_ref,
        output_context=None if output_context is None else table.ref(output_context),
        barriers=[
            RerunBarrier(task, route, arrived, table.ref(context), fired)
            for task, route, arrived, context, fired in barriers
        ],
        stamp=stamp,
        next_route=next_route,
        latest_status=dict(latest_status),
    )
