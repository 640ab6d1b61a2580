"""Notifications of new trace events (`pg_notify('segue_trace', 'run_id:seq')`, one per
run per insert, with the highest seq it added), for fanning out to SSE subscribers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow

TRACE_CHANNEL = "segue_trace"


def parse_notification(payload: str) -> tuple[str, int]:
    """(run_id, seq) from a notification payload; run ids may contain colons."""
    run_id, _, seq = payload.rpartition(":")
    return run_id, int(seq)


class TraceListener:
    """A dedicated connection listening on the trace channel. Once `async with` has
    entered, every later commit of trace events is delivered; iterate for (run_id, seq).
    Iteration ends with `psycopg.OperationalError` if the connection is lost: the owner
    reconnects and re-reads each subscriber's page from its cursor."""

    def __init__(self, conninfo: str, channel: str = TRACE_CHANNEL) -> None:
        self._conninfo = conninfo
        self._channel = channel  # or the task-log channel, whose payloads look the same
        self._conn: AsyncConnection[TupleRow] | None = None

    async def __aenter__(self) -> TraceListener:
        self._conn = await AsyncConnection.connect(self._conninfo, autocommit=True)
        await self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aiter__(self) -> AsyncIterator[tuple[str, int]]:
        if self._conn is None:
            raise RuntimeError("TraceListener is not open: use `async with`")
        async for notification in self._conn.notifies():
            yield parse_notification(notification.payload)


async def listen_trace(conninfo: str) -> AsyncIterator[tuple[str, int]]:
    """(run_id, seq) for each trace insert committed after the first item is awaited.
    Use `TraceListener` when you must know that listening has begun."""
    async with TraceListener(conninfo) as listener:
        async for item in listener:
            yield item
