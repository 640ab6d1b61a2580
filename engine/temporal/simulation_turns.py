"""`segue simulate --temporal`: mocked results given in the simulator's order and waves,
so the production workflow takes completions as `segue simulate` does.

The harness's action activity (engine/temporal/simulation.py) finds, for each attempt it
serves, its place in the simulator's completion order (engine/simulator/arrivals.py)
and holds its result until a conductor, one per run, lets it go. The conductor goes
through the order wave by wave. It waits until every attempt of the wave has reached
the harness; an attempt alone in its wave is let go and its completion taken by the
workflow before the next wave. The attempts of a larger wave must reach the workflow
together, in one workflow task, as the simulator completes a wave before it starts
anything: the conductor holds the harness worker's workflow tasks at a gate, sends the
run a signal no handler takes (a workflow task with nothing in it), and while that task
is held lets the wave's attempts go one by one, each recorded in the history before the
next; Temporal keeps them for the workflow task after the held one, in that order.

Every wait is bounded (HOLD_LIMIT_SECONDS): when an attempt never comes (the workflow
took another course than the simulator), the conductor lets everything go as it comes
and the outcome says which attempt it waited for, so the comparison fails instead of
hanging.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from temporalio.client import WorkflowHandle

from engine.simulator.arrivals import AttemptKey, CompletionOrder

# How long the conductor waits for an attempt or for the workflow, in wall time. Timers
# come first at times, which Temporal does not skip while an attempt is held.
HOLD_LIMIT_SECONDS = 30.0
POLL_SECONDS = 0.005
# A workflow task held at the gate goes on after this long whatever happens, well within
# the task's own timeout (10 s), so a harness that fails never stalls the worker.
GATE_LIMIT_SECONDS = 5.0
# An attempt in Temporal: (the workflow execution's run id, the activity id). Activity
# ids start again at 1 after continue-as-new.
Attempt = tuple[str, str]


@dataclass(frozen=True, slots=True)
class RunView:
    """What the server says of a run: attempts not yet recorded as ended, and its
    workflow task (None, "scheduled" or "started")."""

    open: frozenset[Attempt]
    task: str | None


class Workflow(Protocol):
    """The conductor's hold on one run and on the harness worker."""

    async def view(self) -> RunView: ...
    async def nudge(self) -> None: ...  # a signal no handler takes: an empty workflow task
    def close_gate(self) -> None: ...
    def open_gate(self) -> None: ...


class GatedExecutor(ThreadPoolExecutor):
    """The harness worker's workflow task executor: closed, it holds each workflow task
    before the workflow code runs (at most GATE_LIMIT_SECONDS)."""

    def __init__(self) -> None:
        super().__init__(max_workers=16, thread_name_prefix="simulate-workflow")
        self.opened = threading.Event()
        self.opened.set()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def gated() -> Any:
            self.opened.wait(GATE_LIMIT_SECONDS)
            return fn(*args, **kwargs)

        return super().submit(gated)


class _Late(Exception):
    """A bounded wait ran out."""


