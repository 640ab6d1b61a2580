"""`POST /runs/{runId}/signals/{task}`: answer a waiting task, or one item of a with-items
task, and say precisely why not when it cannot be answered.

When the run can be asked (its `progress` query), the signal is pinned to the wait it
answers (execution and item): the run drops a pinned signal whose wait has meanwhile
ended, so a second answer for the same wait approves nothing. When the run cannot be
asked in time, the signal goes out addressed by task (and item) only, unconfirmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.problems import conflict
from api.runs import live_progress, require_live, require_run
from api.services import Services
from api.wire import SignalAccepted, SignalRequest
from engine.temporal.client import ExecutionNotFound, deliver
from engine.temporal.types import SignalPayload


@dataclass(frozen=True, slots=True)
class OpenWait:
    """One open wait as the run's `progress` query reports it."""

    task: str
    execution: int
    item: int | None

    @classmethod
    def from_progress(cls, raw: dict[str, Any]) -> OpenWait:
        item = raw.get("item")
        return cls(str(raw.get("task")), int(raw.get("execution", 0)), _index(item))


def _index(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def choose_wait(waits: list[OpenWait], task: str, item: int | None) -> OpenWait:
    """The wait a signal for `task` (and `item`) answers: the oldest that matches; a 409
    problem naming what is waiting when none does."""
    of_task = [wait for wait in waits if wait.task == task]
    if not of_task:
        raise conflict(
            "TASK_NOT_WAITING",
            f"task {task!r} is not waiting for a signal",
            waiting=sorted({wait.task for wait in waits}),
        )
    items = sorted({wait.item for wait in of_task if wait.item is not None})
    if item is None and items:
        raise conflict(
            "ITEM_REQUIRED",
            f"task {task!r} waits once per with-items item; name the item to answer, "
            f'e.g. {{"item": {items[0]}, "payload": …}}',
            waitingItems=items,
        )
    if item is not None and not items:
        raise conflict(
            "ITEM_NOT_WAITING",
            f"task {task!r} has no items (it is not a with-items task); send no `item`",
            waitingItems=[],
        )
    matching = [wait for wait in of_task if wait.item == item]
    if not matching:
        raise conflict(
            "ITEM_NOT_WAITING",
            f"item {item} of task {task!r} is not waiting: there is no such item, it has "
            "not started yet, or it has already finished or been answered",
            waitingItems=items,
        )
    return min(matching, key=lambda wait: wait.execution)


async def signal_task(
    services: Services, run_id: str, task: str, request: SignalRequest
) -> SignalAccepted:
    """Deliver the payload to the wait of `task` (and `request.item`) of the run."""
    record = await require_run(services, run_id)
    await require_live(services, record, "RUN_NOT_RUNNING")
    live = await live_progress(services, run_id)
    signal = SignalPayload(payload=request.payload, task=task, item=request.item)
    if live is not None:
        waits = [OpenWait.from_progress(raw) for raw in live.get("waiting", [])]
        signal.execution = choose_wait(waits, task, request.item).execution
    try:
        await deliver(services.temporal, run_id, signal, timeout=services.temporal_timeout)
    except ExecutionNotFound:
        raise conflict("RUN_NOT_RUNNING", "the run ended before the signal arrived") from None
    return SignalAccepted(
        run_id=run_id, task=task, item=request.item, accepted=True, confirmed=live is not None
    )
