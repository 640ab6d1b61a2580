"""The worker's link to the PostgreSQL store: trace batches in, workflow versions out."""

from __future__ import annotations

import msgspec
import psycopg

from engine.store import (
    LogLine,
    NewArtifact,
    NewRun,
    ProgressRecord,
    RunNotFound,
    RunProjection,
    RunStatus,
    StorePool,
    TraceEvent,
    add_wait,
    append_logs,
    append_trace,
    clear_progress,
    create_run,
    get_workflow_version,
    open_pool,
    put_artifact,
    resolve_wait,
    set_progress,
    summarize_output,
)
from engine.temporal.activities import TraceSink, TraceUnrecordable, WorkflowLookup
from engine.temporal.storable import storable
from engine.temporal.types import TraceBatch, TraceRecord, WorkflowFound


def _event(record: TraceRecord) -> TraceEvent:
    return TraceEvent(
        seq=record.seq,
        type=record.type,
        level=record.level,
        timestamp_ms=record.timestamp_ms,
        node_id=record.node_id,
        message=storable(record.message),
        error=storable(record.error),
        # Cut to depth before it is encoded: the summary's encoder recurses too.
        output_summary=summarize_output(storable(record.output)) if record.has_output else None,
        data=storable(record.data),
    )


def trace_sink(pool: StorePool) -> TraceSink:
    """Write a batch: events exactly once, the run projection, the waits index."""

    async def write(batch: TraceBatch) -> None:
        try:
            await _write(batch)
        except (psycopg.OperationalError, psycopg.InterfaceError, OSError, TimeoutError):
            raise  # the database is away: the write is retried until it comes back
        except Exception as error:
            # Anything else fails the same way on every retry (a value the store cannot
            # hold, a bug): retrying it for ever would wedge the run (issue 11, case 1).
            raise TraceUnrecordable(f"{type(error).__name__}: {error}") from error

    async def _write(batch: TraceBatch) -> None:
        events = [_event(record) for record in batch.events]
        projection = (
            msgspec.convert(storable(msgspec.to_builtins(batch.projection)), RunProjection)
            if batch.projection
            else None
        )
        try:
            await append_trace(pool, batch.run_id, events, projection)
        except RunNotFound:
            # A run the API did not start (a child run, or one started by hand).
            await create_run(
                pool,
                NewRun(
                    run_id=batch.run_id,
                    workflow_name=batch.workflow,
                    workflow_version=batch.version,
                    task_queue=batch.task_queue,
                    parent_run_id=batch.parent_run_id,
                    temporal_workflow_id=batch.run_id,
                    status=RunStatus.RUNNING,
                    schedule_id=batch.schedule_id,
                ),
            )
            await append_trace(pool, batch.run_id, events, projection)
        for change in batch.waits:
            if change.resolved:
                await resolve_wait(pool, batch.run_id, change.execution, change.item)
            else:
                await add_wait(
                    pool,
                    batch.run_id,
                    change.task,
                    change.execution,
                    change.event_name,
                    change.correlation_key,
                    change.item,
                )

    return write


class StoreTaskLogs:
    """Attempts' logs, progress and artifacts into the store (engine/temporal/task_logs.py)."""

    def __init__(self, pool: StorePool) -> None:
        self._pool = pool

    async def lines(self, run_id: str, lines: list[LogLine]) -> int:
        return await append_logs(self._pool, run_id, lines)

    async def progress(self, run_id: str, record: ProgressRecord) -> None:
        await set_progress(self._pool, run_id, record)

    async def clear_progress(self, run_id: str, execution: int, item: int | None) -> None:
        await clear_progress(self._pool, run_id, execution, item)

    async def artifact(self, run_id: str, artifact: NewArtifact) -> int:
        return await put_artifact(self._pool, run_id, artifact)


def workflow_lookup(pool: StorePool) -> WorkflowLookup:
    """The latest registered version of a workflow."""

    async def lookup(name: str) -> WorkflowFound | None:
        found = await get_workflow_version(pool, name)
        if found is None:
            return None
        return WorkflowFound(found.name, found.version, found.yaml)

    return lookup


async def store_bindings(url: str) -> tuple[StorePool, TraceSink, WorkflowLookup]:
    pool = await open_pool(url)
    return pool, trace_sink(pool), workflow_lookup(pool)
