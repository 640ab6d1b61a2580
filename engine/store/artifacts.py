"""Artifacts: files a task produced, kept in PostgreSQL (the embedded default), listed
per run and task and downloaded whole. One artifact per name and execution (or item):
a later attempt's file of the same name replaces the earlier one."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Final

import msgspec
from psycopg import errors

from engine.store._db import StorePool, fetch_all, fetch_one, iso_utc
from engine.store.errors import RunNotFound

# The size cap of one artifact (the migration's CHECK holds the same number).
MAX_ARTIFACT_BYTES: Final = 10 * 1024 * 1024
MAX_ARTIFACT_LISTING: Final = 1000


class NewArtifact(msgspec.Struct, frozen=True, kw_only=True):
    task: str
    execution: int
    attempt: int
    name: str
    media_type: str
    content: bytes
    item: int | None = None


class ArtifactInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An artifact without its content."""

    artifact_id: int
    run_id: str
    task: str
    execution: int
    item: int | None
    attempt: int
    name: str
    media_type: str
    size_bytes: int
    sha256: str
    created_at: datetime


class ArtifactContent(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    media_type: str
    sha256: str
    content: bytes


UPSERT = """
INSERT INTO artifacts
    (run_id, task, execution, item, attempt, name, media_type, size_bytes, sha256, content)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (run_id, execution, (COALESCE(item, -1)), name) DO UPDATE SET
    task = EXCLUDED.task, attempt = EXCLUDED.attempt, media_type = EXCLUDED.media_type,
    size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256, content = EXCLUDED.content,
    created_at = now()
RETURNING artifact_id
"""
_INFO_COLUMNS = """artifact_id, run_id, task, execution, item, attempt, name, media_type,
    size_bytes, sha256, created_at"""
SELECT_LISTING = f"""
SELECT {_INFO_COLUMNS} FROM artifacts
WHERE run_id = %(run_id)s AND (%(task)s::text IS NULL OR task = %(task)s)
ORDER BY artifact_id LIMIT %(limit)s
"""
SELECT_CONTENT = """
SELECT name, media_type, sha256, content FROM artifacts WHERE run_id = %s AND artifact_id = %s
"""


async def put_artifact(pool: StorePool, run_id: str, artifact: NewArtifact) -> int:
    """Store (or replace) an artifact; its id. `ValueError` past the size cap,
    `RunNotFound` without a run."""
    size = len(artifact.content)
    if size > MAX_ARTIFACT_BYTES:
        raise ValueError(f"artifact {artifact.name!r} is {size:,} bytes, over the cap")
    digest = hashlib.sha256(artifact.content).hexdigest()
    try:
        async with pool.connection() as conn, conn.cursor() as cursor:
            await cursor.execute(
                UPSERT,
                (
                    run_id,
                    artifact.task,
                    artifact.execution,
                    artifact.item,
                    artifact.attempt,
                    artifact.name,
                    artifact.media_type,
                    size,
                    digest,
                    artifact.content,
                ),
            )
            row = await cursor.fetchone()
    except errors.ForeignKeyViolation:
        raise RunNotFound(run_id) from None
    assert row is not None
    return int(row[0])


async def list_artifacts(
    pool: StorePool, run_id: str, *, task: str | None = None, limit: int = MAX_ARTIFACT_LISTING
) -> list[ArtifactInfo]:
    """The run's artifacts (of one task if given), oldest first."""
    params = {"run_id": run_id, "task": task, "limit": limit}
    async with pool.connection() as conn:
        return await fetch_all(conn, ArtifactInfo, SELECT_LISTING, params)


async def get_artifact(pool: StorePool, run_id: str, artifact_id: int) -> ArtifactContent | None:
    """One artifact with its content, or None."""
    async with pool.connection() as conn:
        return await fetch_one(conn, ArtifactContent, SELECT_CONTENT, (run_id, artifact_id))


def artifact_json(info: ArtifactInfo) -> dict[str, Any]:
    """An artifact as the HTTP API lists it."""
    shown: dict[str, Any] = {
        "id": str(info.artifact_id),
        "runId": info.run_id,
        "task": info.task,
        "execution": info.execution,
        "attempt": info.attempt,
        "name": info.name,
        "mediaType": info.media_type,
        "sizeBytes": info.size_bytes,
        "sha256": info.sha256,
        "createdAt": iso_utc(info.created_at),
    }
    if info.item is not None:
        shown["item"] = info.item
    return shown
