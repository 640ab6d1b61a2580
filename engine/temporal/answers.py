"""Answers and events as Temporal Updates: the run takes each for a live wait or refuses
it at once, with a stable code the API passes on (docs/api.md).

An answer (`POST /runs/{id}/signals/{task}`) that names a task of the workflow is
accepted as an Update, so that a refused one is recorded: the handler either takes the
wait or puts the refusal in the trace as a warning and fails the Update with its code.
An answer that cannot concern this run (no such task, the run has ended) is turned away
by the validator, which writes no history; so is (behaviour 3) a refusal the run has
already recorded for that wait, or one past the bound of engine/temporal/refusals.py.
The handler checks and takes the wait before it could yield, so of two answers racing
for one wait exactly one takes it.

An event (`POST /events`) is turned away by the validator when no wait of the run takes
it: the API then reports the run as not reached and the event stays unmatched.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from engine.coordinator.behaviour import Behaviour
    from engine.temporal.refusals import RefusalKey
    from engine.temporal.run_state import RunState
    from engine.temporal.types import UPDATE_ANSWER, UPDATE_EVENT, SignalPayload, TakenWait
    from engine.temporal.waits import Wait, WaitRegistry

ANSWERED = "answered"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an answer or event is not taken: a stable code, a message, problem members."""

    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def error(self) -> ApplicationError:
        """What fails the Update (the client sees `code` as the error's type)."""
        return ApplicationError(self.message, self.details, type=self.code, non_retryable=True)


class AnswerHandlers:
    """The interpreter's Update handlers for answers and events (a base class, so that
    the workflow module stays the size of what it does itself)."""

    _run: RunState

    @workflow.update(name=UPDATE_ANSWER)
    def answer(self, answer: SignalPayload) -> TakenWait:
        """Answer one wait, or refuse (in the trace too)."""
        return take_answer(self._run.waits, answer)

    @answer.validator
    def _check_answer(self, answer: SignalPayload) -> None:
        coordinator = self._run.coordinator_or_none
        tasks = coordinator.spec.tasks if coordinator is not None else {}
        check_answer(self._run.waits, answer, tasks, self._run.finish is not None)
        if self._run.waits.behaviour >= Behaviour.OBSERVED:
            check_repeated_refusal(self._run.waits, answer)

    @workflow.update(name=UPDATE_EVENT)
    def event(self, event: SignalPayload) -> list[TakenWait]:
        """A correlated event for the waits that declared its name and key."""
        return take_event(self._run.waits, event)

    @event.validator
    def _check_event(self, event: SignalPayload) -> None:
        check_event(self._run.waits, event)


def check_answer(
    waits: WaitRegistry, answer: SignalPayload, tasks: Collection[str], finished: bool
) -> None:
    """The validator of an answer: refuse, leaving no trace, what concerns no wait here."""
    if finished:
        raise Refusal("RUN_NOT_RUNNING", "the run has ended").error()
    if answer.task is None or answer.task not in tasks:
        raise Refusal(
            "TASK_NOT_WAITING",
            f"the workflow has no task {answer.task!r}",
            {"waiting": _waiting_tasks(waits)},
        ).error()


def check_repeated_refusal(waits: WaitRegistry, answer: SignalPayload) -> None:
    """The validator's second check (behaviour 3): refuse without recording what the
    trace already says, or what is past the bound on recorded refusals."""
    found = choose_wait(waits, answer)
    if isinstance(found, Refusal) and not waits.refusals.worth_recording(
        _refusal_key(answer, found)
    ):
        raise found.error()


def _refusal_key(answer: SignalPayload, refusal: Refusal) -> RefusalKey:
    return (answer.task, answer.execution, answer.item, refusal.code)


def take_answer(waits: WaitRegistry, answer: SignalPayload) -> TakenWait:
    """The handler of an answer: take the wait it is for, or trace and raise the refusal."""
    found = choose_wait(waits, answer)
    if isinstance(found, Refusal):
        waits.refusals.record(_refusal_key(answer, found))
        waits.warn(
            str(answer.task),
            f"answer refused ({found.code}): {found.message}",
            {
                "code": found.code,
                "execution": answer.execution,
                "item": answer.item,
                "attempt": answer.attempt,
            },
        )
        raise found.error()
    waits.take(found, answer.payload)
    return _taken(found)


