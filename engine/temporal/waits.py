"""Waits inside the workflow: `core.wait_event` and `core.approval`, one per execution or,
in a with-items task, one per item; the answers and events that end them.

A wait is keyed by (execution, item). An answer names its task (and item, exactly when
it is meant for an item: an answer without `item` never answers an item's wait) and,
when the API could ask the run first, the execution it answers: a pinned answer takes
that wait or nothing, so a second answer for the same wait never answers a later one.

Runs on behaviour CLARIFIED (2) (engine/coordinator/behaviour.py) keep no early answers:
what no open wait takes is refused, and the refusal is in the trace as a warning (see
engine/temporal/answers.py). Older runs replay as they ran: their `deliver` signals that
answer nothing are kept (the most recent few) for a wait that has not begun yet, unless
pinned to an execution the run already knows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.actions.builtin.core import REJECTED, approval_rejection
    from engine.coordinator import ActionFailed, ActionSucceeded, DispatchAction, ErrorInfo, Event
    from engine.coordinator.behaviour import Behaviour
    from engine.coordinator.error_types import ErrorType
    from engine.temporal.refusals import RefusalLedger
    from engine.temporal.run_progress import OpenWait
    from engine.temporal.types import SignalPayload, WaitChange

EARLY_SIGNALS_KEPT: Final = 100
ENDED_KEPT: Final = 1000  # ended waits remembered, to say why a late answer is refused

WaitKey = tuple[int, int | None]  # (execution id, with-items index or None)
Warn = Callable[[str, str, dict[str, Any]], None]  # (task, message, data) -> a trace warning


@dataclass(slots=True)
class Wait:
    """One open wait: the dispatch it answers and what it waits for."""

    command: DispatchAction
    event: str
    key: str | None  # correlation key; None: any event of that name
    approval: bool
    # Whether `POST /events` may reach it: a `core.wait_event` that declared both its
    # event name and its key. Approvals, and waits keyed by nothing, answer only through
    # their run, so nobody outside can approve or wake every run of a workflow at once.
    routable: bool
    timeout_s: float  # as configured; a continued run's timer runs for what is left
    timer: asyncio.Task[None] | None = None
    due_ms: int | None = None

    @property
    def execution(self) -> int:
        return self.command.execution.id

    @property
    def item(self) -> int | None:
        return self.command.item

    @property
    def task(self) -> str:
        return self.command.execution.task

    def matches(self, signal: SignalPayload) -> bool:
        """Whether a delivered payload is meant for this wait."""
        return (
            (signal.execution is None or signal.execution == self.execution)
            and signal.item == self.item
            and (signal.attempt is None or signal.attempt == self.command.attempt)
            and (signal.task is None or signal.task == self.task)
            and (signal.event is None or signal.event == self.event)
            and (signal.correlation_key is None or signal.correlation_key == self.key)
        )

    def change(self, *, resolved: bool = False) -> WaitChange:
        """This wait as the store's waits index sees it."""
        return WaitChange(
            self.execution, self.task, self.event, self.key, resolved=resolved, item=self.item
        )

    def describe(self) -> OpenWait:
        """This wait as the `progress` query shows it."""
        return OpenWait(
            self.task, self.execution, self.item, self.command.attempt, self.event, self.key
        )


def _order(key: WaitKey) -> tuple[int, int]:
    execution, item = key
    return (execution, 0 if item is None else item + 1)


