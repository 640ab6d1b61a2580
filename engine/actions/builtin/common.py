"""What several built-in actions share: output limits and a heartbeat while waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

from engine.actions.api import ActionContext

# Text outputs (HTTP bodies, process output) larger than this are cut, with a flag.
OUTPUT_LIMIT: Final = 64 * 1024
# Built-ins that wait heartbeat this often; they declare a heartbeat timeout of HEARTBEAT_TIMEOUT.
HEARTBEAT_INTERVAL: Final = 5.0
HEARTBEAT_TIMEOUT: Final = 30.0


def truncate_utf8(text: str, limit: int = OUTPUT_LIMIT) -> tuple[str, bool]:
    """`text` cut to at most `limit` UTF-8 bytes (never inside a character), and whether it was."""
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= limit:
        return text, False
    return encoded[:limit].decode("utf-8", errors="ignore"), True


def decode_limited(data: bytes, truncated: bool, encoding: str = "utf-8") -> tuple[str, bool]:
    """Bytes read with a cap, as text cut to OUTPUT_LIMIT bytes; `truncated` is carried over."""
    try:
        decoded = data.decode(encoding, errors="replace")
    except LookupError:  # a charset Python does not know
        decoded = data.decode("utf-8", errors="replace")
    text, cut = truncate_utf8(decoded)
    return text, truncated or cut


@asynccontextmanager
async def heartbeating(
    context: ActionContext,
    details: Callable[[], Any] = lambda: None,
    interval: float | None = None,
) -> AsyncIterator[None]:
    """Call `context.heartbeat(details())` every `interval` (default HEARTBEAT_INTERVAL)
    seconds while the block runs."""
    period = HEARTBEAT_INTERVAL if interval is None else interval

    async def beat() -> None:
        while True:
            await asyncio.sleep(period)
            context.heartbeat(details())

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        # wait() neither raises the beat's CancelledError nor swallows our own cancellation.
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # a failing host heartbeat must not mask the action's outcome
