"""Task logs, live: a page by cursor, and an SSE stream that follows the run's log until
the run has ended and every line is sent. Same wake-ups as the trace stream (a LISTEN
hub of its own channel), the same stream limits; lines carry `id:` = their log id so a
client resumes with `Last-Event-ID`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC
from typing import Final

import msgspec
import psycopg
from litestar.response import ServerSentEventMessage

from api.stream_limits import next_check_delay
from api.streaming import TraceHub
from api.wire import Progress, RunStatusView, TaskProgressView
from engine.store import (
    LogRecord,
    StorePool,
    encode_log_cursor,
    get_run,
    iso_utc,
    log_line_id,
    log_line_json,
    log_page,
    running_progress,
)

log = logging.getLogger("segue.api.logs")

_PAGE: Final = 500
# How often an idle log stream asks the store whether its run has ended: cheap (one
# row), and the only news of the end a log stream gets (a run's end writes no line).
_STORE_END_CHECK_SECONDS: Final = 1.0


class LogFilter(msgspec.Struct, frozen=True):
    task: str | None = None
    execution: int | None = None


def log_sse_message(run_id: str, record: LogRecord) -> ServerSentEventMessage:
    """One log line as an SSE message: the logs envelope, `id:` = the line's id."""
    envelope = {
        "runId": run_id,
        "logs": [log_line_json(record)],
        "cursor": encode_log_cursor(record.run_seq),
    }
    return ServerSentEventMessage(
        data=msgspec.json.encode(envelope).decode(), id=log_line_id(record.run_seq)
    )


async def log_stream(
    pool: StorePool,
    hub: TraceHub,
    run_id: str,
    after: int,
    where: LogFilter,
    *,
    run_has_ended: Callable[[], Awaitable[bool]],
    keepalive_seconds: float = 15.0,
    end_check_seconds: float = 5.0,
    end_check_max_seconds: float = 60.0,
) -> AsyncIterator[ServerSentEventMessage]:
    """Every log line of the run after `after` (of one task or execution if asked), in
    order, as they are written; ends once the run has ended and nothing more is stored."""
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    next_store_check = loop.time()
    next_end_check = loop.time() + end_check_seconds
    check_delay = 0.0
    with hub.subscribe(run_id) as wakeup:
        while True:
            wakeup.clear()  # before reading: a write after the read wakes us again
            try:
                page = await log_page(
                    pool, run_id, after, _PAGE, task=where.task, execution=where.execution
                )
            except psycopg.Error as error:
                log.warning("log stream of %s ends: store error %s", run_id, error)
                return  # the client reconnects with Last-Event-ID
            for record in page:
                after = record.run_seq
                yield log_sse_message(run_id, record)
            if page:
                last_sent = loop.time()
                check_delay = 0.0
                continue
            if await _ended(
                loop.time(), next_store_check, next_end_check, pool, run_id, run_has_ended
            ):
                # Lines are stored before the attempt's result reaches the run, so none
                # can follow its end; read once more for any committed since the page.
                tail = await log_page(
                    pool, run_id, after, _PAGE, task=where.task, execution=where.execution
                )
                for record in tail:
                    after = record.run_seq
                    yield log_sse_message(run_id, record)
                if not tail:
                    return
                continue
            now = loop.time()
            if now >= next_store_check:
                next_store_check = now + _STORE_END_CHECK_SECONDS
            if now >= next_end_check:
                check_delay = next_check_delay(
                    check_delay, end_check_seconds, end_check_max_seconds
                )
                next_end_check = now + check_delay
            if now - last_sent >= keepalive_seconds:
                last_sent = now
                yield ServerSentEventMessage(data=None, comment="keep-alive")
            pause = min(hub.recheck_seconds, max(next_store_check - loop.time(), 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), pause)


async def _ended(
    now: float,
    next_store_check: float,
    next_end_check: float,
    pool: StorePool,
    run_id: str,
    run_has_ended: Callable[[], Awaitable[bool]],
) -> bool:
    """Whether the run has ended: the store's row when its check is due, else Temporal's
    word (shared and backing off, for a run terminated without a word to the store)."""
    try:
        if now >= next_store_check:
            record = await get_run(pool, run_id)
            if record is None or record.status.is_terminal:
                return True
        if now >= next_end_check:
            return await run_has_ended()
    except psycopg.Error:
        return True
    return False


async def with_task_progress(pool: StorePool, view: RunStatusView) -> RunStatusView:
    """The status payload with the progress of its running actions (`progress.tasks`)."""
    if view.status not in ("RUNNING", "PAUSED"):
        return view
    records = await running_progress(pool, view.run_id)
    if not records:
        return view
    tasks = [
        TaskProgressView(
            task=record.task,
            execution=record.execution,
            item=record.item,
            attempt=record.attempt,
            done=_number(record.done),
            total=None if record.total is None else _number(record.total),
            message=record.message,
            updated_at=iso_utc(record.updated_at.astimezone(UTC)),
        )
        for record in records
    ]
    progress = Progress(
        completed_actions=view.progress.completed_actions,
        total_actions=view.progress.total_actions,
        tasks=tasks,
    )
    return msgspec.structs.replace(view, progress=progress)


def _number(value: float) -> int | float:
    """Whole numbers as integers (`3`, not `3.0`), as the action gave them."""
    return int(value) if value.is_integer() else value
