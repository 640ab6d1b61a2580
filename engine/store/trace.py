"""The trace: events written by the interpreter workflow exactly once each, in seq order,
together with the run's projection; read back by cursor for the API.

Event ids: the JSON `id` of an event is its seq as a zero-padded 12-digit decimal
(`000000000042`), so ids sort the same as text and as numbers and parse back with
`seq_from_event_id`. (Past 10^12 events in one run they grow longer and stay numeric.)"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from engine.store._db import StorePool, fetch_all, from_ms, iso_utc, jsonb
from engine.store.errors import InvalidCursor, RunNotFound
from engine.store.runs import (
    RunStatus,
    lock_run,
    set_run_columns,
    settle_status,
    status_changes,
)


class TraceType(StrEnum):
    STARTED = "STARTED"
    PROGRESS = "PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TRANSITION = "TRANSITION"  # why an edge was taken or not (behaviour 3 on)
    WORKFLOW_STARTED = "WORKFLOW_STARTED"
    WORKFLOW_COMPLETED = "WORKFLOW_COMPLETED"
    WORKFLOW_FAILED = "WORKFLOW_FAILED"
    WORKFLOW_CANCELLED = "WORKFLOW_CANCELLED"
    WORKFLOW_QUEUED = "WORKFLOW_QUEUED"  # waiting for a concurrency limit's slot


class TraceLevel(StrEnum):
    INFO = "info"
    WARN = "warn"
    ERROR = "error"
    DEBUG = "debug"


class TraceEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    """An event as the writer hands it over. `seq` starts at 1 and is assigned by the
    writer deterministically, so a retried write repeats the same seqs. Task events
    carry `node_id` (the task name); run events (`WORKFLOW_*`) must not."""

    seq: int
    type: str
    level: str
    timestamp_ms: int
    node_id: str | None = None
    message: str | None = None
    error: dict[str, Any] | None = None
    output_summary: str | None = None
    data: dict[str, Any] | None = None


class RunProjection(msgspec.Struct, frozen=True, omit_defaults=True):
    """Run fields a trace write sets alongside its events; None leaves a field as is."""

    status: str | None = None
    output: Any = None
    errors: list[Any] | None = None
    errors_dropped: int | None = None
    failure: dict[str, Any] | None = None
    progress_completed: int | None = None
    progress_total: int | None = None
    history_length: int | None = None
    started_at_ms: int | None = None
    completed_at_ms: int | None = None
    temporal_run_id: str | None = None
    rerun_point: Any = None  # a failed run: where a rerun from the failed tasks starts


class TraceEventRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored trace event."""

    run_id: str
    seq: int
    node_id: str | None
    type: TraceType
    level: TraceLevel
    timestamp: datetime
    message: str | None
    error: dict[str, Any] | None
    output_summary: str | None
    data: dict[str, Any] | None


# One statement for the whole batch; rows already there (a retry) are skipped, and the
# row count is the number really added.
INSERT_EVENTS = """
INSERT INTO trace_events
    (run_id, seq, node_id, type, level, ts, message, error, output_summary, data)
SELECT %(run_id)s, batch.seq, batch.node_id, batch.type, batch.level,
    timestamptz 'epoch' + batch.timestamp_ms * interval '1 millisecond',
    batch.message, batch.error, batch.output_summary, batch.data
FROM unnest(%(seq)s::bigint[], %(node_id)s::text[], %(type)s::text[], %(level)s::text[],
    %(timestamp_ms)s::bigint[], %(message)s::text[], %(error)s::jsonb[],
    %(output_summary)s::text[], %(data)s::jsonb[])
    AS batch (seq, node_id, type, level, timestamp_ms, message, error, output_summary, data)
ON CONFLICT (run_id, seq) DO NOTHING
"""
SELECT_PAGE = """
SELECT run_id, seq, node_id, type, level, ts AS timestamp, message, error, output_summary, data
FROM trace_events WHERE run_id = %s AND seq > %s ORDER BY seq LIMIT %s
"""

MAX_PAGE_SIZE = 1000
_EVENT_ID_DIGITS = 12
_MIN_SUMMARY = 32  # room for the "… (N bytes)" note and a little of the value


