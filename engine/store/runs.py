"""Runs: the projection of each Temporal execution that the API lists and shows.
Runs are never deleted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
from psycopg import errors, sql

from engine.statuses import ApiStatus
from engine.store._db import (
    StoreConnection,
    StorePool,
    fetch_all,
    fetch_one,
    fetch_value,
    from_us,
    jsonb,
    to_us,
)
from engine.store.cursors import decode_runs_cursor, encode_runs_cursor
from engine.store.errors import RunNotFound, UnknownWorkflowVersion

# The API's words for a run's status (engine/statuses.py owns them and their tables).
RunStatus = ApiStatus


def settle_status(current: RunStatus, proposed: RunStatus, *, authoritative: bool) -> RunStatus:
    """The status a run takes when a writer proposes one. A terminal status never goes
    back to a non-terminal one. Between terminal statuses only the workflow itself
    (`authoritative`: its trace writes) decides: if the API recorded CANCELLED once
    Temporal accepted the cancel but the workflow still completed, COMPLETED wins.

    | current      | proposed     | API update | workflow write |
    |--------------|--------------|------------|----------------|
    | non-terminal | anything     | proposed   | proposed       |
    | terminal     | non-terminal | current    | current        |
    | terminal     | terminal     | current    | proposed       |
    """
    if not current.is_terminal:
        return proposed
    if proposed.is_terminal and authoritative:
        return proposed
    return current


class NewRun(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    workflow_name: str
    workflow_version: int
    task_queue: str
    input: Any = msgspec.field(default_factory=dict)
    idempotency_key: str | None = None
    # Keys of one operation never meet another's: `start` or `rerun`.
    idempotency_scope: str = "start"
    request_hash: str | None = None  # of the request that used the key first
    parent_run_id: str | None = None
    rerun_of: str | None = None
    rerun_from_failed: bool = False  # starts where `rerun_of` stopped, not from the top
    temporal_workflow_id: str | None = None
    status: RunStatus = RunStatus.QUEUED
    schedule_id: str | None = None  # the Temporal Schedule that started it


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A run's row. `existing` is set by `create_run` only: True when an earlier run with
    the same idempotency key was returned instead of a new one."""

    run_id: str
    workflow_name: str
    workflow_version: int
    task_queue: str
    temporal_workflow_id: str | None
    temporal_run_id: str | None
    status: RunStatus
    input: Any
    output: Any
    errors: Any
    failure: dict[str, Any] | None
    idempotency_key: str | None
    parent_run_id: str | None
    rerun_of: str | None
    rerun_from_failed: bool
    progress_completed: int
    progress_total: int | None
    history_length: int
    last_seq: int
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime
    completed_at: datetime | None
    request_hash: str | None = None
    errors_dropped: int = 0
    schedule_id: str | None = None
    existing: bool = False


class RunPage(msgspec.Struct, frozen=True):
    """One page of runs, newest first; `next_cursor` is None on the last page."""

    runs: list[RunRecord]
    next_cursor: str | None


RUN_COLUMNS = """run_id, workflow_name, workflow_version, task_queue, temporal_workflow_id,
    temporal_run_id, status, input, output, errors, failure, idempotency_key, parent_run_id,
    rerun_of, rerun_from_failed, progress_completed, progress_total, history_length, last_seq,
    created_at, started_at, updated_at, completed_at, request_hash, errors_dropped, schedule_id"""

INSERT_RUN = f"""
INSERT INTO runs (run_id, workflow_name, workflow_version, task_queue, temporal_workflow_id,
    status, input, idempotency_key, idempotency_scope, request_hash, parent_run_id, rerun_of,
    rerun_from_failed, schedule_id, started_at)
VALUES (%(run_id)s, %(workflow_name)s, %(workflow_version)s, %(task_queue)s,
    %(temporal_workflow_id)s, %(status)s, %(input)s, %(idempotency_key)s,
    %(idempotency_scope)s, %(request_hash)s, %(parent_run_id)s, %(rerun_of)s,
    %(rerun_from_failed)s, %(schedule_id)s,
    -- A run recorded already running (a child or scheduled run, by its first trace
    -- write) started now; otherwise its end would stamp the start too.
    CASE WHEN %(status)s = 'QUEUED' THEN NULL ELSE now() END)
ON CONFLICT ON CONSTRAINT runs_idempotency_key DO NOTHING
RETURNING {RUN_COLUMNS}
"""
SELECT_BY_IDEMPOTENCY_KEY = f"""
SELECT {RUN_COLUMNS}, true AS existing FROM runs
WHERE workflow_name = %s AND idempotency_scope = %s AND idempotency_key = %s
"""
SELECT_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = %s"
SELECT_RERUN_POINT = "SELECT rerun_point FROM runs WHERE run_id = %s"
LOCK_RUN = """
SELECT status, last_seq, temporal_workflow_id, temporal_run_id, history_length
FROM runs WHERE run_id = %s
FOR NO KEY UPDATE
"""

