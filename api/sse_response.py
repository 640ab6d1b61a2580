"""One live stream as an HTTP response: admitted under the stream limits (per client,
per process), its slot given back however the stream ends, and headers that keep
proxies from buffering it. Shared by the trace stream and the task-log stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.response import ServerSentEvent, ServerSentEventMessage

from api.runs import run_has_ended
from api.services import Services
from engine.store import seq_from_event_id

# Given "has the run ended?" (shared and backing off), the stream's messages.
MessageSource = Callable[[Callable[[], Awaitable[bool]]], AsyncIterator[ServerSentEventMessage]]


def resume_point(
    last_event_id: str | None, cursor: str | None, decode_cursor: Callable[[str], int]
) -> int:
    """Where a stream starts: after its `Last-Event-ID` (trace event ids and log line ids
    are spelt alike, 12 digits zero-padded), else after `cursor`, else at the start."""
    if last_event_id:
        return seq_from_event_id(last_event_id.strip())
    return decode_cursor(cursor) if cursor else 0


def admitted_stream(
    request: Request[Any, Any, Any], services: Services, run_id: str, source: MessageSource
) -> ServerSentEvent:
    """The stream `source` makes, once the limits admit it (429/503 otherwise)."""
    client = request.client.host if request.client else "unknown"
    slot = services.streams.admit(client)

    async def ended() -> bool:
        return await services.end_checks.ended(run_id, lambda: run_has_ended(services, run_id))

    async def messages() -> AsyncIterator[ServerSentEventMessage]:
        try:
            async for message in source(ended):
                yield message
        finally:
            slot.release()

    stream = messages()
    slot.tie_to(stream)
    return ServerSentEvent(stream, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
