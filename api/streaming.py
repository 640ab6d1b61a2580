"""Live trace delivery: one LISTEN connection per API process (`TraceHub`) wakes the
SSE subscribers of a run when its trace grows; each subscriber re-reads the store from
its own cursor, so a missed or coalesced notification costs nothing but a little delay.
Without a listening connection, subscribers poll every `poll_seconds` instead."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import msgspec
import psycopg
from litestar.response import ServerSentEventMessage

from api.stream_limits import next_check_delay
from engine.store import (
    TRACE_CHANNEL,
    StorePool,
    TraceEventRecord,
    TraceListener,
    TraceType,
    encode_cursor,
    event_id,
    trace_event_json,
    trace_page,
)

log = logging.getLogger("segue.api.stream")

RUN_END_TYPES = frozenset(
    {TraceType.WORKFLOW_COMPLETED, TraceType.WORKFLOW_FAILED, TraceType.WORKFLOW_CANCELLED}
)
_RELISTEN_SECONDS = 1.0
_PAGE = 200
# While listening, a subscriber still re-reads now and then (a safety net).
_LISTENING_RECHECK_SECONDS = 5.0
# How often an idle stream asks whether its run ended without a terminal event (a run
# terminated in Temporal writes none): after 5 s, then twice as long each time, at most
# every 60 s; the answer is shared by every stream of the run (api/stream_limits.py).
_END_CHECK_SECONDS = 5.0
_END_CHECK_MAX_SECONDS = 60.0


class TraceHub:
    """Fans trace notifications out to per-run subscribers."""

    def __init__(
        self,
        conninfo: str,
        store_ready: asyncio.Event,
        *,
        poll_seconds: float = 0.5,
        channel: str = TRACE_CHANNEL,
    ) -> None:
        self._conninfo = conninfo
        self._channel = channel  # the trace's, or the task logs' (LOG_CHANNEL)
        self._store_ready = store_ready
        self.poll_seconds = poll_seconds
        self.listening = False
        self._subscribers: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name=f"segue-{self._channel}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.listening = False

    @contextlib.contextmanager
    def subscribe(self, run_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the run's trace may have grown (clear it, then read)."""
        wakeup = asyncio.Event()
        self._subscribers.setdefault(run_id, set()).add(wakeup)
        try:
            yield wakeup
        finally:
            subscribers = self._subscribers.get(run_id)
            if subscribers is not None:
                subscribers.discard(wakeup)
                if not subscribers:
                    del self._subscribers[run_id]

    @property
    def recheck_seconds(self) -> float:
        """How long a subscriber waits for a wake-up before reading anyway."""
        return _LISTENING_RECHECK_SECONDS if self.listening else self.poll_seconds

    def _wake(self, run_id: str) -> None:
        for wakeup in self._subscribers.get(run_id, ()):
            wakeup.set()

    def _wake_all(self) -> None:
        for subscribers in self._subscribers.values():
            for wakeup in subscribers:
                wakeup.set()

    async def _listen_forever(self) -> None:
        await self._store_ready.wait()  # the schema (and its trigger) exists by then
        while True:
            try:
                async with TraceListener(self._conninfo, self._channel) as listener:
                    self.listening = True
                    self._wake_all()  # anything committed before LISTEN is read now
                    async for run_id, _seq in listener:
                        self._wake(run_id)
            except (psycopg.Error, OSError) as error:
                log.warning("trace listener lost (%s); polling until it is back", error)
            finally:
                self.listening = False
            self._wake_all()
            await asyncio.sleep(_RELISTEN_SECONDS)


def sse_message(record: TraceEventRecord) -> ServerSentEventMessage:
    """One trace event as an SSE message: the trace envelope, `id:` = the event id."""
    envelope = {
        "runId": record.run_id,
        "events": [trace_event_json(record)],
        "cursor": encode_cursor(record.seq),
    }
    return ServerSentEventMessage(
        data=msgspec.json.encode(envelope).decode(), id=event_id(record.seq)
    )


async def trace_stream(
    pool: StorePool,
    hub: TraceHub,
    run_id: str,
    after_seq: int,
    *,
    run_has_ended: Callable[[], Awaitable[bool]],
    keepalive_seconds: float = 15.0,
    end_check_seconds: float = _END_CHECK_SECONDS,
    end_check_max_seconds: float = _END_CHECK_MAX_SECONDS,
) -> AsyncIterator[ServerSentEventMessage]:
    """Every trace event of the run after `after_seq`, in order, as they are written;
    ends after the run's terminal event (or once the run has ended and nothing more
    is written: a run terminated in Temporal has no terminal event)."""
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    next_end_check = loop.time()  # an idle stream checks at once, then less and less often
    check_delay = 0.0
    with hub.subscribe(run_id) as wakeup:
        while True:
            wakeup.clear()  # before reading: a write after the read wakes us again
            try:
                page = await trace_page(pool, run_id, after_seq, _PAGE)
            except psycopg.Error as error:
                log.warning("stream of %s ends: store error %s", run_id, error)
                return  # the client reconnects with Last-Event-ID
            for record in page:
                after_seq = record.seq
                yield sse_message(record)
                if record.type in RUN_END_TYPES:
                    return
            if page:
                last_sent = loop.time()
                check_delay = 0.0  # the run is alive: back to the first pace
                continue
            if loop.time() >= next_end_check:
                check_delay = next_check_delay(
                    check_delay, end_check_seconds, end_check_max_seconds
                )
                next_end_check = loop.time() + check_delay
                if await _ended_quietly(pool, run_id, after_seq, run_has_ended):
                    return
            if loop.time() - last_sent >= keepalive_seconds:
                last_sent = loop.time()
                yield ServerSentEventMessage(data=None, comment="keep-alive")
            # Sleep until a wake-up, the next re-read, or the next end check is due.
            pause = min(hub.recheck_seconds, max(next_end_check - loop.time(), 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), pause)


async def _ended_quietly(
    pool: StorePool,
    run_id: str,
    after_seq: int,
    run_has_ended: Callable[[], Awaitable[bool]],
) -> bool:
    """The run has ended and its trace has nothing after `after_seq`."""
    try:
        if not await run_has_ended():
            return False
        return not await trace_page(pool, run_id, after_seq, 1)
    except psycopg.Error:
        return True