class WaitRegistry:
    """The open waits of one run, the recently ended ones, and (older runs) early signals."""

    def __init__(
        self,
        emit: Callable[[Event], None],
        note: Callable[[WaitChange], None],
        now_ms: Callable[[], int],
        warn: Warn,
    ) -> None:
        self._emit = emit  # an answer, as a coordinator event
        self._note = note  # a change for the store's waits index
        self._now_ms = now_ms
        self.warn = warn
        self._waits: dict[WaitKey, Wait] = {}
        # How the latest attempt of each recently ended wait ended: (attempt, how).
        self.ended: dict[WaitKey, tuple[int, str]] = {}
        self._early: list[SignalPayload] = []
        self._behaviour = Behaviour.ORIGINAL
        # The highest execution id the run has started (the interpreter keeps it up to
        # date): a signal pinned to an execution at or below it that answers nothing is
        # stale (see the module's docstring). Unknown (-1) until the run has begun, so
        # signals that reach a continued run before its waits are restored are kept.
        self.known_execution = -1
        self.refusals = RefusalLedger()  # refused answers recorded (engine/temporal/refusals.py)

    @property
    def behaviour(self) -> Behaviour:
        """The run's behaviour; from CLARIFIED (2) on, answers are bound to their wait
        (nothing is kept), a task's `timeout` holds for its wait, and only routable
        waits are indexed for `POST /events`."""
        return self._behaviour

    @behaviour.setter
    def behaviour(self, value: Behaviour) -> None:
        self._behaviour = value
        if self._behaviour >= Behaviour.CLARIFIED:
            self._early.clear()  # a signal of the first workflow task, before the run began

    def open(self) -> list[Wait]:
        """The open waits, oldest execution and lowest item first."""
        return [self._waits[key] for key in sorted(self._waits, key=_order)]

    def deliver(self, signal: SignalPayload) -> None:
        """The `deliver` signal: answer the first open wait the signal matches; else keep it
        for a later wait (older runs) or refuse it in the trace."""
        for wait in self.open():
            if wait.matches(signal):
                self.take(wait, signal.payload)
                return
        if self._behaviour >= Behaviour.CLARIFIED:
            task = signal.task or signal.event or "?"
            self.warn(task, f"a signal for {task!r} that no open wait took was dropped", {})
            return
        if signal.execution is not None and signal.execution <= self.known_execution:
            return  # meant for a wait that has ended: a duplicate or late answer
        self._early.append(signal)
        del self._early[:-EARLY_SIGNALS_KEPT]

    def begin(
        self, command: DispatchAction, *, remaining_ms: int | None = None, announce: bool = True
    ) -> None:
        """Open a wait for a dispatched `core.wait_event` / `core.approval` attempt."""
        data = command.input if isinstance(command.input, dict) else {}
        approval = command.action == "core.approval"
        task = command.execution.task
        event = str(data.get("event") or (f"approval:{task}" if approval else task))
        key = data.get("key", data.get("correlation_key"))
        routable = not approval and data.get("event") is not None and key is not None
        timeout = _seconds(data.get("timeout"))
        task_limit = command.timeout_seconds or 0.0
        if (
            self._behaviour >= Behaviour.CLARIFIED
            and task_limit > 0
            and (timeout <= 0 or task_limit < timeout)
        ):
            # The task's own `timeout` holds for waits too (behaviour 2).
            timeout = task_limit
        wait = Wait(command, event, None if key is None else str(key), approval, routable, timeout)
        self._waits[(wait.execution, wait.item)] = wait
        self.known_execution = max(self.known_execution, wait.execution)
        if announce and self._indexed(wait):
            self._note(wait.change())
        for index, early in enumerate(self._early):
            if wait.matches(early):
                del self._early[index]
                self.take(wait, early.payload)
                return
        if remaining_ms is not None:
            timeout = remaining_ms / 1000
        if timeout > 0:
            wait.due_ms = self._now_ms() + int(timeout * 1000)
            wait.timer = asyncio.create_task(self._time_out(wait, timeout))

    def end_execution(self, execution: int) -> None:
        """Close every wait of an execution (it finished or was canceled)."""
        for key in [key for key in self._waits if key[0] == execution]:
            self._close(self._waits[key], "ended before it was answered")

    def carried(self, now_ms: int) -> list[tuple[DispatchAction, int | None]]:
        """The open waits for a continued-as-new run: (dispatch, remaining ms or None)."""
        return [
            (w.command, None if w.due_ms is None else max(0, w.due_ms - now_ms))
            for w in self.open()
        ]

    def take(self, wait: Wait, payload: Any) -> None:
        """End the wait with this answer (an approval's `approved: false` fails it)."""
        self._close(wait, "answered")
        command, now = wait.command, self._now_ms()
        comment = approval_rejection(payload) if wait.approval else None
        if comment is not None:
            error = ErrorInfo(REJECTED, comment, payload)
            self._emit(ActionFailed(now, wait.execution, command.attempt, error, None, wait.item))
            return
        self._emit(ActionSucceeded(now, wait.execution, command.attempt, payload, wait.item))

    async def _time_out(self, wait: Wait, seconds: float) -> None:
        await workflow.sleep(seconds)
        if self._waits.get((wait.execution, wait.item)) is not wait:
            return  # answered first: an answer and a timeout never both end a wait
        self._close(wait, "timed out")
        # The configured timeout, also in a continued run whose timer ran for what was left.
        limit = wait.timeout_s if wait.timeout_s > 0 else seconds
        self._emit(
            ActionFailed(
                self._now_ms(),
                wait.execution,
                wait.command.attempt,
                ErrorInfo(ErrorType.TIMEOUT, f"no {wait.event!r} event within {limit:g} s"),
                None,
                wait.item,
            )
        )

    def _close(self, wait: Wait, how: str) -> None:
        key = (wait.execution, wait.item)
        del self._waits[key]
        self.ended.pop(key, None)  # kept in the order the waits ended
        self.ended[key] = (wait.command.attempt, how)
        if len(self.ended) > ENDED_KEPT:
            del self.ended[next(iter(self.ended))]
        if wait.timer is not None:
            wait.timer.cancel()
        if self._indexed(wait):
            self._note(wait.change(resolved=True))

    def _indexed(self, wait: Wait) -> bool:
        # Older runs indexed every wait; the API no longer routes events to the others.
        return wait.routable or self._behaviour < Behaviour.CLARIFIED


def _seconds(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return 0.0
