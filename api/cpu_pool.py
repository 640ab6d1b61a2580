"""CPU-bound request work in other processes, each call with a deadline.

Validating a run input against its schema or checking a workflow file can take seconds
of CPU (`uniqueItems` over 4,000 objects: 17 s; six large files at once held `/health`
for 22 s in threads, issue 11 case 7). A thread cannot be stopped and holds the GIL the
event loop needs; a process can be killed. So each slot here is a one-process pool: a
call that overruns its deadline kills its slot's process (the slot starts a new one)
and fails with `CpuDeadlineExceeded`, and the event loop never runs the work itself.
The slots are few (`slots`, 2 by default: the API's share of a small machine), so a
burst of costly requests waits for a slot, within the same deadline, instead of
starting a process each.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.pool
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

T = TypeVar("T")

DEFAULT_SLOTS: Final = 2
# `forkserver`: children fork from a small clean process, not from the API with its
# threads and sockets (what `fork` would copy), and start faster than `spawn`.
_CONTEXT: Final = multiprocessing.get_context("forkserver")


class CpuDeadlineExceeded(Exception):
    """The work did not finish within its deadline and was stopped."""


class CpuPoolBusy(Exception):
    """No slot came free within the deadline."""


class _Slot:
    def __init__(self) -> None:
        self.pool = _CONTEXT.Pool(1)

    def restart(self) -> None:
        self.pool.terminate()  # SIGTERM to the process still running the work
        self.pool = _CONTEXT.Pool(1)


class CpuPool:
    """A few worker processes for CPU-bound request work, each call with a deadline."""

    def __init__(self, slots: int = DEFAULT_SLOTS) -> None:
        self._size = slots
        self._slots: list[_Slot] = []
        self._free: asyncio.Queue[_Slot] | None = None

    def start(self) -> None:
        """Start the worker processes (call from the event loop that will use them)."""
        self._free = asyncio.Queue()
        self._slots = [_Slot() for _ in range(self._size)]
        for slot in self._slots:
            self._free.put_nowait(slot)

    async def warm(self, fn: Callable[[], Any]) -> None:
        """Run `fn` once in every slot (imports are paid before the first request)."""
        slots = [await self._take(time.monotonic() + 60) for _ in range(self._size)]
        try:
            await asyncio.gather(*(self._call(slot, fn, (), 60.0) for slot in slots))
        finally:
            for slot in slots:
                self._give(slot)

    async def run(self, fn: Callable[..., T], *args: Any, deadline_seconds: float) -> T:
        """`fn(*args)` in a worker process; `CpuPoolBusy` if no slot came free and
        `CpuDeadlineExceeded` if it ran past the deadline (its process is killed)."""
        deadline = time.monotonic() + deadline_seconds
        slot = await self._take(deadline)
        try:
            return await self._call(slot, fn, args, deadline - time.monotonic())
        finally:
            self._give(slot)

    async def _take(self, deadline: float) -> _Slot:
        if self._free is None:
            raise RuntimeError("CpuPool.start() has not run")
        try:
            return await asyncio.wait_for(self._free.get(), max(deadline - time.monotonic(), 0))
        except TimeoutError:
            raise CpuPoolBusy("every worker process stayed busy until the deadline") from None

    def _give(self, slot: _Slot) -> None:
        assert self._free is not None
        self._free.put_nowait(slot)

    async def _call(
        self, slot: _Slot, fn: Callable[..., T], args: tuple[Any, ...], seconds: float
    ) -> T:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()

        def settle(outcome: Any, *, failed: bool) -> None:
            if done.done():
                return
            if failed:
                done.set_exception(outcome)
            else:
                done.set_result(outcome)

        slot.pool.apply_async(
            fn,
            args,
            callback=lambda value: loop.call_soon_threadsafe(lambda: settle(value, failed=False)),
            error_callback=lambda error: loop.call_soon_threadsafe(
                lambda: settle(error, failed=True)
            ),
        )
        try:
            return await asyncio.wait_for(asyncio.shield(done), max(seconds, 0.001))
        except TimeoutError:
            await asyncio.to_thread(slot.restart)  # terminate() waits for the process
            raise CpuDeadlineExceeded(f"stopped after {seconds:.1f} s") from None
        except asyncio.CancelledError:
            slot.restart()  # the caller went away: its work must not hold the slot
            raise

    def close(self) -> None:
        for slot in self._slots:
            slot.pool.terminate()
        self._slots = []
        self._free = None
