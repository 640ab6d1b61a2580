"""Run a workflow through the production coordinator without Temporal, in waves.

The wave discipline (ARCHITECTURE.md) makes a simulation deterministic: start every ready
execution ordered by (task, route), then complete each running execution's oldest
outstanding dispatch in start order (one item per wave for with-items), and repeat.
Delay and retry timers fire at once and move the virtual clock on; the run's own
timeout fires when the virtual clock passes it, or when nothing else can happen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.coordinator import (
    ActionFailed,
    ActionSucceeded,
    CancelDispatches,
    CancelTimer,
    Command,
    Coordinator,
    DispatchAction,
    ErrorEntry,
    Event,
    ExecutionFinished,
    ExecutionStarted,
    FinishRun,
    RunInfo,
    RunStarted,
    StartChildRun,
    StartReady,
    StartTimer,
    TimerFired,
    TimerKind,
    TransitionEvaluated,
)
from engine.coordinator.behaviour import CURRENT_BEHAVIOUR, Behaviour
from engine.coordinator.rerun import RerunPoint
from engine.coordinator.snapshot import dump_state, load_state
from engine.language.spec import WorkflowSpec
from engine.simulator.mocks import MockBook, MockEntry

# 2026-01-01T00:00:00Z: the virtual clock's start, so `$now()` is the same in every run.
VIRTUAL_EPOCH_MS = 1_767_225_600_000
# A guard against workflows that never stop (the iteration cap normally stops them first).
MAX_WAVES = 10_000_000


@dataclass(slots=True)
class SequenceEntry:
    task: str
    iteration: int
    route: int
    status: str = "running"
    attempts: int = 1
    started_ms: int = 0
    finished_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "iteration": self.iteration,
            "route": self.route,
            "status": self.status,
        }


@dataclass(slots=True)
class Simulation:
    """The outcome of one simulated run."""

    status: str
    output: Any
    errors: list[ErrorEntry]
    sequence: list[SequenceEntry]
    errors_dropped: int = 0
    waves: int = 0
    rerun: RerunPoint | None = None  # a failed run: where a rerun from the failed tasks starts
    # Every transition evaluated, in order (behaviour 3 on; the `TRANSITION` trace events).
    transitions: list[TransitionEvaluated] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "output": self.output,
            "errors": [entry.to_json() for entry in self.errors],
            "sequence": [entry.to_json() for entry in self.sequence],
        }
        if self.errors_dropped:
            data["errors_dropped"] = self.errors_dropped
        return data


@dataclass(slots=True)
class _Dispatch:
    command: DispatchAction | StartChildRun


@dataclass(slots=True)
class _Simulator:
    coordinator: Coordinator
    mocks: MockBook
    now_ms: int = VIRTUAL_EPOCH_MS
    sequence: dict[int, SequenceEntry] = field(default_factory=dict)
    outstanding: dict[int, deque[_Dispatch]] = field(default_factory=dict)
    stuck: dict[int, list[_Dispatch]] = field(default_factory=dict)  # mocked `running`
    run_deadline: tuple[int, int] | None = None  # (due ms, timer id)
    finish: FinishRun | None = None
    events: deque[Event] = field(default_factory=deque)
    roundtrip: bool = False
    transitions: list[TransitionEvaluated] = field(default_factory=list)

    def feed(self, event: Event) -> None:
        """Apply an event and everything that follows at once (timers firing)."""
        self.events.append(event)
        while self.events:
            commands = self.coordinator.handle(self.events.popleft())
            if self.roundtrip:
                self._reload()
            for command in commands:
                self._carry_out(command)

    def _reload(self) -> None:
        """Continue from a serialised copy of the state, as a continued-as-new run would."""
        saved = dump_state(self.coordinator.state)
        restored = load_state(saved)
        if dump_state(restored) != saved:
            raise AssertionError("the coordinator state did not round-trip exactly")
        self.coordinator = Coordinator(
            self.coordinator.spec, restored, secrets=self.coordinator.secrets
        )

    def _carry_out(self, command: Command) -> None:
        if isinstance(command, ExecutionStarted):
            ref = command.execution
            self.sequence[ref.id] = SequenceEntry(
                ref.task, ref.iteration, ref.route, started_ms=self.now_ms
            )
        elif isinstance(command, ExecutionFinished):
            entry = self.sequence[command.execution.id]
            entry.status = str(command.status)
            entry.attempts = command.attempts
            entry.finished_ms = self.now_ms
            self.outstanding.pop(command.execution.id, None)
        elif isinstance(command, (DispatchAction, StartChildRun)):
            self.outstanding.setdefault(command.execution.id, deque()).append(_Dispatch(command))
        elif isinstance(command, CancelDispatches):
            for execution in command.executions:
                self.outstanding.pop(execution, None)
        elif isinstance(command, StartTimer):
            due = self.now_ms + int(command.seconds * 1000)
            if command.kind is TimerKind.RUN_TIMEOUT:
                self.run_deadline = (due, command.timer)
            else:
                self._advance(due)
                self.events.append(TimerFired(self.now_ms, command.timer))
        elif isinstance(command, CancelTimer):
            if self.run_deadline and self.run_deadline[1] == command.timer:
                self.run_deadline = None
        elif isinstance(command, FinishRun):
            self.finish = command
        elif isinstance(command, TransitionEvaluated):
            self.transitions.append(command)

    def _advance(self, due: int) -> None:
        """Move the virtual clock; the run timeout fires first if it falls due on the way."""
        if self.run_deadline and self.run_deadline[0] <= due:
            deadline, timer = self.run_deadline
            self.run_deadline = None
            self.now_ms = max(self.now_ms, deadline)
            self.events.append(TimerFired(self.now_ms, timer))
        self.now_ms = max(self.now_ms, due)

    def complete_one_each(self) -> bool:
        """The completion half of a wave; False when nothing could complete."""
        progressed = False
        self.mocks.next_wave()
        for execution_id in sorted(self.outstanding):
            queue = self.outstanding.get(execution_id)
            if not queue:
                continue
            dispatch = queue.popleft()
            command = dispatch.command
            ref = command.execution
            action = command.action if isinstance(command, DispatchAction) else command.workflow
            outcome = self.mocks.outcome(
                ref.task, ref.iteration, command.item, action, command.input
            )
            if outcome.status == "running":
                self.stuck.setdefault(execution_id, []).append(dispatch)
                continue
            progressed = True
            if outcome.status == "succeeded":
                event: Event = ActionSucceeded(
                    self.now_ms, ref.id, command.attempt, outcome.result, command.item
                )
            else:
                assert outcome.error is not None
                event = ActionFailed(
                    self.now_ms,
                    ref.id,
                    command.attempt,
                    outcome.error,
                    outcome.result,
                    command.item,
                )
            self.feed(event)
            if self.finish:
                break
        return progressed


def simulate(
    spec: WorkflowSpec,
    run_input: dict[str, Any],
    mocks: list[MockEntry],
    *,
    run_id: str = "simulation",
    roundtrip_state: bool = False,
    rerun: RerunPoint | None = None,
    behaviour: Behaviour = CURRENT_BEHAVIOUR,
    secrets: Mapping[str, str] | None = None,
    book: MockBook | None = None,
) -> Simulation:
    """Run `spec` to its end (or until nothing more can happen) with mocked actions.

    With `roundtrip_state`, the coordinator is rebuilt from its serialised state after
    every event (a test of the state's completeness). With `rerun` (a failed simulation's
    `rerun`), the run starts where that one stopped. `behaviour` is the coordinator
    behaviour the run starts on (an older one: how runs in flight since then go on).
    `secrets` are the values `$secret('name')` gives. `book` answers the attempts
    instead of a new book over `mocks` (engine/simulator/arrivals.py notes its calls).
    """
    simulator = _Simulator(
        Coordinator(spec, secrets=secrets),
        MockBook(mocks) if book is None else book,
        roundtrip=roundtrip_state,
    )
    run = RunInfo(run_id, spec.name or "workflow", spec.content_hash or "local", VIRTUAL_EPOCH_MS)
    simulator.feed(RunStarted(simulator.now_ms, run, run_input, rerun, behaviour))
    waves = 0
    while simulator.finish is None and waves < MAX_WAVES:
        waves += 1
        if simulator.coordinator.has_ready:
            simulator.feed(StartReady(simulator.now_ms))
            if simulator.finish:
                break
        if simulator.complete_one_each() or simulator.coordinator.has_ready:
            continue
        if simulator.run_deadline is not None:
            # Nothing else can happen: the virtual clock runs on to the run's timeout.
            deadline, timer = simulator.run_deadline
            simulator.run_deadline = None
            simulator.now_ms = max(simulator.now_ms, deadline)
            simulator.feed(TimerFired(simulator.now_ms, timer))
            continue
        break
    sequence = sorted(simulator.sequence.items())
    finish = simulator.finish
    if finish is None:
        state = simulator.coordinator.state
        return Simulation(
            "running",
            None,
            list(state.errors),
            [entry for _, entry in sequence],
            state.errors_dropped,
            waves,
            transitions=simulator.transitions,
        )
    return Simulation(
        str(finish.status),
        finish.output,
        list(finish.errors),
        [e for _, e in sequence],
        finish.errors_dropped,
        waves,
        finish.rerun,
        simulator.transitions,
    )