# Columns a status update or a trace projection may set, and which of them hold JSON.
UPDATABLE_COLUMNS = frozenset(
    {
        "status",
        "temporal_workflow_id",
        "temporal_run_id",
        "output",
        "errors",
        "errors_dropped",
        "failure",
        "progress_completed",
        "progress_total",
        "history_length",
        "last_seq",
        "started_at",
        "completed_at",
        "rerun_point",
    }
)
JSON_COLUMNS = frozenset({"output", "errors", "failure", "rerun_point"})

MAX_PAGE_SIZE = 1000


class RunState(msgspec.Struct, frozen=True):
    """What a writer must know about a run before changing it (the row is locked)."""

    status: RunStatus
    last_seq: int
    temporal_workflow_id: str | None
    temporal_run_id: str | None
    history_length: int = 0

    @property
    def written_by_the_workflow(self) -> bool:
        """Whether the run's workflow has written its projection (every write of the
        workflow carries its history length; its events move `last_seq`)."""
        return self.last_seq > 0 or self.history_length > 0


async def create_run(pool: StorePool, new_run: NewRun) -> RunRecord:
    """Record a new run; with an idempotency key already used for this workflow and
    operation, return that earlier run instead (`existing=True`); the caller compares
    its `request_hash`."""
    params = msgspec.structs.asdict(new_run)
    params["input"] = jsonb({} if new_run.input is None else new_run.input)
    async with pool.connection() as conn, conn.transaction():
        try:
            created = await fetch_one(conn, RunRecord, INSERT_RUN, params)
        except errors.ForeignKeyViolation as error:
            if error.diag.constraint_name == "runs_workflow_version_fkey":
                raise UnknownWorkflowVersion(
                    new_run.workflow_name, new_run.workflow_version
                ) from error
            raise
        if created is not None:
            return created
        # The key was taken (perhaps by a transaction that committed while we waited).
        key = (new_run.workflow_name, new_run.idempotency_scope, new_run.idempotency_key)
        existing = await fetch_one(conn, RunRecord, SELECT_BY_IDEMPOTENCY_KEY, key)
    assert existing is not None  # the conflict was with a committed row
    return existing


async def get_run(pool: StorePool, run_id: str) -> RunRecord | None:
    async with pool.connection() as conn:
        return await fetch_one(conn, RunRecord, SELECT_RUN, (run_id,))


async def get_rerun_point(pool: StorePool, run_id: str) -> Any:
    """Where a failed run stopped (the coordinator's RerunPoint as JSON); None when the
    run is unknown, not failed, or left nothing to rerun. Kept out of `RunRecord`: it
    holds contexts, and listings never need it."""
    async with pool.connection() as conn:
        return await fetch_value(conn, SELECT_RERUN_POINT, (run_id,))


