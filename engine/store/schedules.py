"""The schedule catalog (migration 0007): the desired state of each workflow's Temporal
Schedules. The API writes it and reconciles Temporal to it; Temporal decides when runs
start, the rows only say what should exist."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import msgspec

from engine.store._db import StorePool, fetch_all, fetch_one, jsonb

Origin = Literal["workflow", "api"]

COLUMNS = "workflow_name, name, origin, declared, paused, removing, problem, applied, updated_at"
SELECT_FOR_WORKFLOW = f"SELECT {COLUMNS} FROM schedules WHERE workflow_name = %s ORDER BY name"
SELECT_ALL = f"SELECT {COLUMNS} FROM schedules ORDER BY workflow_name, name"
SELECT_ONE = f"SELECT {COLUMNS} FROM schedules WHERE workflow_name = %s AND name = %s"
# A declaration replaces the row; its `paused` applies only when the declaration changed
# (a pause made through the API survives the registration of an unchanged schedule).
UPSERT = f"""
INSERT INTO schedules (workflow_name, name, origin, declared, paused)
VALUES (%(workflow)s, %(name)s, %(origin)s, %(declared)s, %(paused)s)
ON CONFLICT (workflow_name, name) DO UPDATE SET
    origin = EXCLUDED.origin,
    declared = EXCLUDED.declared,
    paused = CASE WHEN schedules.declared = EXCLUDED.declared AND NOT schedules.removing
                  THEN schedules.paused ELSE EXCLUDED.paused END,
    removing = false,
    updated_at = now()
RETURNING {COLUMNS}
"""
MARK_FILE_SCHEDULES_GONE = """
UPDATE schedules SET removing = true, updated_at = now()
WHERE workflow_name = %s AND origin = 'workflow' AND NOT (name = ANY(%s)) AND NOT removing
"""
MARK_REMOVING = f"""
UPDATE schedules SET removing = true, updated_at = now()
WHERE workflow_name = %s AND name = %s AND NOT removing RETURNING {COLUMNS}
"""
DELETE_REMOVED = "DELETE FROM schedules WHERE workflow_name = %s AND name = %s AND removing"
SET_PAUSED = f"""
UPDATE schedules SET paused = %s, updated_at = now()
WHERE workflow_name = %s AND name = %s AND NOT removing RETURNING {COLUMNS}
"""
SET_OUTCOME = """
UPDATE schedules SET problem = %s, applied = %s WHERE workflow_name = %s AND name = %s
"""


class ScheduleRow(msgspec.Struct, frozen=True):
    """One schedule as the catalog wants it."""

    workflow_name: str
    name: str
    origin: str
    declared: dict[str, Any]  # the schedule's keys as in the file (engine/language/schedules.py)
    paused: bool
    removing: bool
    problem: str | None
    applied: str | None  # the fingerprint of what Temporal was last given
    updated_at: datetime


async def list_schedules(pool: StorePool, workflow: str | None = None) -> list[ScheduleRow]:
    """The rows of one workflow (or all), tombstones included, by name."""
    async with pool.connection() as conn:
        if workflow is None:
            return await fetch_all(conn, ScheduleRow, SELECT_ALL)
        return await fetch_all(conn, ScheduleRow, SELECT_FOR_WORKFLOW, (workflow,))


async def get_schedule(pool: StorePool, workflow: str, name: str) -> ScheduleRow | None:
    async with pool.connection() as conn:
        return await fetch_one(conn, ScheduleRow, SELECT_ONE, (workflow, name))


async def declare_file_schedules(
    pool: StorePool, workflow: str, declared: Mapping[str, dict[str, Any]]
) -> None:
    """The schedules a newly registered version declares replace the file's earlier ones
    (those it no longer declares are marked for removal); API schedules stay."""
    async with pool.connection() as conn, conn.transaction():
        for name, spec in declared.items():
            await conn.execute(UPSERT, _upsert_params(workflow, name, "workflow", spec))
        await conn.execute(MARK_FILE_SCHEDULES_GONE, (workflow, list(declared)))


async def put_schedule(
    pool: StorePool, workflow: str, name: str, declared: dict[str, Any]
) -> ScheduleRow:
    """Create or replace a schedule declared through the API."""
    async with pool.connection() as conn, conn.transaction():
        row = await fetch_one(
            conn, ScheduleRow, UPSERT, _upsert_params(workflow, name, "api", declared)
        )
    assert row is not None
    return row


async def mark_removing(pool: StorePool, workflow: str, name: str) -> ScheduleRow | None:
    async with pool.connection() as conn:
        return await fetch_one(conn, ScheduleRow, MARK_REMOVING, (workflow, name))


async def forget_removed(pool: StorePool, workflow: str, name: str) -> None:
    """Drop a tombstone once Temporal's schedule is gone."""
    async with pool.connection() as conn:
        await conn.execute(DELETE_REMOVED, (workflow, name))


async def set_paused(pool: StorePool, workflow: str, name: str, paused: bool) -> ScheduleRow | None:
    async with pool.connection() as conn:
        return await fetch_one(conn, ScheduleRow, SET_PAUSED, (paused, workflow, name))


async def set_outcome(
    pool: StorePool, workflow: str, name: str, problem: str | None, applied: str | None
) -> None:
    """What the last reconcile found (`problem`) and applied (`applied`, a fingerprint)."""
    async with pool.connection() as conn:
        await conn.execute(SET_OUTCOME, (problem, applied, workflow, name))


def _upsert_params(
    workflow: str, name: str, origin: Origin, declared: dict[str, Any]
) -> dict[str, Any]:
    return {
        "workflow": workflow,
        "name": name,
        "origin": origin,
        "declared": jsonb(declared),
        "paused": bool(declared.get("paused", False)),
    }
