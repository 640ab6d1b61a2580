"""The workflow catalog: immutable versions numbered 1, 2, 3… per name, one per
distinct content hash. The latest version is the one registered (or registered again)
last: `promoted` points at it (migration 0004)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from engine.store._db import StorePool, fetch_all, fetch_one, fetch_value

# Two keys for the advisory lock: this class of lock, and the workflow's name.
_REGISTER_LOCK_CLASS = 0x5E6E

LOCK_NAME = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
VERSION_COLUMNS = "name, version, content_hash, created_at"
SELECT_BY_HASH = f"""
SELECT {VERSION_COLUMNS}, yaml FROM workflow_versions WHERE name = %s AND content_hash = %s
"""
INSERT_NEXT_VERSION = f"""
INSERT INTO workflow_versions (name, version, content_hash, yaml, compiled)
SELECT %(name)s, COALESCE(max(version), 0) + 1, %(content_hash)s, %(yaml)s, %(compiled)s
FROM workflow_versions WHERE name = %(name)s
RETURNING {VERSION_COLUMNS}, yaml, true AS created
"""
# Registering content again brings its compiled form up to this release's (a version
# registered by an older release, or before forms were kept, gets one).
REFRESH_COMPILED = """
UPDATE workflow_versions SET compiled = %(compiled)s
WHERE name = %(name)s AND version = %(version)s AND compiled IS DISTINCT FROM %(compiled)s
"""
SELECT_COMPILED = """
SELECT content_hash, compiled FROM workflow_versions
WHERE name = %s AND version = %s AND compiled IS NOT NULL
"""
SELECT_VERSION = f"""
SELECT {VERSION_COLUMNS}, yaml FROM workflow_versions WHERE name = %s AND version = %s
"""
SELECT_LATEST = f"""
SELECT {VERSION_COLUMNS}, yaml FROM workflow_versions WHERE name = %s
ORDER BY promoted DESC LIMIT 1
"""
SELECT_IS_LATEST = """
SELECT version = (SELECT version FROM workflow_versions WHERE name = %(name)s
                  ORDER BY promoted DESC LIMIT 1)
FROM workflow_versions WHERE name = %(name)s AND version = %(version)s
"""
PROMOTE = """
UPDATE workflow_versions SET promoted = nextval('workflow_promotions')
WHERE name = %(name)s AND version = %(version)s
"""
# All versions in one snapshot, with the text of the latest only.
SELECT_VERSIONS = f"""
SELECT {VERSION_COLUMNS}, CASE WHEN promoted = max(promoted) OVER () THEN yaml END AS yaml
FROM workflow_versions WHERE name = %s ORDER BY version
"""
SELECT_CATALOG = f"""
SELECT DISTINCT ON (name) {VERSION_COLUMNS} FROM workflow_versions
ORDER BY name, promoted DESC
"""


class WorkflowVersionInfo(msgspec.Struct, frozen=True):
    """One version of a workflow, without its text."""

    name: str
    version: int
    content_hash: str
    created_at: datetime


class WorkflowVersion(WorkflowVersionInfo, frozen=True):
    """One version with its YAML; `created` tells whether registering made it."""

    yaml: str
    created: bool = False


class _VersionRow(WorkflowVersionInfo, frozen=True):
    yaml: str | None


class CompiledForm(msgspec.Struct, frozen=True):
    """A version's compiled spec as registration stored it, and the hash of its YAML."""

    content_hash: str
    compiled: bytes


class Workflow(msgspec.Struct, frozen=True):
    """A workflow's latest version and the list of all its versions, oldest first."""

    name: str
    latest: WorkflowVersion
    versions: list[WorkflowVersionInfo]


async def register_workflow_version(
    pool: StorePool, name: str, yaml_text: str, content_hash: str, compiled: bytes | None = None
) -> WorkflowVersion:
    """The version holding this content, made the latest: the existing one (promoted
    again when another version was the latest), or a new one numbered max+1. `compiled`:
    the content's compiled spec in its compact form (engine/language/compact.py), kept
    beside it (replacing an existing version's when given)."""
    async with pool.connection() as conn, conn.transaction():
        # Per-name lock: concurrent registrations of one workflow take turns, so the same
        # new content gets one version and different contents get distinct numbers.
        await conn.execute(LOCK_NAME, (_REGISTER_LOCK_CLASS, name))
        existing = await fetch_one(conn, WorkflowVersion, SELECT_BY_HASH, (name, content_hash))
        if existing is not None:
            key = {"name": name, "version": existing.version}
            if not await fetch_value(conn, SELECT_IS_LATEST, key):
                await conn.execute(PROMOTE, key)
            if compiled is not None:
                await conn.execute(REFRESH_COMPILED, {**key, "compiled": compiled})
            return existing
        params = {
            "name": name,
            "content_hash": content_hash,
            "yaml": yaml_text,
            "compiled": compiled,
        }
        created = await fetch_one(conn, WorkflowVersion, INSERT_NEXT_VERSION, params)
        assert created is not None  # INSERT … SELECT max() always yields one row
        return created


async def get_workflow_version(
    pool: StorePool, name: str, version: int | None = None
) -> WorkflowVersion | None:
    """One version of a workflow (the latest when `version` is None), or None."""
    async with pool.connection() as conn:
        if version is None:
            return await fetch_one(conn, WorkflowVersion, SELECT_LATEST, (name,))
        return await fetch_one(conn, WorkflowVersion, SELECT_VERSION, (name, version))


async def get_compiled_form(pool: StorePool, name: str, version: int) -> CompiledForm | None:
    """A version's stored compiled form, or None (no such version, or none stored)."""
    async with pool.connection() as conn:
        return await fetch_one(conn, CompiledForm, SELECT_COMPILED, (name, version))


async def get_workflow(pool: StorePool, name: str) -> Workflow | None:
    """The workflow's latest version and all its versions, or None if never registered."""
    async with pool.connection() as conn:
        rows = await fetch_all(conn, _VersionRow, SELECT_VERSIONS, (name,))
    if not rows:
        return None
    newest = next(row for row in rows if row.yaml is not None)
    assert newest.yaml is not None
    latest = WorkflowVersion(
        name, newest.version, newest.content_hash, newest.created_at, yaml=newest.yaml
    )
    versions = [
        WorkflowVersionInfo(row.name, row.version, row.content_hash, row.created_at) for row in rows
    ]
    return Workflow(name=name, latest=latest, versions=versions)


async def list_workflows(pool: StorePool) -> list[WorkflowVersionInfo]:
    """The latest version of every registered workflow, by name."""
    async with pool.connection() as conn:
        return await fetch_all(conn, WorkflowVersionInfo, SELECT_CATALOG)
