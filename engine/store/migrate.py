"""Ordered plain-SQL migrations (`migrations/NNNN_name.sql`), each applied in its own
transaction under an advisory lock, so API and worker processes starting together
apply each one exactly once. Applied migrations are recorded in `schema_version` with
a checksum; a shipped migration that changed after it was applied is an error."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import msgspec
from psycopg_pool import AsyncConnectionPool

from engine.store._db import StoreConnection, StorePool, fetch_value
from engine.store.errors import MigrationError

# An arbitrary, fixed advisory-lock key: "segue" spelled as bytes.
MIGRATION_LOCK_KEY = 0x7365677565

_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")

CREATE_SCHEMA_VERSION = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
LOCK = "SELECT pg_advisory_xact_lock(%s)"
APPLIED_CHECKSUM = "SELECT checksum FROM schema_version WHERE version = %s"
RECORD = "INSERT INTO schema_version (version, name, checksum) VALUES (%s, %s, %s)"


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    """The shipped migrations in order; their numbers must run 1, 2, 3… without gaps."""
    folder = resources.files("engine.store").joinpath("migrations")
    migrations = []
    for entry in folder.iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match:
            version, name = int(match[1]), match[2]
            migrations.append(Migration(version, name, entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda migration: migration.version)
    numbers = [migration.version for migration in migrations]
    if numbers != list(range(1, len(numbers) + 1)):
        raise MigrationError(f"migration numbers must run 1..N without gaps, got {numbers}")
    return migrations


async def apply_migrations(target: StoreConnection | StorePool) -> list[int]:
    """Apply every migration not yet applied; returns the versions applied now."""
    if isinstance(target, AsyncConnectionPool):
        async with target.connection() as conn:
            return await _apply_all(conn)
    return await _apply_all(target)


async def _apply_all(conn: StoreConnection) -> list[int]:
    applied = []
    for migration in load_migrations():
        if await _apply_one(conn, migration):
            applied.append(migration.version)
    return applied


async def _apply_one(conn: StoreConnection, migration: Migration) -> bool:
    async with conn.transaction():
        # Held until this transaction ends: concurrent starters queue here, and the
        # one that comes second sees the migration recorded and skips it.
        await conn.execute(LOCK, (MIGRATION_LOCK_KEY,))
        await conn.execute(CREATE_SCHEMA_VERSION)
        checksum = await fetch_value(conn, APPLIED_CHECKSUM, (migration.version,))
        if checksum is not None:
            if checksum != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} changed after it "
                    "was applied; add a new migration instead of editing a shipped one"
                )
            return False
        # Bytes, not str: a file's text is not a literal query, and with no parameters
        # psycopg sends the whole script at once.
        await conn.execute(migration.sql.encode())
        await conn.execute(RECORD, (migration.version, migration.name, migration.checksum))
        return True