async def list_runs(
    pool: StorePool,
    *,
    workflow: str | None = None,
    status: RunStatus | str | None = None,
    schedule: str | None = None,
    limit: int = 50,
    before: str | None = None,
) -> RunPage:
    """Runs newest first (by creation time, then run id), optionally filtered; pass the
    page's `next_cursor` as `before` for the next page. A bad cursor is `InvalidCursor`."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    conditions: list[sql.Composable] = []
    params: dict[str, Any] = {"limit": limit + 1}
    if workflow is not None:
        conditions.append(sql.SQL("workflow_name = %(workflow)s"))
        params["workflow"] = workflow
    if status is not None:
        conditions.append(sql.SQL("status = %(status)s"))
        params["status"] = RunStatus(status)
    if schedule is not None:
        conditions.append(sql.SQL("schedule_id = %(schedule)s"))
        params["schedule"] = schedule
    if before is not None:
        created_at_us, run_id = decode_runs_cursor(before)
        conditions.append(sql.SQL("(created_at, run_id) < (%(created_at)s, %(run_id)s)"))
        params.update(created_at=from_us(created_at_us), run_id=run_id)
    where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    query = sql.SQL(
        "SELECT {columns} FROM runs {where} ORDER BY created_at DESC, run_id DESC LIMIT %(limit)s"
    ).format(columns=sql.SQL(RUN_COLUMNS), where=where)
    async with pool.connection() as conn:
        runs = await fetch_all(conn, RunRecord, query, params)
    if len(runs) <= limit:
        return RunPage(runs, None)
    last = runs[limit - 1]
    return RunPage(runs[:limit], encode_runs_cursor(to_us(last.created_at), last.run_id))


async def update_run_status(
    pool: StorePool,
    run_id: str,
    status: RunStatus | str,
    *,
    temporal_workflow_id: str | None = None,
    temporal_run_id: str | None = None,
    failure: dict[str, Any] | None = None,
    started_at: datetime | None = None,
    completed_at: datetime | None = None,
    closed_by_temporal: bool = False,
    history_length: int | None = None,
    unless_the_workflow_wrote: bool = False,
) -> RunRecord | None:
    """The API's status change (e.g. QUEUED -> RUNNING with the Temporal ids, CANCELLED
    once Temporal accepted the cancel). A run already terminal keeps its status (see
    `settle_status`), unless `closed_by_temporal`: Temporal reports the execution closed
    with this status, which is the truth whatever the projection said (a final
    projection written before Temporal refused the completion, a run terminated from
    Temporal's side). Temporal ids are filled in when the row has none yet (the
    workflow's own writes keep `temporal_run_id` current across continue-as-new).
    `unless_the_workflow_wrote`: the API's RUNNING right after it started the run, which
    may land after the workflow's own first write (QUEUED for a concurrency limit,
    PAUSED): then the workflow's status stands and only the Temporal ids are filled in.
    Returns the row as it is now, or None for an unknown run: compare its status to see
    whether the change applied."""
    async with pool.connection() as conn, conn.transaction():
        state = await lock_run(conn, run_id)
        if state is None:
            return None
        proposed = RunStatus(status)
        if unless_the_workflow_wrote and state.written_by_the_workflow:
            proposed = state.status
        new_status = settle_status(
            state.status, proposed, authoritative=closed_by_temporal and proposed.is_terminal
        )
        changes: dict[str, Any] = {
            "temporal_workflow_id": state.temporal_workflow_id or temporal_workflow_id,
            "temporal_run_id": state.temporal_run_id or temporal_run_id,
        }
        if history_length is not None:
            changes["history_length"] = history_length
        if new_status != state.status:
            changes.update(status_changes(new_status, started_at, completed_at))
            changes["failure"] = failure
        return await update_run(conn, run_id, changes)


class _NowIfNull:
    """Marks a timestamp column to be set to now() only if it is still NULL."""


NOW_IF_NULL: Any = _NowIfNull()


def status_changes(
    status: RunStatus, started_at: datetime | None, completed_at: datetime | None
) -> dict[str, Any]:
    """The columns a move to `status` sets; a missing start or end time is taken as now
    (only when the row has none: `update_run` keeps an existing time for `NOW_IF_NULL`)."""
    changes: dict[str, Any] = {"status": status}
    if status is not RunStatus.QUEUED:
        changes["started_at"] = started_at or NOW_IF_NULL
    if status.is_terminal:
        changes["completed_at"] = completed_at or NOW_IF_NULL
    return changes


async def lock_run(conn: StoreConnection, run_id: str) -> RunState | None:
    """Lock the run's row until the transaction ends (writers of one run take turns);
    None if there is no such run. NO KEY UPDATE leaves inserts that reference the row
    (trace events, waits, child runs) unblocked."""
    return await fetch_one(conn, RunState, LOCK_RUN, (run_id,))


async def update_run(conn: StoreConnection, run_id: str, changes: Mapping[str, Any]) -> RunRecord:
    """Set the given columns (None values are skipped) and `updated_at`; the new row.
    Column names come from `UPDATABLE_COLUMNS` only."""
    query, params = _update_query(run_id, changes, returning=True)
    record = await fetch_one(conn, RunRecord, query, params)
    if record is None:
        raise RunNotFound(run_id)
    return record


async def set_run_columns(conn: StoreConnection, run_id: str, changes: Mapping[str, Any]) -> None:
    """`update_run` without reading the row back (so it can be pipelined)."""
    query, params = _update_query(run_id, changes, returning=False)
    await conn.execute(query, params)


def _update_query(
    run_id: str, changes: Mapping[str, Any], *, returning: bool
) -> tuple[sql.Composed, dict[str, Any]]:
    assignments: list[sql.Composable] = [sql.SQL("updated_at = now()")]
    params: dict[str, Any] = {"run_id": run_id}
    for column, value in changes.items():
        if column not in UPDATABLE_COLUMNS:
            raise ValueError(f"not an updatable run column: {column}")
        if value is None:
            continue
        target = sql.Identifier(column)
        if value is NOW_IF_NULL:
            assignments.append(sql.SQL("{0} = COALESCE({0}, now())").format(target))
            continue
        assignments.append(sql.SQL("{} = {}").format(target, sql.Placeholder(column)))
        params[column] = jsonb(value) if column in JSON_COLUMNS else value
    query = sql.SQL("UPDATE runs SET {} WHERE run_id = %(run_id)s").format(
        sql.SQL(", ").join(assignments)
    )
    if returning:
        query += sql.SQL(" RETURNING {}").format(sql.SQL(RUN_COLUMNS))
    return query, params
