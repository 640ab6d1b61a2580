"""Waits inside the workflow: `core.wait_event` and `core.approval`, one per execution or,
in a with-items task, one per item; the signals that answer them.

A wait is keyed by (execution, item). A signal answers the first open wait it matches,
oldest execution and lowest item first. It names an item exactly when it is meant for
an item: a signal without `item` never answers an item's wait, so nobody approves an
item by accident. A signal that answers nothing is kept (the most recent few) for a wait
that has not begun yet, unless it is pinned to an execution the run already knows: such
a signal was sent for a wait that has ended (answered, timed out, canceled), and keeping
it would let a duplicate answer a later attempt of the same item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import msgspec

    from engine.coordinator import ActionFailed, ActionSucceeded, DispatchAction, ErrorInfo, Event
    from engine.temporal.types import SignalPayload, WaitChange

EARLY_SIGNALS_KEPT: Final = 100

WaitKey = tuple[int, int | None]  # (execution id, with-items index or None)


@dataclass(slots=True)
class Wait:
    """One open wait: the dispatch it answers and what it waits for."""

    command: DispatchAction
    event: str
    key: str | None  # correlation key; None: any event of that name
    approval: bool
    timer: asyncio.Task[None] | None = None
    due_ms: int | None = None

    @property
    def execution(self) -> int:
        return self.command.execution.id

    @property
    def item(self) -> int | None:
        return self.command.item

    def matches(self, signal: SignalPayload) -> bool:
        """Whether a delivered payload is meant for this wait."""
        return (
            (signal.execution is None or signal.execution == self.execution)
            and signal.item == self.item
            and (signal.task is None or signal.task == self.command.execution.task)
            and (signal.event is None or signal.event == self.event)
            and (signal.correlation_key is None or signal.correlation_key == self.key)
        )

    def change(self, *, resolved: bool = False) -> WaitChange:
        """This wait as the store's waits index sees it."""
        return WaitChange(
            self.execution,
            self.command.execution.task,
            self.event,
            self.key,
            resolved=resolved,
            item=self.item,
        )


def _order(key: WaitKey) -> tuple[int, int]:
    execution, item = key
    return (execution, 0 if item is None else item + 1)


class WaitRegistry:
    """The open waits of one run, and the signals that arrived before their wait."""

    def __init__(
        self,
        emit: Callable[[Event], None],
        note: Callable[[WaitChange], None],
        now_ms: Callable[[], int],
    ) -> None:
        self._emit = emit  # an answer, as a coordinator event
        self._note = note  # a change for the store's waits index
        self._now_ms = now_ms
        self._waits: dict[WaitKey, Wait] = {}
        self._early: list[SignalPayload] = []
        # The highest execution id the run has started (the interpreter keeps it up to
        # date): a signal pinned to an execution at or below it that answers nothing is
        # stale (see the module's docstring). Unknown (-1) until the run has begun, so
        # signals that reach a continued run before its waits are restored are kept.
        self.known_execution = -1

    def open(self) -> list[Wait]:
        """The open waits, oldest execution and lowest item first."""
        return [self._waits[key] for key in sorted(self._waits, key=_order)]

    def deliver(self, signal: SignalPayload) -> None:
        """Answer the first open wait the signal matches, or keep it for a later one."""
        for wait in self.open():
            if wait.matches(signal):
                self._answer(wait, signal.payload)
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
        wait = Wait(command, event, None if key is None else str(key), approval)
        self._waits[(wait.execution, wait.item)] = wait
        self.known_execution = max(self.known_execution, wait.execution)
        if announce:
            self._note(wait.change())
        for index, early in enumerate(self._early):
            if wait.matches(early):
                del self._early[index]
                self._answer(wait, early.payload)
                return
        timeout = _seconds(data.get("timeout"))
        if remaining_ms is not None:
            timeout = remaining_ms / 1000
        if timeout > 0:
            wait.due_ms = self._now_ms() + int(timeout * 1000)
            wait.timer = asyncio.create_task(self._time_out(wait, timeout))

    def end_execution(self, execution: int) -> None:
        """Close every wait of an execution (it finished or was canceled)."""
        for key in [key for key in self._waits if key[0] == execution]:
            self._close(self._waits[key])

    def carried(self, now_ms: int) -> list[list[Any]]:
        """The open waits for a continued-as-new run: [dispatch, remaining ms or None]."""
        return [
            [
                msgspec.to_builtins(w.command),
                None if w.due_ms is None else max(0, w.due_ms - now_ms),
            ]
            for w in self.open()
        ]

    async def _time_out(self, wait: Wait, seconds: float) -> None:
        await workflow.sleep(seconds)
        if self._waits.get((wait.execution, wait.item)) is not wait:
            return
        self._close(wait)
        self._emit(
            ActionFailed(
                self._now_ms(),
                wait.execution,
                wait.command.attempt,
                ErrorInfo("timeout", f"no {wait.event!r} event within {seconds:g} s"),
                None,
                wait.item,
            )
        )

    def _answer(self, wait: Wait, payload: Any) -> None:
        self._close(wait)
        command, now = wait.command, self._now_ms()
        if wait.approval and isinstance(payload, dict) and payload.get("approved") is False:
            comment = str(payload.get("comment") or "approval rejected")
            error = ErrorInfo("rejected", comment, payload)
            self._emit(ActionFailed(now, wait.execution, command.attempt, error, None, wait.item))
            return
        self._emit(ActionSucceeded(now, wait.execution, command.attempt, payload, wait.item))

    def _close(self, wait: Wait) -> None:
        del self._waits[(wait.execution, wait.item)]
        if wait.timer is not None:
            wait.timer.cancel()
        self._note(wait.change(resolved=True))


def _seconds(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return 0.0