def choose_wait(waits: WaitRegistry, answer: SignalPayload) -> Wait | Refusal:
    """The open wait an answer is for (the oldest that matches), or why there is none.
    A pinned answer (execution, attempt) is for that wait only: never a later one."""
    task = answer.task
    of_task = [wait for wait in waits.open() if wait.task == task]
    if answer.execution is not None:
        of_execution = [wait for wait in of_task if wait.execution == answer.execution]
        for wait in of_execution:
            if wait.item == answer.item and answer.attempt in (None, wait.command.attempt):
                return wait
        ended = waits.ended.get((answer.execution, answer.item))
        if ended is not None and ended[1] == ANSWERED and answer.attempt in (None, ended[0]):
            return Refusal(
                "WAIT_ALREADY_ANSWERED",
                f"{_what(task, answer.item)} was already answered (another answer came first)",
            )
        if ended is not None or not of_execution:
            how = f" ({ended[1]})" if ended is not None else ""
            return Refusal(
                "WAIT_NOT_OPEN",
                f"the wait of {_what(task, answer.item)} that this answer is for has ended{how}",
                {"waiting": _waiting_tasks(waits)},
            )
        of_task = of_execution
    if not of_task:
        return Refusal(
            "TASK_NOT_WAITING",
            f"task {task!r} is not waiting for a signal",
            {"waiting": _waiting_tasks(waits)},
        )
    items = sorted({wait.item for wait in of_task if wait.item is not None})
    if answer.item is None and items:
        return Refusal(
            "ITEM_REQUIRED",
            f"task {task!r} waits once per with-items item; name the item to answer, "
            f'e.g. {{"item": {items[0]}, "payload": …}}',
            {"waitingItems": items},
        )
    if answer.item is not None and not items:
        return Refusal(
            "ITEM_NOT_WAITING",
            f"task {task!r} has no items (it is not a with-items task); send no `item`",
            {"waitingItems": []},
        )
    matching = [wait for wait in of_task if wait.item == answer.item]
    if not matching:
        return Refusal(
            "ITEM_NOT_WAITING",
            f"item {answer.item} of task {task!r} is not waiting: there is no such item, it "
            "has not started yet, or it has already finished or been answered",
            {"waitingItems": items},
        )
    return min(matching, key=lambda wait: wait.execution)


def check_event(waits: WaitRegistry, event: SignalPayload) -> None:
    """The validator of an event: refuse it when no open wait here takes it."""
    if not _event_targets(waits, event):
        raise Refusal("NO_WAIT", f"no open wait for {event.event!r} with this key").error()


def take_event(waits: WaitRegistry, event: SignalPayload) -> list[TakenWait]:
    """The handler of an event: every open wait that declared its name and key takes it."""
    targets = _event_targets(waits, event)
    if not targets:  # the validator saw one; a wait cannot end in between, but be sure
        raise Refusal("NO_WAIT", f"no open wait for {event.event!r} with this key").error()
    for wait in targets:
        waits.take(wait, event.payload)
    return [_taken(wait) for wait in targets]


def _event_targets(waits: WaitRegistry, event: SignalPayload) -> list[Wait]:
    if event.event is None or event.correlation_key is None:
        return []
    return [
        wait
        for wait in waits.open()
        if wait.routable and wait.event == event.event and wait.key == event.correlation_key
    ]


def _taken(wait: Wait) -> TakenWait:
    return TakenWait(wait.task, wait.execution, wait.item, wait.command.attempt)


def _waiting_tasks(waits: WaitRegistry) -> list[str]:
    return sorted({wait.task for wait in waits.open()})


def _what(task: str | None, item: int | None) -> str:
    return f"task {task!r}" if item is None else f"item {item} of task {task!r}"