async def append_trace(
    pool: StorePool,
    run_id: str,
    events: list[TraceEvent],
    projection: RunProjection | None = None,
) -> int:
    """Insert the events and apply the projection in one transaction; returns how many
    events were new. Safe to retry: known seqs are skipped, `last_seq` only grows, and a
    batch that is not newer than what the run already reflects (a retry, or an older
    write arriving late) leaves the run row alone. A projection without events always
    applies. A terminal status never goes back (see `settle_status`). The run must exist
    (`RunNotFound`)."""
    batch_last_seq = max((event.seq for event in events), default=None)
    inserted = 0
    async with pool.connection() as conn, conn.transaction():
        # Lock first: the inserts take a key-share lock on the run, and taking the row
        # lock after them could deadlock with a concurrent writer of the same run.
        state = await lock_run(conn, run_id)
        if state is None:
            raise RunNotFound(run_id)
        if events:
            async with conn.cursor() as cursor:
                await cursor.execute(INSERT_EVENTS, _batch_params(run_id, events))
                inserted = cursor.rowcount
        if batch_last_seq is not None and batch_last_seq <= state.last_seq:
            return inserted  # a retry or a late older write: the run row stays as it is
        changes = {} if projection is None else _projection_changes(state.status, projection)
        if batch_last_seq is not None:
            changes["last_seq"] = batch_last_seq
        if changes:
            await set_run_columns(conn, run_id, changes)
    return inserted


def _batch_params(run_id: str, events: list[TraceEvent]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "seq": [event.seq for event in events],
        "node_id": [event.node_id for event in events],
        "type": [event.type for event in events],
        "level": [event.level for event in events],
        "timestamp_ms": [event.timestamp_ms for event in events],
        "message": [event.message for event in events],
        "error": [jsonb(event.error) for event in events],
        "output_summary": [event.output_summary for event in events],
        "data": [jsonb(event.data) for event in events],
    }


def _projection_changes(current: RunStatus, projection: RunProjection) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "output": projection.output,
        "errors": projection.errors,
        "errors_dropped": projection.errors_dropped,
        "failure": projection.failure,
        "progress_completed": projection.progress_completed,
        "progress_total": projection.progress_total,
        "history_length": projection.history_length,
        "temporal_run_id": projection.temporal_run_id,
        "rerun_point": projection.rerun_point,
    }
    started_at = _optional_time(projection.started_at_ms)
    completed_at = _optional_time(projection.completed_at_ms)
    if projection.status is not None:
        status = settle_status(current, RunStatus(projection.status), authoritative=True)
        if status != current:
            changes.update(status_changes(status, started_at, completed_at))
    changes.setdefault("started_at", started_at)
    changes.setdefault("completed_at", completed_at)
    return changes


def _optional_time(timestamp_ms: int | None) -> datetime | None:
    return None if timestamp_ms is None else from_ms(timestamp_ms)


async def trace_page(
    pool: StorePool, run_id: str, after_seq: int, limit: int = 200
) -> list[TraceEventRecord]:
    """Up to `limit` events of the run with seq greater than `after_seq`, by seq, without
    gaps: writers may store a run's events out of order (an action's activity writes the
    events it carries while the workflow writes others), so a reader sees an event only
    once every earlier one is stored, and a cursor never skips one."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    async with pool.connection() as conn:
        records = await fetch_all(conn, TraceEventRecord, SELECT_PAGE, (run_id, after_seq, limit))
    contiguous = 0
    for expected, record in enumerate(records, start=after_seq + 1):
        if record.seq != expected:
            break
        contiguous += 1
    return records[:contiguous]


def event_id(seq: int) -> str:
    """The JSON `id` (and SSE id) of the event with this seq."""
    return f"{seq:0{_EVENT_ID_DIGITS}d}"


def seq_from_event_id(text: str) -> int:
    """The seq behind an event id (e.g. an SSE `Last-Event-ID`); `InvalidCursor` if it
    is not one."""
    if len(text) < _EVENT_ID_DIGITS or len(text) > 19 or not (text.isascii() and text.isdigit()):
        raise InvalidCursor(f"not an event id: {text!r}")
    seq = int(text)
    if event_id(seq) != text:
        raise InvalidCursor(f"not an event id: {text!r}")
    return seq


def trace_event_json(record: TraceEventRecord) -> dict[str, Any]:
    """The event as the HTTP API and SSE show it (ARCHITECTURE.md "Trace events")."""
    shown: dict[str, Any] = {"id": event_id(record.seq), "runId": record.run_id}
    if record.node_id is not None:
        shown["nodeId"] = record.node_id
    shown.update(
        type=record.type.value, level=record.level.value, timestamp=iso_utc(record.timestamp)
    )
    optional = {
        "message": record.message,
        "error": record.error,
        "outputSummary": record.output_summary,
        "data": record.data,
    }
    shown.update({key: value for key, value in optional.items() if value is not None})
    return shown


def summarize_output(value: Any, limit: int = 1024) -> str:
    """Compact JSON of `value`, at most `limit` characters: a longer one is cut and ends
    with `… (N bytes)`, N being the size of the whole JSON."""
    if limit < _MIN_SUMMARY:
        raise ValueError(f"limit must be at least {_MIN_SUMMARY}, got {limit}")
    encoded = msgspec.json.encode(value, enc_hook=str)
    text = encoded.decode("utf-8")
    if len(text) <= limit:
        return text
    suffix = f"… ({len(encoded)} bytes)"
    return text[: max(limit - len(suffix), 0)] + suffix
