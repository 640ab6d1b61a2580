"""Migrations: applied once, safe when several processes start together."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import psycopg
import pytest

from engine.store import MigrationError, TraceType, apply_migrations, load_migrations
from tests.store.helpers import opened_pool, run
from tests.support.postgres import temporary_database

pytestmark = pytest.mark.postgres

TABLES = {
    "schema_version", "workflow_versions", "runs", "trace_events", "waits", "events", "schedules",
    "webhooks", "webhook_deliveries", "event_rules", "task_log_heads", "task_logs",
    "task_progress", "artifacts", "limit_leases", "claim_checks",
}  # fmt: skip


@pytest.fixture
def fresh_url(postgres_server_url: str) -> Iterator[str]:
    with temporary_database(postgres_server_url) as url:
        yield url


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def _recorded_versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    return [row[0] for row in rows]


def test_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    migrations = load_migrations()
    assert [migration.version for migration in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "initial"


def test_applying_twice_does_nothing_the_second_time(fresh_url: str) -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        async with await psycopg.AsyncConnection.connect(fresh_url) as conn:
            first = await apply_migrations(conn)
            second = await apply_migrations(conn)
        return first, second

    first, second = run(scenario())
    everything = [migration.version for migration in load_migrations()]
    assert first == everything
    assert second == []
    assert _recorded_versions(fresh_url) == everything
    assert _tables(fresh_url) == TABLES


def test_every_trace_type_is_one_the_table_accepts(fresh_url: str) -> None:
    """Migrations that each widen the trace type CHECK must keep what the others added."""

    async def scenario() -> None:
        async with await psycopg.AsyncConnection.connect(fresh_url) as conn:
            await apply_migrations(conn)

    run(scenario())
    with psycopg.connect(fresh_url) as conn:
        row = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'trace_events_type_check'"
        ).fetchone()
    assert row is not None
    accepted = set(re.findall(r"'([A-Z_]+)'", row[0]))
    assert accepted == {member.value for member in TraceType}


def test_concurrent_starters_apply_each_migration_once(fresh_url: str) -> None:
    async def starter() -> list[int]:
        async with await psycopg.AsyncConnection.connect(fresh_url) as conn:
            return await apply_migrations(conn)

    async def scenario() -> list[list[int]]:
        return list(await asyncio.gather(starter(), starter(), starter()))

    results = run(scenario())
    everything = [migration.version for migration in load_migrations()]
    applied = sorted(version for result in results for version in result)
    assert applied == everything  # each migration applied by exactly one starter
    assert _recorded_versions(fresh_url) == everything


def test_open_pool_migrates_and_a_changed_migration_is_refused(fresh_url: str) -> None:
    async def open_and_close() -> None:
        async with opened_pool(fresh_url):
            pass

    run(open_and_close())
    assert _tables(fresh_url) == TABLES
    with psycopg.connect(fresh_url) as conn:
        conn.execute("UPDATE schema_version SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        run(open_and_close())
