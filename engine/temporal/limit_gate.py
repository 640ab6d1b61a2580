"""What a run knows of its concurrency limits: whether it asked (so it must release),
what it waits for, and the signals that end a wait. Handlers only mutate this; the
admission itself is engine/temporal/limits.py. Nothing here issues a Temporal command."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.temporal.types import LimitSignal


@dataclass
class TaskAttempt:
    """A limited task's attempt: it may have rows under `holder` until it is released."""

    holder: str
    attempt: int
    admission: asyncio.Task[None] | None = None


@dataclass
class LimitGate:
    # The limiter may have a row of this run: release before the run ends (kept across
    # continue-as-new, which does not end the run).
    asked: bool = False
    waiting_for: tuple[str, str] | None = None  # (limit, key) while queued
    position: int | None = None
    # (limit, key, holder): '' the run's own slots, else a task attempt's
    granted: set[tuple[str, str, str]] = field(default_factory=set)
    ended: str | None = None  # why a wait ended without a slot (debounce)
    # Task attempts (engine/temporal/task_limits.py), by (execution, item): the holder
    # name, its attempt and the admission that acquires for it.
    attempts: dict[tuple[int, int | None], TaskAttempt] = field(default_factory=dict)
    # holder -> (limit, key) it waits for, for the `progress` query (the reaper asks it)
    waiting_attempts: dict[str, tuple[str, str]] = field(default_factory=dict)
    releasing: list[asyncio.Task[None]] = field(default_factory=list)  # attempts' releases

    def deliver(self, signal: LimitSignal) -> None:
        """A releaser (or the reaper) granted a slot, or a newer run superseded this one.
        A repeated or late signal changes nothing."""
        if signal.granted:
            self.granted.add((signal.name, signal.key, signal.holder))
        elif not signal.holder and self.waiting_for == (signal.name, signal.key):
            self.ended = signal.reason or "the wait for the limit ended"

    @property
    def queued(self) -> bool:
        return self.waiting_for is not None