@dataclass
class Turns:
    """One run's completion order and the attempts held for their turn."""

    order: CompletionOrder
    places: dict[AttemptKey, list[int]] = field(default_factory=dict)
    asked: Counter[AttemptKey] = field(default_factory=Counter)
    released: dict[int, asyncio.Event] = field(default_factory=dict)
    answered: dict[int, Attempt] = field(default_factory=dict)  # place -> its attempt
    problems: list[str] = field(default_factory=list)
    gave_up: bool = False  # a wait ran out: the rest of the run is let go as it comes

    def __post_init__(self) -> None:
        self.places = self.order.positions()

    def place(self, key: AttemptKey) -> int | None:
        """The place of the next attempt of `key` (None: the simulator completes no
        more of them, so it is not held)."""
        index = self.asked[key]
        self.asked[key] += 1
        places = self.places.get(key, [])
        return places[index] if index < len(places) else None

    async def wait_turn(self, place: int, heartbeat: Callable[[], None]) -> None:
        """Hold the attempt at `place` until the conductor lets it go."""
        released = self.released.setdefault(place, asyncio.Event())
        while not released.is_set() and not self.gave_up:
            heartbeat()
            try:
                await asyncio.wait_for(released.wait(), timeout=1.0)
            except TimeoutError:
                continue

    def answering(self, place: int | None, attempt: Attempt) -> None:
        if place is not None:
            self.answered[place] = attempt

    async def conduct(self, workflow: Workflow) -> None:
        """Let the attempts go, wave by wave (see the module's docstring)."""
        try:
            for wave in self.order.grouped():
                await self._until(partial(self._arrived, wave), wave[0])
                if len(wave) == 1:
                    await self._let_go(wave[0], workflow, recorded_only=False)
                    continue
                # Idle first: the nudge's workflow task must be the one the gate holds.
                await self._until_view(workflow, lambda view: view.task is None, wave[0])
                workflow.close_gate()
                try:
                    await workflow.nudge()
                    await self._until_view(workflow, lambda view: view.task == "started", wave[0])
                    for place in wave:
                        await self._let_go(place, workflow, recorded_only=True)
                finally:
                    workflow.open_gate()
                last = wave[-1]
                await self._until_view(workflow, lambda view: view.task is None, last)
        except _Late as late:
            self.problems.append(str(late))
            self.gave_up = True
            for event in self.released.values():
                event.set()

    def _arrived(self, wave: list[int]) -> bool:
        return all(place in self.released for place in wave)

    async def _let_go(self, place: int, workflow: Workflow, *, recorded_only: bool) -> None:
        """Let one attempt go; until its completion is recorded (and, unless
        `recorded_only`, taken by the workflow)."""
        self.released[place].set()
        await self._until(lambda: place in self.answered, place)
        attempt = self.answered[place]

        def done(view: RunView) -> bool:
            return attempt not in view.open and (recorded_only or view.task is None)

        await self._until_view(workflow, done, place)

    async def _until(self, condition: Callable[[], bool], place: int) -> None:
        await self._bounded(lambda: _now(condition), place)

    async def _until_view(
        self, workflow: Workflow, condition: Callable[[RunView], bool], place: int
    ) -> None:
        async def check() -> bool:
            return condition(await workflow.view())

        await self._bounded(check, place)

    async def _bounded(self, check: Callable[[], Awaitable[bool]], place: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLD_LIMIT_SECONDS
        while not await check():
            if loop.time() > deadline:
                raise _Late(self._late(place))
            await asyncio.sleep(POLL_SECONDS)

    def _late(self, place: int) -> str:
        task, iteration, item = self.order.attempts[place]
        return (
            f"the harness waited {HOLD_LIMIT_SECONDS:g} s for the attempt of {task!r} "
            f"(iteration {iteration}, item {item}) that `segue simulate` completes as "
            f"number {place + 1}, or for the workflow to take it: the workflow took "
            "another course"
        )


# A signal the workflow has no handler for: the conductor's empty workflow task.
NUDGE_SIGNAL = "simulate-nudge"
_TASK_STATES = {1: "scheduled", 2: "started"}  # PendingWorkflowTaskState


@dataclass
class HeldRun:
    """The conductor's hold on a run (engine/temporal/simulation_turns.py)."""

    handle: WorkflowHandle[Any, Any]
    gate: GatedExecutor

    async def view(self) -> RunView:
        raw = (await self.handle.describe()).raw_description
        execution = raw.workflow_execution_info.execution.run_id
        task = None
        if raw.HasField("pending_workflow_task"):
            task = _TASK_STATES.get(raw.pending_workflow_task.state, "scheduled")
        attempts = frozenset((execution, pending.activity_id) for pending in raw.pending_activities)
        return RunView(attempts, task)

    async def nudge(self) -> None:
        await self.handle.signal(NUDGE_SIGNAL)

    def close_gate(self) -> None:
        self.gate.opened.clear()

    def open_gate(self) -> None:
        self.gate.opened.set()


async def _now(condition: Callable[[], bool]) -> bool:
    return condition()
